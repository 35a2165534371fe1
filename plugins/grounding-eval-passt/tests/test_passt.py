"""PaSST (the real hear21passt architecture, random weights saved as a local checkpoint) on real recordings,
through our loader and through hear21passt's own HEAR loader (`hear:hear21passt.base`)."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

pytest.importorskip("hear21passt")

from grounding_eval.check_backbone import make_backbone, run_checks  # noqa: E402
from grounding_eval.errors import GroundingEvalError  # noqa: E402

CLIPS = sorted(glob.glob("/usr/share/sounds/freedesktop/stereo/*.oga"))[:2] + \
    sorted(glob.glob("/usr/share/games/minetest/**/sounds/*.ogg", recursive=True))[:1]
pytestmark = pytest.mark.skipif(len(CLIPS) < 3, reason="needs sound-theme-freedesktop and minetest-data")
ARCH = "passt_s_swa_p16_128_ap476"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("GROUNDING_EVAL_PLUGINS", "aisfx,passt,panns")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from grounding_eval import plugins

    plugins.reset()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The real PaSST-S architecture at random init, saved like the published state dict."""
    import torch

    from grounding_eval_passt.backbone import build

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("passt") / "passt-random.pt"
    torch.save(build(ARCH, "all", None).net.state_dict(), path)
    yield str(path)
    path.unlink()  # a few hundred MB: gone when the module ends, not when the session does


def test_passt_from_a_local_checkpoint_embeds_real_recordings(checkpoint, capfd):
    full = make_backbone("passt", {"checkpoint": checkpoint, "embedding": "all", "num_workers": 0})
    checks = {c.name: c for c in run_checks(full, CLIPS)}
    assert all(c.ok for c in checks.values()), checks
    v_all = full.embed(CLIPS)
    assert v_all.shape == (3, 1295)
    emb = make_backbone("passt", {"checkpoint": checkpoint, "num_workers": 0})
    v_emb = emb.embed(CLIPS)
    # embedding=embed is the 768-d part of the 1295-d scene embedding (527 logits first).
    assert v_emb.shape == (3, 768)
    np.testing.assert_allclose(v_emb, v_all[:, 527:], rtol=1e-4, atol=1e-5)
    assert emb.cache_key() != full.cache_key()
    assert emb.identity()["checkpoint_sha256"] == __import__("hashlib").sha256(open(checkpoint, "rb").read()).hexdigest()
    # hear21passt prints the whole model and shapes; none of it reaches the user.
    assert capfd.readouterr().out == ""


def test_passt_offline_without_checkpoint_names_the_file_and_place(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(GroundingEvalError) as exc:
        make_backbone("passt", {})
    msg = str(exc.value)
    assert "\n" not in msg
    assert "passt-s-f128-p16-s10-ap.476-swa.pt" in msg
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "passt-s-f128-p16-s10-ap.476-swa.pt") in msg
    with pytest.raises(GroundingEvalError, match="is not a file"):
        make_backbone("passt", {"checkpoint": str(tmp_path / "missing.pt")})


def test_passt_published_place_is_used_when_the_file_is_there(checkpoint, monkeypatch, tmp_path):
    """With the file where timm would download it, no option is needed (the online path, minus the download)."""
    dest = tmp_path / "torch" / "hub" / "checkpoints"
    dest.mkdir(parents=True)
    os.symlink(checkpoint, dest / "passt-s-f128-p16-s10-ap.476-swa.pt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    bb = make_backbone("passt", {})
    assert bb.checkpoint == dest / "passt-s-f128-p16-s10-ap.476-swa.pt"


def test_hear_module_hear21passt_base_matches_the_passt_backbone(checkpoint, monkeypatch, tmp_path, capfd):
    """`hear:hear21passt.base` runs hear21passt's own load_model (timm's download_cached_file finds the
    checkpoint in $TORCH_HOME) and get_scene_embeddings: the same numbers as our loader, 1295-d."""
    dest = tmp_path / "torch" / "hub" / "checkpoints"
    dest.mkdir(parents=True)
    os.symlink(checkpoint, dest / "passt-s-f128-p16-s10-ap.476-swa.pt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hear = make_backbone("hear:hear21passt.base", {"num_workers": 0})
    assert hear.name == "hear:hear21passt.base" and hear.sample_rate == 32000 and hear.embedding_dim == 1295
    v_hear = hear.embed(CLIPS[:2])
    ours = make_backbone("passt", {"checkpoint": checkpoint, "embedding": "all", "num_workers": 0})
    np.testing.assert_allclose(v_hear, ours.embed(CLIPS[:2]), rtol=1e-4, atol=1e-4)
    assert capfd.readouterr().out == ""


def test_a_clips_vector_equals_its_vector_embedded_alone(checkpoint):
    """10 s windows (here 2 s, to keep the test cheap) batched across clips: forwards are full, yet each
    clip's vector is what it gets alone, and a clip shorter than a window is zero-padded to it."""
    bb = make_backbone("passt", {"checkpoint": checkpoint, "num_workers": 0, "batch_size": 3, "window_seconds": 2})
    clips = CLIPS + CLIPS[:1]  # 6.1 s (4 windows), 1.4 s, 0.08 s, 6.1 s: 10 windows, forwards of 3, 3, 3, 1
    together = bb.embed(clips)
    assert bb.forward_count == 4 and bb.window_count == 10
    alone = np.concatenate([bb.embed([c]) for c in clips])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)
    np.testing.assert_allclose(together[0], together[3], rtol=0, atol=1e-5)
    # The short clip is one zero-padded window: the same as padding it by hand to the window.
    wave = bb.decode(CLIPS[2:3])[0]
    padded = np.zeros(bb.windows().samples, np.float32)
    padded[: len(wave)] = wave
    np.testing.assert_allclose(bb.embed_waveforms([padded]), together[2:3], rtol=0, atol=1e-5)
    assert bb.identity()["window"]["seconds"] == 2.0
    with pytest.raises(GroundingEvalError, match="window_seconds must be <= 10"):
        make_backbone("passt", {"checkpoint": checkpoint, "window_seconds": 12})


def quiet_and_full_scale(rate: int = 32000) -> list[np.ndarray]:
    """A 0.5 s whisper and 2 s of a full-scale ~8 kHz square wave (pre-emphasis doubles it: its power
    spectrum passes fp16's 65504)."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * rate) / rate
    return [(0.01 * rng.standard_normal(rate // 2)).astype(np.float32),
            np.sign(np.sin(2 * np.pi * 7999 * t)).astype(np.float32)]


def test_fp16_runs_the_mel_front_end_in_fp32_and_gives_finite_vectors(checkpoint):
    """Issue 17 item 1: hear21passt guards only its mel matmul, and only on CUDA; under autocast fp16 its
    pre-emphasis and power spectrum ran in fp16 and a loud clip gave NaN. Now the whole front end is fp32."""
    args = {"checkpoint": checkpoint, "num_workers": 0, "window_seconds": 2}
    half = make_backbone("passt", {**args, "dtype": "fp16"})
    v16 = half.embed_waveforms(quiet_and_full_scale())
    v32 = make_backbone("passt", {**args, "dtype": "fp32"}).embed_waveforms(quiet_and_full_scale())
    assert np.isfinite(v16).all()
    cos = (v16 * v32).sum(1) / np.linalg.norm(v16, axis=1) / np.linalg.norm(v32, axis=1)
    assert (cos > 0.99).all(), cos
    assert half.precision_identity() == {"dtype": "fp16", "front_end_dtype": "fp32"}
