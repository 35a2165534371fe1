"""PANNs CNN14 (the real panns-inference architecture, random weights saved as a local checkpoint) on real
recordings; panns-inference's import-time download and checkpoint overwrite never happen."""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torchlibrosa")

from grounding_eval.check_backbone import make_backbone, run_checks  # noqa: E402
from grounding_eval.errors import GroundingEvalError  # noqa: E402

CLIPS = sorted(glob.glob("/usr/share/sounds/freedesktop/stereo/*.oga"))[:2] + \
    sorted(glob.glob("/usr/share/games/minetest/**/sounds/*.ogg", recursive=True))[:1]
pytestmark = pytest.mark.skipif(len(CLIPS) < 3, reason="needs sound-theme-freedesktop and minetest-data")


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("GROUNDING_EVAL_PLUGINS", "aisfx,passt,panns")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # where panns-inference would write ~/panns_data
    from grounding_eval import plugins

    plugins.reset()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """CNN14 at random init, saved like the published file ({'model': state_dict}), far below 3e8 bytes."""
    import torch

    from grounding_eval_panns.backbone import build_cnn14

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("panns") / "cnn14-random.pth"
    torch.save({"model": build_cnn14().state_dict()}, path)
    yield str(path)
    path.unlink()  # a few hundred MB: gone when the module ends, not when the session does


def test_cnn14_from_a_local_checkpoint_embeds_real_recordings(checkpoint, tmp_path):
    before = Path(checkpoint).read_bytes()
    bb = make_backbone("panns", {"checkpoint": checkpoint, "num_workers": 0})
    checks = {c.name: c for c in run_checks(bb, CLIPS)}
    assert all(c.ok for c in checks.values()), checks
    v = bb.embed(CLIPS)
    assert v.shape == (3, 2048) and (v >= 0).all()  # CNN14's embedding is a ReLU output
    logits = make_backbone("panns", {"checkpoint": checkpoint, "embedding": "logits", "num_workers": 0}).embed(CLIPS)
    assert logits.shape == (3, 527) and ((logits >= 0) & (logits <= 1)).all()  # sigmoid clipwise output
    # The small checkpoint was read, not replaced; nothing was fetched into ~/panns_data; the package's
    # __init__ (whose config.py downloads the labels) never ran.
    assert Path(checkpoint).read_bytes() == before
    assert not (tmp_path / "home" / "panns_data").exists()
    assert "panns_inference.config" not in sys.modules


def test_cnn14_loads_through_panns_inference_s_own_class(checkpoint):
    """Our vectors are panns-inference's Cnn14 forward with the checkpoint's weights, on the clip zero-padded
    to its 10 s window (as CNN14's AudioSet training pads short clips)."""
    import torch

    from grounding_eval.audio.io import load_audio
    from grounding_eval_panns.backbone import build_cnn14

    model = build_cnn14(torch.load(checkpoint, weights_only=True)).eval()
    wave = load_audio(CLIPS[2], 32000, min_seconds=10.0)
    with torch.inference_mode():
        ref = model(torch.from_numpy(wave)[None])["embedding"].numpy()
    got = make_backbone("panns", {"checkpoint": checkpoint, "num_workers": 0}).embed(CLIPS[2:])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_cnn14_offline_without_checkpoint_names_the_file_and_place(tmp_path):
    with pytest.raises(GroundingEvalError) as exc:
        make_backbone("panns", {})
    msg = str(exc.value)
    assert "\n" not in msg and "Cnn14_mAP=0.431.pth" in msg
    assert str(tmp_path / "home" / "panns_data" / "Cnn14_mAP=0.431.pth") in msg and "checkpoint=PATH" in msg


def test_a_file_that_is_not_a_cnn14_checkpoint_is_one_line(tmp_path):
    """Random bytes, or a torch file of other weights: named, not an unpickling/state-dict traceback."""
    import torch

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint" * 64)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    for path in (junk, other):
        backbone = make_backbone("panns", {"checkpoint": str(path)})
        with pytest.raises(GroundingEvalError, match=f"checkpoint {path} is not a panns checkpoint"):
            backbone.load()


