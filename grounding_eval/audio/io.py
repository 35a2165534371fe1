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


def _checked_path(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioDecodeError(f"cannot decode audio {path!r}: no such file")
    if os.path.getsize(path) == 0:
        raise AudioDecodeError(f"cannot decode audio {path!r}: the file is empty (0 bytes)")
    return path


def _read(path: str, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    try:
        data, rate = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioDecodeError(f"cannot decode audio {path!r}: {_one_line(exc)}") from exc
    if data.shape[0] == 0:
        raise AudioDecodeError(f"cannot decode audio {path!r}: it holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioDecodeError(f"cannot decode audio {path!r}: it holds NaN or infinite samples")
    return data, int(rate)


def decode(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a file as (samples, channels) float32 at its native rate, raising AudioDecodeError on failure."""
    return _read(_checked_path(path))


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


# Containers whose frame count libsndfile takes from the file and in which it seeks to the exact sample
# (tests/test_bounded_decode.py checks wav, flac and ogg against a whole decode). Not MP3: its frame count
# can be an estimate (VBR without a Xing header), which would move a centre crop; MP3 is decoded whole.
SEEKABLE_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "AIFF", "CAF"})
# Source audio read beyond each end of a crop. soxr HQ's filter reaches < 0.1 s (measured: a 0.1 s margin
# already gives bit-identical crops at 8-96 kHz), so the crop's samples never see where the read stops.
MARGIN_SECONDS = 0.5


def _output_length(frames: int, rate: int, sample_rate: int) -> int | None:
    """soxr's output length for `frames` input frames: round(frames * sample_rate / rate). None when that is
    exactly halfway, where libsoxr's own rounding goes either way (its floating-point ratio decides)."""
    twice = 2 * frames * sample_rate
    if twice % (2 * rate) == rate:
        return None
    return (twice + rate) // (2 * rate)


def _span(path: str, sample_rate: int, max_seconds: float, crop: str) -> tuple[int, int, int, int] | None:
    """Where a crop lies in a file: (first source frame to read, source frame to stop at, the crop's first
    sample in the whole file's resampled output, its length), or None when the file must be read whole
    (unseekable format, unknown length, or a crop that needs nearly all of it)."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError):
        return None  # decode() reports it, with the usual message
    frames, rate = int(info.frames), int(info.samplerate)
    total = _output_length(frames, rate, sample_rate)
    if info.format not in SEEKABLE_FORMATS or frames <= 0 or rate <= 0 or total is None:
        return None
    length = max(1, int(round(max_seconds * sample_rate)))
    if total <= length:
        return None
    first = (total - length) // 2 if crop == "center" else 0
    margin = 0 if rate == sample_rate else int(np.ceil(MARGIN_SECONDS * rate))
    lo = max(0, first * rate // sample_rate - margin)
    hi = min(frames, -(-(first + length) * rate // sample_rate) + margin)
    if lo == 0 and hi == frames:
        return None
    return lo, hi, first, length


def _resample_at(mono: np.ndarray, offset: int, rate: int, sample_rate: int, last: bool) -> tuple[np.ndarray, int]:
    """Resample source frames that start at `offset` in their file: (output, index of its first sample in
    the whole file's output). The frames before `offset` go in as zeros, streamed in blocks (memory stays
    bounded; soxr runs through zeros at thousands of times real time): soxr then works on the same block
    and filter-phase grid as on the whole file, so the outputs away from the cut are bit-identical to it
    (a resampler started at `offset` gives differences of a few float32 ulps instead)."""
    stream = soxr.ResampleStream(int(rate), int(sample_rate), 1, dtype="float32", quality="HQ")
    zeros = np.zeros(min(offset, 1 << 16), dtype=np.float32)
    done, left = 0, offset
    while left > 0:
        n = min(left, zeros.shape[0])
        done += int(stream.resample_chunk(zeros[:n]).shape[0])
        left -= n
    out = stream.resample_chunk(np.ascontiguousarray(mono, dtype=np.float32), last=last)
    return np.asarray(out, dtype=np.float32), done


def _load_bounded(path: str, sample_rate: int, max_seconds: float, crop: str) -> np.ndarray | None:
    """The crop of a file longer than max_seconds, decoding and resampling only the frames it needs (plus
    a margin): sample for sample what decoding, resampling and cropping the whole file gives. None when
    the file has to be read whole."""
    span = _span(path, sample_rate, max_seconds, crop)
    if span is None:
        return None
    lo, hi, first, length = span
    data, rate = _read(path, start=lo, frames=hi - lo)
    if data.shape[0] != hi - lo:
        return None  # the container's frame count was wrong: fall back to the whole file
    mono = data.mean(axis=1, dtype=np.float32)
    del data
    if rate == sample_rate:
        return mono[first - lo : first - lo + length]
    out, at = _resample_at(mono, lo, rate, sample_rate, last=True)
    crop_out = out[first - at : first - at + length]
    return crop_out if first >= at and crop_out.shape[0] == length else None


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
    (see `fit_length`). A clip longer than max_seconds has only its crop (and a margin) read and resampled,
    giving the same samples as the whole file would (`_load_bounded`). Raises AudioDecodeError naming the
    file when it cannot be read.
    """
    if max_seconds is not None and max_seconds <= 0:
        raise GroundingEvalError(f"max_seconds must be positive, got {max_seconds}")
    if min_seconds < 0:
        raise GroundingEvalError(f"min_seconds must be >= 0, got {min_seconds}")
    if crop not in CROP_MODES:
        raise GroundingEvalError(f"unknown crop {crop!r}: valid are {', '.join(CROP_MODES)}")
    path = _checked_path(path)
    # A clip longer than max_seconds is cropped while it is decoded (issue 24: a 1-hour file no longer
    # decodes and resamples whole); the samples are the same as resampling it whole, then cropping.
    bounded = None if max_seconds is None else _load_bounded(path, int(sample_rate), max_seconds, crop)
    if bounded is not None:
        mono = bounded
    else:
        data, rate = _read(path)
        mono = resample(data.mean(axis=1, dtype=np.float32), rate, int(sample_rate))
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
