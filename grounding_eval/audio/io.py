"""Decoding audio files into mono float32 waveforms at a backbone's sample rate, with a crop/pad policy.

Every audio backbone reads its input through `load_audio`, so the same file always becomes the same
samples whatever the backbone: the only per-backbone choices are the rate and the length policy.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from grounding_eval.errors import GroundingEvalError

Crop = Literal["center", "start"]
CROP_MODES: tuple[str, ...] = ("center", "start")


class AudioDecodeError(GroundingEvalError):
    """A file that cannot be turned into samples: missing, unreadable, corrupt or empty."""


def _one_line(reason: object) -> str:
    # libsndfile messages sometimes span lines; the project's errors are one line each.
    return " ".join(str(reason).split()) or type(reason).__name__


def decode(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a file as (samples, channels) float32 at its native rate, raising AudioDecodeError on failure."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioDecodeError(f"cannot decode audio {path!r}: no such file")
    if os.path.getsize(path) == 0:
        raise AudioDecodeError(f"cannot decode audio {path!r}: the file is empty (0 bytes)")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioDecodeError(f"cannot decode audio {path!r}: {_one_line(exc)}") from exc
    if data.shape[0] == 0:
        raise AudioDecodeError(f"cannot decode audio {path!r}: it holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError(f"cannot decode audio {path!r}: it holds NaN or infinite samples")
    return data, int(rate)


# The resampler and its quality setting: part of every audio backbone's identity (it changes the samples).
# Not its version: libsoxr's HQ filter has been fixed for years, and a version in the key would orphan
# every cache (and fail the golden check) on each wheel release.
RESAMPLER = "soxr-HQ"


def resample(wave: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """libsoxr's HQ band-limited resampling (the output has round(len * target / orig) samples).

    Chosen over scipy's resample_poly on measurements (bench/audio_throughput.py, BENCHMARKS.md): about
    twice as fast, flat to 0.9 of the new Nyquist (resample_poly: -0.66 dB there) and alias rejection
    above 130 dB (resample_poly: 12 dB just above the new Nyquist).
    """
    if orig_rate == target_rate:
        return wave
    out = soxr.resample(np.ascontiguousarray(wave, dtype=np.float32), int(orig_rate), int(target_rate), quality="HQ")
    return np.asarray(out, dtype=np.float32)


def fit_length(
    wave: np.ndarray,
    sample_rate: int,
    *,
    max_seconds: float | None = None,
    min_seconds: float = 0.0,
    crop: Crop = "center",
) -> np.ndarray:
    """Crop a clip longer than max_seconds (centre or start window) and zero-pad one shorter than min_seconds."""
    if crop not in CROP_MODES:
        raise GroundingEvalError(f"unknown crop {crop!r}: valid are {', '.join(CROP_MODES)}")
    if max_seconds is not None:
        max_len = max(1, int(round(max_seconds * sample_rate)))
        if wave.shape[0] > max_len:
            start = (wave.shape[0] - max_len) // 2 if crop == "center" else 0
            wave = wave[start : start + max_len]
    min_len = int(round(min_seconds * sample_rate))
    if wave.shape[0] < min_len:
        # Padding at the end keeps the onset where the recording put it.
        wave = np.pad(wave, (0, min_len - wave.shape[0]))
    return wave


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    *,
    max_seconds: float | None = None,
    min_seconds: float = 0.0,
    crop: Crop = "center",
) -> np.ndarray:
    """Decode a file (wav, flac, ogg/oga, mp3, ...) to a mono float32 waveform at `sample_rate`.

    Channels are averaged, the rate converted with a polyphase filter, then the length policy applied
    (see `fit_length`). Raises AudioDecodeError naming the file when it cannot be read.
    """
    if max_seconds is not None and max_seconds <= 0:
        raise GroundingEvalError(f"max_seconds must be positive, got {max_seconds}")
    if min_seconds < 0:
        raise GroundingEvalError(f"min_seconds must be >= 0, got {min_seconds}")
    data, rate = decode(path)
    mono = data.mean(axis=1, dtype=np.float32)
    # Crop before resampling would save time on long files, but changes edge samples; resample first so
    # the numbers do not depend on the source's length.
    mono = resample(mono, rate, int(sample_rate))
    mono = fit_length(mono, int(sample_rate), max_seconds=max_seconds, min_seconds=min_seconds, crop=crop)
    return np.ascontiguousarray(mono, dtype=np.float32)


def peak_db(wave: np.ndarray) -> float:
    """Peak level in dB relative to full scale (-inf for all zeros)."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def is_silent(wave: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True when no sample rises above `threshold_db` dBFS.

    Peak rather than RMS, so a short click in a long quiet file still counts as sound: only files that
    are silent throughout are flagged.
    """
    return peak_db(wave) < threshold_db