def test_a_clips_vector_equals_its_vector_embedded_alone(checkpoint):
    """10 s windows (here 1.5 s, to keep the test cheap) batched across clips: forwards are full, yet each
    clip's vector is the mean of its windows' vectors, as when it is embedded alone."""
    bb = make_backbone("panns", {"checkpoint": checkpoint, "num_workers": 0, "batch_size": 3, "window_seconds": 1.5})
    clips = CLIPS + CLIPS[:1]  # 6.1 s (5 windows), 1.4 s, 0.08 s, 6.1 s: 12 windows, 4 full forwards
    together = bb.embed(clips)
    assert bb.forward_count == 4 and bb.window_count == 12
    alone = np.concatenate([bb.embed([c]) for c in clips])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)
    # The long clip's vector is the mean over its windows, the last one ending at the clip's end.
    wave = bb.decode(CLIPS[:1])[0]
    w = bb.windows().samples
    starts = [0, w, 2 * w, 3 * w, len(wave) - w]
    per_window = bb.embed_waveforms([wave[s : s + w] for s in starts])
    np.testing.assert_allclose(together[0], per_window.mean(axis=0), rtol=0, atol=1e-5)
    with pytest.raises(GroundingEvalError, match="window_seconds must be >= 1"):
        make_backbone("panns", {"checkpoint": checkpoint, "window_seconds": 0.5})


def quiet_and_full_scale(rate: int = 32000) -> list[np.ndarray]:
    """A 0.5 s whisper (zero-padded: mel energies under fp16's smallest value) and 2 s of a full-scale ~8 kHz
    square wave (a power-spectrum bin past fp16's 65504, even after PaSST's pre-emphasis)."""
    rng = np.random.default_rng(0)
    quiet = (0.01 * rng.standard_normal(rate // 2)).astype(np.float32)
    t = np.arange(2 * rate) / rate
    return [quiet, np.sign(np.sin(2 * np.pi * 7999 * t)).astype(np.float32)]


def test_fp16_runs_the_front_end_in_fp32_and_gives_finite_vectors(checkpoint):
    """Issue 17 item 1: under autocast fp16 (CPU here) the log-mel front end stays fp32, so a quiet and a
    full-scale clip give finite vectors (before: -inf and inf from the fp16 spectrogram, NaN vectors)."""
    args = {"checkpoint": checkpoint, "num_workers": 0, "window_seconds": 2}
    half = make_backbone("panns", {**args, "dtype": "fp16"})
    full = make_backbone("panns", {**args, "dtype": "fp32"})
    v16, v32 = half.embed_waveforms(quiet_and_full_scale()), full.embed_waveforms(quiet_and_full_scale())
    assert np.isfinite(v16).all()
    cos = (v16 * v32).sum(1) / np.linalg.norm(v16, axis=1) / np.linalg.norm(v32, axis=1)
    assert (cos > 0.99).all(), cos
    # The fp32 front end is in half precision's identity; fp32's identity (CPU cache keys) is as before.
    assert half.precision_identity() == {"dtype": "fp16", "front_end_dtype": "fp32"}
    assert full.precision_identity() == {"dtype": "fp32"}
    from grounding_eval_panns.backbone import build_cnn14

    assert list(half.module().state_dict()) == list(build_cnn14().state_dict())  # the fp32 wrap renames nothing


def test_an_fp16_overflow_past_the_front_end_is_one_line_naming_backbone_and_dtype(checkpoint, tmp_path):
    """A CNN14 whose fc1 overflows fp16 (weights x 1e6: past 65504 once cast): one line naming the backbone, dtype=fp16 and the way
    out, also through the cache (before: NaN vectors, and the cache's bare RuntimeError)."""
    import soundfile as sf

    from grounding_eval.cache import EmbeddingCache

    bb = make_backbone("panns", {"checkpoint": checkpoint, "num_workers": 0, "window_seconds": 2, "dtype": "fp16"})
    bb.module().fc1.weight.data.mul_(1e6)
    with pytest.raises(GroundingEvalError) as exc:
        bb.embed_waveforms(quiet_and_full_scale())
    msg = str(exc.value)
    assert "\n" not in msg and "'panns'" in msg and "dtype=fp16" in msg and "--backbone-args dtype=fp32" in msg, msg
    wav = tmp_path / "quiet.wav"
    sf.write(wav, quiet_and_full_scale()[0], 32000, subtype="FLOAT")
    with pytest.raises(GroundingEvalError, match="dtype=fp16"):
        EmbeddingCache(tmp_path / "cache").embed(bb.cache_key(), bb.identity(), ["k"], [str(wav)],
                                                 lambda p, _: bb.embed(p), batch_size=1)
