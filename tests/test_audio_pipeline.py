"""The shared audio pipeline: decoding real recordings, resampling, crop/pad, mel filters, the log-mel baseline."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import soundfile as sf

from grounding_eval.audio.io import AudioDecodeError, is_silent, load_audio
from grounding_eval.audio.logmel import LogMelBackbone
from grounding_eval.audio.torch_backbone import TorchAudioBackbone
from grounding_eval.audio.windows import Windows
from grounding_eval.audio.mel import essentia_frame_count, frame_signal, hz_to_mel, mel_filterbank, mel_to_hz
from grounding_eval.data.base import Instance
from grounding_eval.errors import GroundingEvalError

FREEDESKTOP = sorted(glob.glob("/usr/share/sounds/freedesktop/stereo/*.oga"))
MINETEST = sorted(glob.glob("/usr/share/games/minetest/**/sounds/*.ogg", recursive=True))

needs_freedesktop = pytest.mark.skipif(not FREEDESKTOP, reason="sound-theme-freedesktop is not installed")
needs_minetest = pytest.mark.skipif(not MINETEST, reason="minetest-data is not installed")


def _oga(name: str) -> str:
    path = f"/usr/share/sounds/freedesktop/stereo/{name}.oga"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    return path


def _peak_hz(wave: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1.0 / rate)[np.argmax(spec)])


# --- decoding real recordings ---------------------------------------------------------------------


@needs_freedesktop
def test_load_real_oga_is_mono_float32_at_the_requested_rate():
    path = _oga("phone-incoming-call")
    info = sf.info(path)
    for rate in (16000, 44100):
        wave = load_audio(path, rate)
        assert wave.ndim == 1 and wave.dtype == np.float32
        assert np.isfinite(wave).all() and not is_silent(wave)
        # Resampling keeps the duration to within a sample.
        assert abs(len(wave) - info.frames * rate / info.samplerate) <= 1


@needs_minetest
def test_load_real_ogg_from_minetest():
    wave = load_audio(MINETEST[0], 16000)
    assert wave.ndim == 1 and wave.dtype == np.float32 and len(wave) > 0


@needs_freedesktop
def test_crop_center_start_and_pad_lengths():
    path = _oga("phone-incoming-call")  # about 1.5 s
    full = load_audio(path, 16000)
    start = load_audio(path, 16000, max_seconds=0.5, crop="start")
    centre = load_audio(path, 16000, max_seconds=0.5, crop="center")
    assert len(start) == len(centre) == 8000
    np.testing.assert_array_equal(start, full[:8000])
    offset = (len(full) - 8000) // 2
    np.testing.assert_array_equal(centre, full[offset : offset + 8000])

    padded = load_audio(path, 16000, min_seconds=len(full) / 16000 + 1.0)
    assert len(padded) == len(full) + 16000
    np.testing.assert_array_equal(padded[: len(full)], full)
    assert not padded[len(full) :].any()  # zeros at the end


def test_unknown_crop_is_a_one_line_error(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(GroundingEvalError, match="center, start"):
        load_audio(path, 16000, max_seconds=0.05, crop="middle")  # type: ignore[arg-type]


# --- generated wav / flac, resampling ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_resampling_48k_to_16k_keeps_a_1khz_sine(tmp_path, fmt):
    rate = 48000
    t = np.arange(rate) / rate
    sine = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    stereo = np.stack([sine, sine], axis=1)  # stereo on disk: load_audio must mix it down
    path = tmp_path / f"sine.{fmt}"
    sf.write(path, stereo, rate)
    wave = load_audio(path, 16000)
    assert wave.shape == (16000,)
    assert abs(_peak_hz(wave, 16000) - 1000.0) <= 1.0
    # A real low-pass resampler keeps the amplitude (naive decimation/interpolation would not reliably).
    assert 0.45 < np.max(np.abs(wave[1000:-1000])) < 0.55


def test_resampling_removes_content_above_the_new_nyquist(tmp_path):
    rate = 48000
    t = np.arange(rate) / rate
    path = tmp_path / "high.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 12000.0 * t), rate)  # above 8 kHz: must not alias to 4 kHz
    wave = load_audio(path, 16000)
    assert np.max(np.abs(wave[1000:-1000])) < 0.01


def test_resampling_is_flat_up_to_and_rejects_just_above_the_new_nyquist(tmp_path):
    # 7.2 kHz (0.9 of the new Nyquist) keeps its level within 0.05 dB; 8.4 kHz (1.05) is gone (< -100 dB).
    # scipy's resample_poly, the resampler before soxr, gave -0.66 dB and -12 dB here.
    rate = 48000
    t = np.arange(rate) / rate
    for hz, check in ((7200.0, lambda a: abs(20 * np.log10(a / 0.5)) < 0.05), (8400.0, lambda a: a < 0.5e-5)):
        path = tmp_path / f"tone{int(hz)}.wav"
        sf.write(path, 0.5 * np.sin(2 * np.pi * hz * t), rate, subtype="FLOAT")
        wave = load_audio(path, 16000)[2000:-2000]
        assert check(np.sqrt(2) * wave.std()), (hz, np.sqrt(2) * wave.std())


# --- errors -----------------------------------------------------------------------------------------


def test_corrupt_file_raises_naming_the_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioDecodeError) as info:
        load_audio(path, 16000)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(info.value, GroundingEvalError)


def test_empty_file_raises_naming_the_file(tmp_path):
    path = tmp_path / "empty.ogg"
    path.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty") as info:
        load_audio(path, 16000)
    assert str(path) in str(info.value)


def test_wav_without_samples_and_missing_file_raise(tmp_path):
    path = tmp_path / "nothing.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioDecodeError, match="no samples"):
        load_audio(path, 16000)
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path / "absent.wav", 16000)


def test_is_silent():
    assert is_silent(np.zeros(100, dtype=np.float32))
    assert is_silent(np.full(100, 1e-4, dtype=np.float32))  # -80 dBFS
    assert not is_silent(np.full(100, 1e-2, dtype=np.float32))  # -40 dBFS


# --- mel --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["htk", "slaney"])
@pytest.mark.parametrize("weighting", ["mel", "hz"])
def test_unit_sum_rows_sum_to_one_and_unit_max_peaks_at_one(scale, weighting):
    fb = mel_filterbank(16000, 512, 64, scale=scale, weighting=weighting, norm="unit_sum")
    assert fb.shape == (64, 257) and (fb >= 0).all()
    np.testing.assert_allclose(fb.sum(axis=1), 1.0, atol=1e-12)
    fb_max = mel_filterbank(44100, 2048, 96, scale=scale, weighting=weighting, norm="unit_max")
    assert fb_max.max(axis=1).max() <= 1.0 + 1e-12 and fb_max.max(axis=1).min() > 0.5
    # Centres increase band by band.
    assert (np.diff(np.argmax(fb_max, axis=1)) >= 0).all()


def test_mel_scales_round_trip_and_anchor_points():
    hz = np.array([0.0, 500.0, 1000.0, 4000.0, 22050.0])
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz, scale), scale), hz, rtol=1e-10, atol=1e-9)
    assert float(hz_to_mel(1000.0, "htk")) == pytest.approx(1000.0, abs=0.1)  # HTK: 1 kHz is ~1000 mel
    assert float(hz_to_mel(1000.0, "slaney")) == pytest.approx(15.0)  # Slaney: linear 200/3 Hz per mel below 1 kHz


def test_framing_counts():
    x = np.arange(10.0)
    assert frame_signal(x, 4, 2, "valid").shape == (4, 4)
    frames = frame_signal(x, 4, 2, "essentia")
    # Essentia's FrameCutter: first frame centred on sample 0, last the first whose centre reaches the end.
    assert frames.shape == (essentia_frame_count(10, 4, 2), 4) == (6, 4)
    np.testing.assert_array_equal(frames[0], [0, 0, 0, 1])
    np.testing.assert_array_equal(frames[-1], [8, 9, 0, 0])
    assert essentia_frame_count(44100, 2048, 1024) == int(np.ceil(44100 / 1024)) + 1


def test_mel_spectrogram_of_a_tone_peaks_in_the_right_band():
    from grounding_eval.audio.mel import mel_spectrogram

    rate = 16000
    t = np.arange(rate) / rate
    mel = mel_spectrogram(np.sin(2 * np.pi * 2000 * t), rate, n_fft=512, hop_length=160, n_mels=64, win_length=400)
    assert mel.shape == (1 + (rate - 400) // 160, 64)
    edges = mel_to_hz(np.linspace(0, hz_to_mel(8000.0), 66))
    band = int(np.argmax(mel.mean(axis=0)))
    assert edges[band] < 2000 < edges[band + 2]


# --- the log-mel baseline ---------------------------------------------------------------------------


@needs_freedesktop
def test_logmel_shape_and_determinism():
    files = [_oga("bell"), _oga("complete"), _oga("phone-incoming-call")]
    instances = [Instance(id=str(i), concept="c", source=f, content_hash=str(i)) for i, f in enumerate(files)]
    done: list[int] = []
    backbone = LogMelBackbone(batch_size=2)
    a = backbone.embed(instances, progress=done.append)
    b = LogMelBackbone(batch_size=1).embed(instances)
    assert a.shape == (3, 128) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert sum(done) == 3
    assert not np.allclose(a[0], a[1])
    ident = backbone.identity()
    assert ident["sample_rate"] == 16000 and ident["pipeline_version"] == 2 and ident["resampler"] == "soxr-HQ"
    assert "device" not in ident and "device_class" not in ident and "batch_size" not in ident
    assert LogMelBackbone(batch_size=7).cache_key() == backbone.cache_key()
    assert LogMelBackbone(n_mels=32).embed(instances[:1]).shape == (1, 64)


class _TinyConv(TorchAudioBackbone):
    """A torch backbone with no checkpoint: one fixed random conv, enough to show what its key holds."""

    name = "tiny-conv"
    sample_rate = 16000
    embedding_dim = 4

    def backbone_identity(self):
        return {"backbone": self.name, **self.precision_identity()}

    def windows(self):
        return Windows(16000, 16000, "zero-padded at the end")

    def load(self):
        import torch

        torch.manual_seed(0)
        return torch.nn.Conv1d(1, 4, 400, stride=160)

    def forward(self, module, batch, lengths):
        return module(batch[:, None, :]).mean(-1)


@pytest.fixture
def fake_gpu(monkeypatch):
    """torch.cuda as on one Ampere GPU (compute capability 8.0), so that cuda backbones construct here."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


