"""Transformers audio backbones (tiny random models of the real architectures, saved locally), the
HEAR prefix, CLAP's text tower and zero-shot reference, the shared pipeline, check-backbone, cache ls/rm."""

from __future__ import annotations

import glob

import numpy as np
import pytest
from tiny_audio_models import save_tiny

from grounding_eval import cli
from grounding_eval.audio.pipeline import Decoder, decoded_batches, default_num_workers
from grounding_eval.audio.windows import Windows, windowed_vectors
from grounding_eval.check_backbone import make_backbone, run_checks
from grounding_eval.devices import resolve_dtype
from grounding_eval.errors import GroundingEvalError

FREEDESKTOP = sorted(glob.glob("/usr/share/sounds/freedesktop/stereo/*.oga"))
MINETEST = sorted(glob.glob("/usr/share/games/minetest/**/sounds/*.ogg", recursive=True))
CLIPS = FREEDESKTOP[:2] + MINETEST[:1]
pytestmark = pytest.mark.skipif(len(CLIPS) < 3, reason="needs sound-theme-freedesktop and minetest-data")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-audio")
    return {f: save_tiny(f, root / f) for f in ("ast", "clap", "wav2vec2", "hubert", "whisper")}


# --- transformers families: built through the registry, loaded from local folders, on real clips ---


@pytest.mark.parametrize("family,options,dim", [
    ("ast", {}, 32), ("ast", {"embedding": "logits"}, 5),
    ("clap", {}, 16), ("clap", {"embedding": "pooled"}, 32),
    ("wav2vec2", {"pooling": "mean+max"}, 64), ("hubert", {"layer": 1}, 32), ("whisper", {}, 32),
])
def test_transformers_backbone_embeds_real_recordings(tiny, family, options, dim):
    bb = make_backbone(family, {"model": tiny[family], "num_workers": 0, **options})
    assert bb.embedding_dim == dim
    checks = {c.name: c for c in run_checks(bb, CLIPS)}
    assert all(c.ok for c in checks.values()), checks
    ident = bb.identity()
    assert ident["source"] == "local-dir" and len(ident["weights_sha256"]) == 64
    assert ident["sample_rate"] == {"clap": 48000}.get(family, 16000)


def test_layer_choice_changes_vectors_and_cache_key(tiny):
    a = make_backbone("wav2vec2", {"model": tiny["wav2vec2"], "layer": 0, "num_workers": 0})
    b = make_backbone("wav2vec2", {"model": tiny["wav2vec2"], "layer": -1, "num_workers": 0})
    assert a.cache_key() != b.cache_key()
    assert not np.allclose(a.embed(CLIPS[:1]), b.embed(CLIPS[:1]))


def test_unknown_options_and_missing_model_are_one_line(tiny, tmp_path):
    with pytest.raises(GroundingEvalError, match="unknown embedding 'cls'; valid: pooled, logits"):
        make_backbone("ast", {"model": tiny["ast"], "embedding": "cls"})
    with pytest.raises(GroundingEvalError) as exc:
        make_backbone("ast", {"model": str(tmp_path / "nope")})
    assert "\n" not in str(exc.value) and "model=" in str(exc.value)
    with pytest.raises(GroundingEvalError, match="no such directory|not in the local Hugging Face cache"):
        make_backbone("whisper", {"model": "openai/whisper-base-not-cached"})


# --- CLAP's text tower and the zero-shot reference -----------------------------------------------


