"""Weight-free pitch and duration of a clip, for the notes tier: how far a generated note is from the asked one.

Pitch: YIN (de Cheveigné & Kawahara 2002: cumulative-mean-normalised difference, first dip under a
threshold, parabolic refinement) on frames across the sounding part, the median over voiced frames.
Duration: time from the first to the last frame whose RMS is within `floor_db` of the loudest frame.
"""

from __future__ import annotations

import math

import numpy as np


def _yin_frame(frame: np.ndarray, sr: int, fmin: float, fmax: float, threshold: float) -> float | None:
    n = frame.size
    max_lag = min(int(sr / fmin), n // 2)
    min_lag = max(2, int(sr / fmax))
    if max_lag <= min_lag + 2:
        return None
    # Difference function through the FFT autocorrelation: d(t) = r(0)_[0:W] + r(0)_[t:t+W] - 2 r(t).
    w = n - max_lag
    x = frame.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    # r(t) = sum_{j<w} x[j] x[j+t]: the first w samples against the frame shifted by t.
    acf = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(x[:w], size)), size)[:max_lag + 1]
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    energy0 = sq[w] - sq[0]
    energy_t = sq[np.arange(max_lag + 1) + w] - sq[np.arange(max_lag + 1)]
    d = energy0 + energy_t - 2 * acf
    d[0] = 0.0
    cmnd = np.ones_like(d)
    running = np.cumsum(d[1:])
    cmnd[1:] = d[1:] * np.arange(1, max_lag + 1) / np.where(running > 0, running, 1.0)
    below = np.flatnonzero(cmnd[min_lag:max_lag] < threshold)
    if below.size == 0:
        return None
    t = below[0] + min_lag
    while t + 1 < max_lag and cmnd[t + 1] < cmnd[t]:  # walk down to the bottom of the dip
        t += 1
    if 1 <= t < max_lag:
        a, b, c = cmnd[t - 1], cmnd[t], cmnd[t + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        shift = 0.0
    return sr / (t + shift)


def sounding_span(wave: np.ndarray, sr: int, floor_db: float = 40.0, hop: float = 0.01) -> tuple[int, int]:
    """(start, end) samples of the part within `floor_db` of the loudest 10 ms frame."""
    h = max(1, int(sr * hop))
    n = wave.size // h
    if n == 0:
        return 0, wave.size
    rms = np.sqrt((wave[: n * h].astype(np.float64).reshape(n, h) ** 2).mean(1) + 1e-20)
    db = 20 * np.log10(rms)
    loud = np.flatnonzero(db > db.max() - floor_db)
    return int(loud[0] * h), int((loud[-1] + 1) * h)


def estimate_pitch(wave: np.ndarray, sr: int, fmin: float = 40.0, fmax: float = 2000.0, threshold: float = 0.15,
                   frame_seconds: float = 0.08) -> float | None:
    """Median YIN f0 (Hz) over voiced frames of the sounding part; None when no frame is voiced."""
    start, end = sounding_span(wave, sr)
    part = wave[start:end]
    n = int(sr * frame_seconds)
    if part.size < n:
        part = wave
        if part.size < n:
            n = part.size
    hops = range(0, max(1, part.size - n + 1), max(1, n // 2))
    f0 = [f for s in hops if (f := _yin_frame(part[s:s + n], sr, fmin, fmax, threshold)) is not None]
    return float(np.median(f0)) if f0 else None


def cents(f: float, target: float) -> float:
    """Signed distance in cents (100 per semitone)."""
    return 1200.0 * math.log2(f / target)


def note_errors(wave: np.ndarray, sr: int, target_hz: float, target_seconds: float) -> dict[str, float | None]:
    """Pitch error (cents, absolute, and whether it is an octave error) and duration error (seconds)."""
    f0 = estimate_pitch(wave, sr)
    start, end = sounding_span(wave, sr)
    out: dict[str, float | None] = {"f0_hz": f0, "duration_s": (end - start) / sr,
                                    "duration_error_s": abs((end - start) / sr - target_seconds)}
    if f0 is None:
        out.update(pitch_error_cents=None, octave_error=None)
    else:
        c = cents(f0, target_hz)
        out["pitch_error_cents"] = abs(c)
        # Off by a whole number of octaves (within a quarter tone): the right note class, the wrong octave.
        out["octave_error"] = float(abs(c) > 50 and abs(c - 1200 * round(c / 1200)) < 50)
    return out