def test_gpu_and_cpu_vectors_never_share_a_cache_key(fake_gpu, monkeypatch):
    """Issue 17 item 6: the key promised that the device never changes a vector, but on Ampere GPUs cuDNN runs
    fp32 convolutions in TF32 (~1e-3). A GPU's class and precision settings are in the key; the CPU adds
    nothing (its keys stay as they were); batch size still never changes it."""
    import torch

    cpu = _TinyConv(dtype="fp32")
    assert "device_class" not in cpu.identity() and "tf32" not in cpu.identity()
    assert _TinyConv(dtype="fp32", batch_size=3).cache_key() == cpu.cache_key()
    gpu = _TinyConv(dtype="fp32", device="cuda")
    ident = gpu.identity()
    assert ident["device_class"] == "cuda" and ident["tf32"] == {"conv": True, "matmul": False}
    assert gpu.cache_key() != cpu.cache_key()
    assert _TinyConv(dtype="fp32", device="cuda", batch_size=3).cache_key() == gpu.cache_key()
    key, old = gpu.cache_key(), torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = False  # TF32 off: other numbers on the same GPU, another key
        assert gpu.cache_key() != key and gpu.identity()["tf32"]["conv"] is False
    finally:
        torch.backends.cudnn.allow_tf32 = old
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))  # V100: no TF32
    assert gpu.identity()["tf32"] == {"conv": False, "matmul": False}
    # The log-mel baseline is numpy whatever --device says: the same numbers, so the same key.
    assert LogMelBackbone(device="cuda").cache_key() == LogMelBackbone().cache_key()


def test_logmel_unknown_option_names_the_option_and_the_valid_ones():
    with pytest.raises(GroundingEvalError) as info:
        LogMelBackbone(n_mel=40)
    message = str(info.value)
    assert "n_mel" in message and "n_mels" in message and "\n" not in message


def test_logmel_embeds_no_instances():
    assert LogMelBackbone().embed([]).shape == (0, 128)


@pytest.mark.parametrize("options, message", [
    ({"batch_size": "abc"}, "batch_size must be a whole number, got 'abc'"),
    ({"max_seconds": "long"}, "max_seconds must be a number, got 'long'"),
    ({"num_workers": 1.5}, "num_workers must be a whole number, got 1.5"),
    ({"n_mels": "many"}, "n_mels must be a whole number, got 'many'"),
])
def test_backbone_options_of_the_wrong_type_are_one_line(options, message):
    """--backbone-args values arrive as YAML scalars: a word where a number belongs is named, not a traceback."""
    from grounding_eval.audio.logmel import LogMelBackbone

    with pytest.raises(GroundingEvalError, match=f"audio backbone 'logmel': {message}"):
        LogMelBackbone(**options)
