"""The aisfx backbone with its real weights on real recordings (freedesktop and minetest sounds)."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

pytest.importorskip("torch")
if __import__("importlib").util.find_spec("aisfx") is None:
    pytest.skip("aisfx is not installed (pip install --no-deps aisfx==0.1.2)", allow_module_level=True)

from grounding_eval.audio.io import load_audio  # noqa: E402
from grounding_eval.data.base import Instance  # noqa: E402
from grounding_eval.errors import GroundingEvalError  # noqa: E402
from grounding_eval_aisfx import backbone as bb  # noqa: E402
from grounding_eval_aisfx.backbone import AisfxBackbone, front_end, to_blocks  # noqa: E402

FREEDESKTOP = [
    f"/usr/share/sounds/freedesktop/stereo/{n}.oga"
    for n in ("bell", "complete", "camera-shutter", "phone-incoming-call", "alarm-clock-elapsed")
]
MINETEST = sorted(glob.glob("/usr/share/games/minetest/**/sounds/*.ogg", recursive=True))
FILES = [f for f in FREEDESKTOP if os.path.exists(f)] + MINETEST[:3]

pytestmark = pytest.mark.skipif(len(FILES) < 4, reason="needs sound-theme-freedesktop or minetest-data recordings")


def _instances(files: list[str]) -> list[Instance]:
    return [Instance(id=str(i), concept="c", source=f, content_hash=str(i)) for i, f in enumerate(files)]


@pytest.fixture(scope="module")
def model() -> AisfxBackbone:
    return AisfxBackbone(batch_size=4)


@pytest.fixture(scope="module")
def vectors(model: AisfxBackbone) -> np.ndarray:
    return model.embed(_instances(FILES))


def test_shape_and_finite(vectors: np.ndarray):
    assert vectors.shape == (len(FILES), 512) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert (np.abs(vectors).sum(axis=1) > 0).all()


def test_deterministic_across_calls_and_batch_sizes(model: AisfxBackbone, vectors: np.ndarray):
    np.testing.assert_allclose(model.embed(_instances(FILES)), vectors, atol=1e-5, rtol=0)
    for batch_size, per_forward in ((1, 64), (len(FILES), 3)):
        other = AisfxBackbone(batch_size=batch_size, blocks_per_forward=per_forward).embed(_instances(FILES))
        np.testing.assert_allclose(other, vectors, atol=1e-5, rtol=0)


def test_different_sounds_give_different_vectors(vectors: np.ndarray):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ unit.T
    off_diagonal = cos[~np.eye(len(FILES), dtype=bool)]
    assert off_diagonal.max() < 0.9999
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_progress_and_identity(model: AisfxBackbone):
    done: list[int] = []
    model.embed(_instances(FILES[:5]), progress=done.append)
    assert done == [4, 1]
    ident = model.identity()
    assert len(ident["checkpoint_sha256"]) == 64 and ident["aisfx_version"] == "0.1.2"
    assert ident["pooling"] == "mean" and ident["sample_rate"] == 44100
    assert "device" not in ident and "batch_size" not in ident
    assert AisfxBackbone(batch_size=1).cache_key() == model.cache_key()
    assert AisfxBackbone(pooling="max").cache_key() != model.cache_key()


def test_max_pooling_differs_from_mean_on_a_long_clip(model: AisfxBackbone):
    long = max(FILES, key=lambda f: len(load_audio(f, 44100)))
    mean = model.embed(_instances([long]))
    peak = AisfxBackbone(pooling="max").embed(_instances([long]))
    assert peak.shape == (1, 512)
    assert (peak >= mean - 1e-6).all()
    assert not np.allclose(peak, mean, atol=1e-4)  # max pooling really pooled differently


def test_front_end_frames_follow_essentias_frame_cutter():
    for path in FILES:
        wave = load_audio(path, 44100)
        frames = front_end(wave)
        # FrameCutter(startFromZero=false): first frame centred on sample 0, last frame the first whose
        # centre reaches the end, so ceil(n / hop) + 1 frames of 96 bands.
        assert frames.shape == (int(np.ceil(len(wave) / 1024)) + 1, 96)
        assert frames.dtype == np.float32 and np.isfinite(frames).all()
        # log10(1e4 x + 1) of a power is >= 0; peak-normalised sounds land near aisfx's 0..1 training range.
        assert frames.min() >= 0.0 and 0.2 < frames.max() < 1.5


def test_front_end_matches_a_direct_computation_of_one_frame():
    path = FILES[0]
    wave = load_audio(path, 44100).astype(np.float64)
    wave = wave / np.abs(wave).max()
    frames = front_end(wave)
    k = 3  # frame k starts at k*1024 - 1024
    seg = wave[(k - 1) * 1024 : (k - 1) * 1024 + 2048]
    seg = np.pad(seg, (0, 2048 - len(seg)))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2047)  # Essentia's symmetric Hann
    power = np.abs(np.fft.rfft(seg * window)) ** 2
    mel = bb._filterbank() @ power
    expected = np.log10(1e4 * mel + 1) / 9.457798957824707
    np.testing.assert_allclose(frames[k], expected, rtol=1e-5, atol=1e-6)


def test_front_end_matches_essentia():
    essentia_streaming = pytest.importorskip("essentia.streaming")  # in the test extra; CI refuses the skip
    from essentia import Pool, run

    wave = load_audio(FILES[1], 44100)
    wave = wave / np.abs(wave).max()
    pool = Pool()
    source = essentia_streaming.VectorInput(wave.astype(np.float32))
    cutter = essentia_streaming.FrameCutter(frameSize=2048, hopSize=1024)
    window = essentia_streaming.Windowing(type="hann", normalized=False, zeroPadding=0)
    spectrum = essentia_streaming.Spectrum(size=2048)
    bands = essentia_streaming.MelBands(
        inputSize=1025, numberBands=96, sampleRate=44100, lowFrequencyBound=0, highFrequencyBound=22050,
        warpingFormula="htkMel", weighting="warping", normalize="unit_sum", type="power", log=False,
    )
    shift = essentia_streaming.UnaryOperator(type="identity", scale=1e4, shift=1)
    log10 = essentia_streaming.UnaryOperator(type="log10")
    source.data >> cutter.signal
    cutter.frame >> window.frame >> spectrum.frame
    spectrum.spectrum >> bands.spectrum
    bands.bands >> shift.array >> log10.array >> (pool, "mel")
    run(source)
    ours = front_end(wave) * 9.457798957824707
    assert ours.shape == pool["mel"].shape
    np.testing.assert_allclose(ours, pool["mel"], atol=1e-3)


@pytest.mark.parametrize("t", [51, 99, 100, 101, 149, 150, 151, 259, 1000])
def test_blocks_match_aisfx_blocking(t: int):
    from aisfx.preprocessing import blocking  # their reference, to check our reading of it

    frames = np.random.default_rng(t).random((t, 96)).astype(np.float32)
    np.testing.assert_array_equal(to_blocks(frames), blocking(frames, 100, 50, drop_partial_block=True))


def test_short_clip_is_padded_to_one_block():
    frames = np.ones((7, 96), dtype=np.float32)
    blocks = to_blocks(frames)
    assert blocks.shape == (1, 100, 96) and blocks[0, :7].all() and not blocks[0, 7:].any()


def test_options_and_missing_package(monkeypatch):
    with pytest.raises(GroundingEvalError, match="pooling"):
        AisfxBackbone(pool="mean")
    with pytest.raises(GroundingEvalError, match="mean, max"):
        AisfxBackbone(pooling="median")
    monkeypatch.setattr(bb, "_aisfx_dir", lambda: (_ for _ in ()).throw(GroundingEvalError(bb.INSTALL_HINT)))
    bb._cnn_module.cache_clear()
    try:
        with pytest.raises(GroundingEvalError) as info:
            AisfxBackbone()
        assert str(info.value) == "audio backbone 'aisfx' needs the aisfx package: pip install --no-deps aisfx==0.1.2"
    finally:
        bb._cnn_module.cache_clear()


def test_missing_package_detected_without_importing(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(GroundingEvalError, match="pip install --no-deps aisfx==0.1.2"):
        bb._aisfx_dir()


def test_hook_registers_aisfx():
    import grounding_eval_aisfx

    seen: dict[str, tuple] = {}

    def register(name, factory, description="", modality=""):
        seen[name] = (factory, description, modality)

    grounding_eval_aisfx.register_perception_encoders(register)
    factory, description, modality = seen["aisfx"]
    assert modality == "audio" and description
    made = factory(batch_size=2, device="cpu")
    assert isinstance(made, AisfxBackbone) and made.batch_size == 2