def test_clap_text_encoder_and_zero_shot_reference_end_to_end(tiny, tmp_path, quick_tasks):
    from grounding_eval.kinds.probe.runner import evaluate

    res = evaluate(f"clap:{tiny['clap']}", "quick_freedesktop", audio_backbone="clap",
                   backbone_args={"model": tiny["clap"], "num_workers": 0}, include_paths=[quick_tasks],
                   show_progress=False, output_path=str(tmp_path / "r.json"))
    r = res["results"]["quick_freedesktop"]
    assert res["model"]["kind"] == "clap" and res["model"]["identity"]["architecture"] == "ClapModel.get_text_features"
    zs = r["controls"]["clap_zero_shot"]
    assert zs["accuracy@3"]["n"] == 2 and 0.0 <= zs["accuracy@3"]["mean"] <= 1.0
    from grounding_eval.results import load_results

    load_results(str(tmp_path / "r.json"))  # the extra control entry fits the results schema
    # Not a CLAP pair (another backbone): no reference.
    res2 = evaluate(f"clap:{tiny['clap']}", "quick_freedesktop", include_paths=[quick_tasks], show_progress=False)
    assert "clap_zero_shot" not in res2["results"]["quick_freedesktop"]["controls"]


def test_clap_text_encoder_refuses_a_model_that_is_not_clap(tiny):
    """ClapModel.from_pretrained would load any folder with random CLAP weights and no error."""
    from grounding_eval.text.clap import ClapTextEncoder

    with pytest.raises(GroundingEvalError, match="a 'wav2vec2' model, not a CLAP checkpoint"):
        ClapTextEncoder(tiny["wav2vec2"])


def test_zero_shot_reference_is_cosine_retrieval():
    from grounding_eval.kinds.probe.reference import zero_shot
    from grounding_eval.metrics import accuracy_at_k

    text = np.eye(4, dtype=np.float32)
    text[3] = [0.6, 0.0, 0.0, 0.8]
    text[0] = [10.0, 0.0, 0.0, 1.0]  # long: a dot product would send the clips of concept 3 to concept 0
    audio = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 3]] * 5  # every clip points at its own concept
    y = np.array([0, 1, 2, 3, 3])
    out = zero_shot(text, audio, y, num_runs=3, seed=0, train_fraction=0.5,
                    metric_fns=[lambda s, t: accuracy_at_k(s, t, k=[1])])
    assert out["accuracy@1"]["mean"] == 1.0 and out["accuracy@1"]["n"] == 3
    out = zero_shot(text, audio[:, ::-1].copy(), y, num_runs=3, seed=0, train_fraction=0.5,
                    metric_fns=[lambda s, t: accuracy_at_k(s, t, k=[1])])
    assert out["accuracy@1"]["mean"] < 1.0


# --- the shared pipeline ------------------------------------------------------------------------


def test_worker_decoding_gives_the_same_waveforms_in_order():
    dec = Decoder(16000, 2.0, 0.0, "center")
    clips = CLIPS * 2
    serial = [w for b in decoded_batches(clips, dec, 2, 0) for w in b]
    parallel = [w for b in decoded_batches(clips, dec, 2, 2) for w in b]
    assert len(serial) == len(parallel) == len(clips)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_dtype_policy():
    assert resolve_dtype("auto", ["cpu"]) == "fp32" and resolve_dtype("bf16", ["cpu"]) == "bf16"
    with pytest.raises(GroundingEvalError, match="valid: auto, fp32, fp16, bf16"):
        resolve_dtype("fp8", ["cpu"])


def test_windows_cut_policy():
    w = Windows(10, 1, "zero-padded at the end")
    wave = np.arange(25, dtype=np.float32)
    assert [len(x) for x in w.cut(wave[:3])] == [3] and [len(x) for x in w.cut(wave[:10])] == [10]
    # Longer: ceil(25 / 10) = 3 full windows at 0, 10 and the last ending at the clip's end (15).
    assert [x[0] for x in w.cut(wave)] == [0, 10, 15] and all(len(x) == 10 for x in w.cut(wave))
    assert [x[0] for x in w.cut(wave[:20])] == [0, 10]


