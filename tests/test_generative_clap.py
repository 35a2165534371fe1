"""The CLAP score of generated clips (`scoring.clap`): end to end on a tiny randomly initialised ClapModel of
the real architecture saved like a hub checkpoint, checked against CLAP's towers called directly; offline,
a checkpoint that cannot be found stops the run with one line before anything is generated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grounding_eval.audio.io import load_audio
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative import command

TASK = """task: tiny_notes_clap
include: notes_generative.yaml
dataset: {{name: notes, args: {{instruments: [Piano, Flute, Trumpet], notes: [A4, C5], include_recordings: false}}}}
prompts: {{notes: [A4]}}
generator: {{n_samples: 1}}
scoring: {{embedder: {{name: logmel}}, probe_seeds: 1, k: [1, 2], bootstrap_resamples: 200, clap: "{clap}"}}
controls: [shuffled_prompts, silence, split_half]
"""
TONE = ("```python\nimport numpy as np\ndef generate():\n    t = np.arange(16000) / 16000\n"
        "    return 0.5 * np.sin(2 * np.pi * {f} * t), 16000\n```")


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    from tiny_audio_models import save_tiny

    return save_tiny("clap", tmp_path_factory.mktemp("clap") / "tiny-clap")


def _direct_cosines(path: str, wavs: list[str], texts: list[str]) -> np.ndarray:
    """CLAP's own towers called directly: cosine of each clip's audio features with each text's features."""
    import torch
    import transformers as tf

    model = tf.ClapModel.from_pretrained(path).eval()
    tok = tf.AutoTokenizer.from_pretrained(path)
    ext = tf.ClapFeatureExtractor.from_pretrained(path)
    with torch.inference_mode():
        t = model.get_text_features(**tok(texts, padding=True, return_tensors="pt"))
        feats = ext([load_audio(w, 48000) for w in wavs], sampling_rate=48000, return_tensors="pt")
        a = model.get_audio_features(input_features=feats["input_features"], is_longer=feats.get("is_longer"))
    t = getattr(t, "pooler_output", t).double().numpy()
    a = getattr(a, "pooler_output", a).double().numpy()
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return a @ t.T


def test_clap_score_end_to_end_matches_clap_called_directly(tiny_clap, tmp_path):
    (tmp_path / "tiny.yaml").write_text(TASK.format(clap=f"clap:{tiny_clap}"))
    rows = [{"prompt_id": "piano_A4", "sample": 0, "text": TONE.format(f=440)},
            {"prompt_id": "flute_A4", "sample": 0, "text": TONE.format(f=660)},
            {"prompt_id": "trumpet_A4", "sample": 0, "text": "```python\ndef generate(:\n```"}]
    gens = tmp_path / "gens.jsonl"
    gens.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = command.evaluate("replay", "tiny_notes_clap", include_paths=[str(tmp_path)], allow_code_execution=True,
                           load_generations=str(gens), output_path=str(tmp_path / "results.json"),
                           cache_dir=str(tmp_path / "cache" / "embeddings"), show_progress=False)
    res = out["results"]["tiny_notes_clap"]["results"]
    clap = res["systems"]["replay"]["clap"]
    assert clap["valid_only"]["n_clips"] == 2 and clap["failures_as_silence"]["n_clips"] == 3
    ident = out["tasks"]["tiny_notes_clap"]["clap"]
    assert ident["text"]["architecture"] == "ClapModel.get_text_features" and ident["audio"]["embedding"] == "projected"
    assert ident["text"]["weights_sha256"] == ident["audio"]["weights_sha256"]

    # The same numbers from CLAP's towers called directly, on the clips the executor produced.
    info = out["tasks"]["tiny_notes_clap"]
    concepts = [c.split(",")[0].lower() for c in info["concepts"]]
    cache = tmp_path / "cache" / "embeddings" / "executions"
    by_sha = {json.loads(p.read_text()).get("sha256"): p.with_suffix(".wav") for p in cache.rglob("*.json")}
    wavs = [str(by_sha[e["sha256"]]) for e in info["executions"]["replay"] if e["kind"] == "ok"]
    direct = _direct_cosines(tiny_clap, wavs, [f"the sound of {c}" for c in concepts])
    own = [concepts.index("piano"), concepts.index("flute")]
    assert clap["valid_only"]["clap_score"]["mean"] == pytest.approx(np.mean(direct[[0, 1], own]), abs=1e-4)
    ranks = [1 + int((direct[i] > direct[i, own[i]]).sum()) for i in range(2)]
    assert clap["valid_only"]["mrr"]["mean"] == pytest.approx(np.mean([1 / r for r in ranks]), abs=1e-9)
    assert set(res["controls"]["silence"]["clap"]) >= {"clap_score", "accuracy@1", "accuracy@2", "mrr"}
    assert res["controls"]["split_half"]["clap"]["n_clips"] >= 3  # half of the fluidsynth references
    assert "shuffled_prompts" in clap

    import io

    from rich.console import Console

    buf = io.StringIO()
    command.print_results(out, Console(file=buf, width=400))
    assert "CLAP score" in buf.getvalue() and "CLAP accuracy@1 %" in buf.getvalue()


def test_an_unreachable_clap_checkpoint_stops_before_generating(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from grounding_eval.text import hub

    hub.hub_reachable.cache_clear()
    (tmp_path / "tiny.yaml").write_text(TASK.format(clap="laion/clap-htsat-unfused"))
    with pytest.raises(GroundingEvalError) as err:
        command.evaluate("template", "tiny_notes_clap", include_paths=[str(tmp_path)], allow_code_execution=True,
                         cache_dir=str(tmp_path / "cache" / "embeddings"), show_progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "scoring.clap=laion/clap-htsat-unfused" in msg and "hub cannot be reached" in msg
    assert not (tmp_path / "cache" / "embeddings" / "generations").exists() and not (tmp_path / "cache" / "embeddings" / "executions").exists()
