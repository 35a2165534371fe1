"""Bounded decoding (issue 24): a clip longer than max_seconds is cropped while it is decoded, reading only the
source frames the crop needs, and the cropped samples are exactly those of decoding the whole file, resampling
it and cropping (what load_audio did before), for every crop policy, format and rate."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from grounding_eval.audio.io import CROP_MODES, decode, fit_length, load_audio, resample

# Real recordings from Debian packages: (path, what it is), covering 8 to 96 kHz, mono and stereo.
RECORDINGS = [
    "/usr/share/games/frozen-bubble/snd/applause.ogg",  # 44.1 kHz stereo vorbis
    "/usr/share/games/lincity-ng/sounds/Blacksmith1.wav",  # 22.05 kHz mono PCM
    "/usr/share/sounds/freedesktop/stereo/alarm-clock-elapsed.oga",  # 48 kHz stereo vorbis
    "/usr/share/sounds/freedesktop/stereo/camera-shutter.oga",  # 96 kHz stereo vorbis
    "/usr/share/sounds/freedesktop/stereo/phone-outgoing-busy.oga",  # 8 kHz mono vorbis
]
FORMATS = [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS")]
RATES = (16000, 32000, 44100, 48000)


def _recording(path: str) -> tuple[np.ndarray, int]:
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data, rate


def _long_copy(path: str, folder, seconds: float, fmt: tuple[str, str, str]) -> str:
    """The recording repeated to `seconds` and written in `fmt`: a real clip far longer than a crop."""
    data, rate = _recording(path)
    n = int(seconds * rate)
    tiled = np.tile(data, (-(-n // data.shape[0]), 1))[:n]
    out = os.path.join(folder, f"{os.path.basename(path)}.{fmt[0]}")
    sf.write(out, tiled, rate, format=fmt[1], subtype=fmt[2])
    return out


def _whole_then_crop(path: str, rate: int, max_seconds: float, crop: str) -> np.ndarray:
    """load_audio as it was: decode the whole file, mix down, resample all of it, then crop."""
    data, native = decode(path)
    mono = resample(data.mean(axis=1, dtype=np.float32), native, rate)
    return fit_length(mono, rate, max_seconds=max_seconds, crop=crop)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("recording", RECORDINGS, ids=[os.path.basename(r) for r in RECORDINGS])
def test_bounded_crop_equals_whole_decode_then_crop_sample_for_sample(tmp_path, recording, fmt):
    path = _long_copy(recording, tmp_path, 21.3, fmt)
    seconds = sf.info(path).frames / sf.info(path).samplerate
    for rate in RATES:
        # a short crop, a long one, and one just short of the file (its window reaches both ends)
        for max_seconds in (0.77, 6.0, seconds - 0.05):
            for crop in CROP_MODES:
                want = _whole_then_crop(path, rate, max_seconds, crop)
                got = load_audio(path, rate, max_seconds=max_seconds, crop=crop)  # type: ignore[arg-type]
                assert got.dtype == np.float32 and got.shape == want.shape, (rate, max_seconds, crop)
                assert np.array_equal(got, want), (rate, max_seconds, crop, float(np.abs(got - want).max()))


def test_clips_within_max_seconds_are_untouched(tmp_path):
    path = _long_copy(RECORDINGS[0], tmp_path, 3.0, FORMATS[0])
    for crop in CROP_MODES:
        want = _whole_then_crop(path, 16000, 3.5, crop)
        assert np.array_equal(load_audio(path, 16000, max_seconds=3.5, crop=crop), want)  # type: ignore[arg-type]


def test_min_seconds_still_pads_a_cropped_clip(tmp_path):
    path = _long_copy(RECORDINGS[1], tmp_path, 12.0, FORMATS[0])
    got = load_audio(path, 16000, max_seconds=1.0, min_seconds=2.0)
    want = fit_length(_whole_then_crop(path, 16000, 1.0, "center"), 16000, min_seconds=2.0)
    assert got.shape == (32000,) and np.array_equal(got, want)


def test_a_long_clip_is_decoded_in_memory_bounded_by_the_crop(tmp_path):
    """Two minutes of 44.1 kHz stereo is 42 MB as float32; a 1 s crop must not hold it (before: ~60 MB)."""
    path = _long_copy(RECORDINGS[0], tmp_path, 120.0, FORMATS[0])
    tracemalloc.start()
    try:
        wave = load_audio(path, 16000, max_seconds=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert wave.shape == (16000,)
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB for a 1 s crop of a 120 s clip"


def test_mp3_is_decoded_whole_and_still_cropped_the_same(tmp_path):
    """libsndfile's MP3 frame count can be an estimate (VBR), so MP3 keeps the whole-file decode."""
    try:
        path = _long_copy(RECORDINGS[0], tmp_path, 8.0, ("mp3", "MP3", "MPEG_LAYER_III"))
    except (sf.LibsndfileError, TypeError, ValueError) as exc:
        pytest.skip(f"this libsndfile cannot write MP3: {exc}")
    for crop in CROP_MODES:
        want = _whole_then_crop(path, 16000, 2.0, crop)
        assert np.array_equal(load_audio(path, 16000, max_seconds=2.0, crop=crop), want)  # type: ignore[arg-type]