def test_windowed_vectors_fill_every_forward_and_pool_per_clip_in_order():
    w = Windows(4, 1, "zero-padded at the end")
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (3, 9, 1, 4, 13, 2, 5)]
    sizes: list[int] = []

    def run(segments):  # a window's "vector": its sum and its length, independent of its neighbours
        sizes.append(len(segments))
        return np.array([[s.sum(), len(s)] for s in segments], dtype=np.float32)

    out = np.stack(list(windowed_vectors(iter(clips), w, run, 3)))
    n_windows = sum(len(w.cut(c)) for c in clips)  # 1 + 3 + 1 + 1 + 4 + 1 + 2 = 13
    assert n_windows == 13 and sizes == [3, 3, 3, 3, 1]  # full forwards across clip boundaries
    expected = np.stack([np.mean([[s.sum(), len(s)] for s in w.cut(c)], axis=0) for c in clips])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_workers_scale_with_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(32)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_num_workers() == 31  # not capped: a GPU's forward outruns many decoding cores
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert default_num_workers() == 3  # 8 data-parallel processes share the node's 32 cores
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})
    assert default_num_workers() == 0


@pytest.mark.parametrize("family,options", [
    ("ast", {}),  # the tiny AST's window is 100 frames (1.03 s): the 6 s clip is 6 windows
    ("clap", {"window_seconds": 1.5}), ("wav2vec2", {"window_seconds": 1.0}),
    ("hubert", {"window_seconds": 1.0, "pooling": "mean+max"}), ("whisper", {"window_seconds": 2.0}),
])
def test_a_clips_vector_equals_its_vector_embedded_alone(tiny, family, options):
    bb = make_backbone(family, {"model": tiny[family], "num_workers": 0, "batch_size": 4, **options})
    clips = CLIPS + CLIPS[::-1]  # 6.1 s, 1.4 s, 0.08 s, ...: windows of one clip straddle two forwards
    together = bb.embed(clips)
    n_windows = sum(len(bb.windows().cut(w)) for w in bb.decode(clips))
    assert bb.forward_count == -(-n_windows // 4) and n_windows > len(clips)  # every forward but the last is full
    alone = np.concatenate([bb.embed([c]) for c in clips])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)
    assert not np.allclose(together[0], together[1])
    assert bb.identity()["window"]["samples"] == bb.windows().samples


def test_window_longer_than_the_models_input_is_one_line(tiny):
    with pytest.raises(GroundingEvalError, match="window_seconds must be <= 30"):
        make_backbone("whisper", {"model": tiny["whisper"], "window_seconds": 40})
    a = make_backbone("wav2vec2", {"model": tiny["wav2vec2"], "window_seconds": 1.0})
    b = make_backbone("wav2vec2", {"model": tiny["wav2vec2"], "window_seconds": 2.0})
    assert a.cache_key() != b.cache_key()


def test_bf16_autocast_changes_identity_and_stays_close(tiny):
    a = make_backbone("hubert", {"model": tiny["hubert"], "num_workers": 0})
    b = make_backbone("hubert", {"model": tiny["hubert"], "num_workers": 0, "dtype": "bf16"})
    assert a.cache_key() != b.cache_key() and b.identity()["dtype"] == "bf16"
    va, vb = a.embed(CLIPS[:1]), b.embed(CLIPS[:1])
    assert np.isfinite(vb).all() and np.corrcoef(va[0], vb[0])[0, 1] > 0.95


@pytest.mark.parametrize("name", ["logmel", "aisfx"])
def test_logmel_and_aisfx_pass_check_backbone(name, capsys):
    if name == "aisfx" and __import__("importlib").util.find_spec("aisfx") is None:
        pytest.skip("aisfx is not installed")
    assert cli.run(["check-backbone", name, "--n-real", "3"]) == 0
    out = capsys.readouterr().out
    assert "batch-invariant" in out and "FAIL" not in out


def test_check_backbone_fails_a_nondeterministic_backbone(capsys):
    from grounding_eval.audio.logmel import LogMelBackbone

    class Noisy(LogMelBackbone):
        def embed_waveforms(self, waves):
            return super().embed_waveforms(waves) + np.random.default_rng().normal(size=(len(waves), 128))

    checks = {c.name: c.ok for c in run_checks(Noisy(num_workers=0), CLIPS)}
    assert checks["shape"] and checks["finite"] and not checks["deterministic"]


def test_hear_prefix_with_a_missing_module_is_one_line():
    with pytest.raises(GroundingEvalError, match="cannot import HEAR module 'no_such_hear_module'"):
        make_backbone("hear:no_such_hear_module", {})
    with pytest.raises(GroundingEvalError, match="does not follow the HEAR API"):
        make_backbone("hear:json", {})


# --- cache ls / rm ------------------------------------------------------------------------------


def test_cache_ls_and_rm(tmp_path, capsys, quick_tasks):
    from grounding_eval.kinds.probe.runner import evaluate

    cache = str(tmp_path / "c")
    evaluate("sentence-transformers/all-MiniLM-L6-v2", "quick_freedesktop", include_paths=[quick_tasks],
             cache_dir=cache, show_progress=False)
    assert cli.run(["cache", "ls", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    assert "perception: logmel" in out and "text: sentence-transformers/all-MiniLM-L6-v2" in out
    assert "2 configurations" in out
    assert cli.run(["cache", "rm", "logmel", "--cache-dir", cache]) == 0
    assert "removed" in capsys.readouterr().out
    cli.run(["cache", "ls", "--cache-dir", cache])
    out = capsys.readouterr().out
    assert "logmel" not in out and "1 configurations" in out
    for argv in (["cache", "rm", "nothing-like-this", "--cache-dir", cache], ["cache", "frobnicate"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "valid: ls, rm, export, import" in err


def test_cache_ls_names_the_folders_cache_rm_leaves(tmp_path, capsys, monkeypatch):
    """`cache rm --all` removes encoder configurations only; `cache ls` shows what else takes disk, with sizes."""
    home = tmp_path / "home"
    (home / "models" / "gguf").mkdir(parents=True)
    (home / "models" / "gguf" / "w.bin").write_bytes(b"\0" * 2_500_000)
    (home / "embeddings" / "probe-runs" / "k").mkdir(parents=True)
    (home / "embeddings" / "probe-runs" / "k" / "run-0.npz").write_bytes(b"\0" * 40_000)
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(home))
    monkeypatch.setenv("COLUMNS", "250")
    assert cli.run(["cache", "ls"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3}
    assert rows == {str(home / "embeddings" / "probe-runs"): "0.04", str(home / "models"): "2.50"}
    # With --cache-dir everything lives inside it: its siblings are not the cache's.
    assert cli.run(["cache", "ls", "--cache-dir", str(home / "embeddings")]) == 0
    out = capsys.readouterr().out
    assert "probe-runs" in out and str(home / "models") not in out
    with pytest.raises(SystemExit):
        cli.main(["cache", "rm", "--all"])  # nothing to remove: one line, and the other folders stay
    assert (home / "models" / "gguf" / "w.bin").is_file() and (home / "embeddings" / "probe-runs" / "k").is_dir()


def test_wav_flac_ogg_mp3_all_decode_through_a_backbone(tmp_path):
    """One real recording in the four formats: lossless copies give the ogg's vector, mp3 a close one."""
    import soundfile as sf

    from grounding_eval.audio.io import load_audio
    from grounding_eval.audio.logmel import LogMelBackbone

    rate = sf.info(CLIPS[0]).samplerate
    wave = load_audio(CLIPS[0], rate)  # mono at the file's own rate: no resampling yet
    paths = {"ogg": CLIPS[0]}
    for fmt, kw in (("wav", {"subtype": "FLOAT"}), ("flac", {}), ("mp3", {"format": "MP3"})):
        paths[fmt] = str(tmp_path / f"clip.{fmt}")
        sf.write(paths[fmt], wave, rate, **kw)
    bb = LogMelBackbone(num_workers=0)
    vecs = dict(zip(paths, bb.embed(list(paths.values()))))
    np.testing.assert_allclose(vecs["wav"], vecs["ogg"], rtol=1e-4, atol=1e-4)
    assert np.corrcoef(vecs["flac"], vecs["ogg"])[0, 1] > 0.999
    assert np.corrcoef(vecs["mp3"], vecs["ogg"])[0, 1] > 0.99
