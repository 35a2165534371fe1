"""Mel filterbanks and power mel-spectrograms in numpy, vectorised over frames.

Written for this project so that backbones can reproduce their training front ends (HTK or Slaney mel,
triangles in mel or in Hz, Essentia-style framing) without librosa or essentia at run time.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MelScale = Literal["htk", "slaney"]
FilterNorm = Literal["unit_sum", "unit_max"]
Weighting = Literal["mel", "hz"]
Framing = Literal["valid", "essentia"]

# Slaney's scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float, scale: MelScale = "htk") -> np.ndarray:
    """Frequency in Hz to mel on the HTK (2595 log10(1 + f/700)) or Slaney scale."""
    f = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if scale == "slaney":
        linear = f / _SLANEY_F_SP
        log = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, _SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
        return np.where(f >= _SLANEY_MIN_LOG_HZ, log, linear)
    raise ValueError(f"unknown mel scale {scale!r}: valid are htk, slaney")


def mel_to_hz(mel: np.ndarray | float, scale: MelScale = "htk") -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if scale == "slaney":
        linear = m * _SLANEY_F_SP
        log = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
        return np.where(m >= _SLANEY_MIN_LOG_MEL, log, linear)
    raise ValueError(f"unknown mel scale {scale!r}: valid are htk, slaney")


def mel_filterbank(
    sample_rate: float,
    n_fft: int,
    n_mels: int,
    *,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: FilterNorm = "unit_sum",
    weighting: Weighting = "mel",
) -> np.ndarray:
    """Triangular filters, shape (n_mels, n_fft // 2 + 1), float64.

    Band edges are n_mels + 2 points equally spaced in mel between f_min and f_max. `weighting="mel"`
    draws each triangle linearly in mel (Essentia's "warping"); "hz" draws it linearly in Hz (librosa,
    HTK). `norm="unit_sum"` makes each filter's weights sum to 1 (so a band is a weighted mean of the
    bins it covers); "unit_max" leaves each peak at 1. With scale="htk", weighting="mel", "unit_sum" it
    matches Essentia 2.1b6's MelBands(warpingFormula="htkMel", weighting="warping") to float32 precision.
    Filters that cover no bin stay all zero rather than dividing by zero.
    """
    if f_max is None:
        f_max = sample_rate / 2.0
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0 + 1e-9:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, f_max={f_max}")
    if norm not in ("unit_sum", "unit_max"):
        raise ValueError(f"unknown filter norm {norm!r}: valid are unit_sum, unit_max")
    if weighting not in ("mel", "hz"):
        raise ValueError(f"unknown weighting {weighting!r}: valid are mel, hz")

    n_bins = n_fft // 2 + 1
    bin_hz = np.arange(n_bins) * (sample_rate / 2.0) / (n_bins - 1)
    edges_mel = np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2)
    edges_hz = mel_to_hz(edges_mel, scale)

    if weighting == "mel":
        x, e = hz_to_mel(bin_hz, scale), edges_mel
    else:
        x, e = bin_hz, edges_hz
    lo, mid, hi = e[:-2, None], e[1:-1, None], e[2:, None]
    rising = (x[None, :] - lo) / (mid - lo)
    falling = (hi - x[None, :]) / (hi - mid)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Half-open support [lo, hi): a bin exactly on the upper edge gets nothing, as in Essentia.
    f = bin_hz[None, :]
    weights[(f < edges_hz[:-2, None]) | (f >= edges_hz[2:, None])] = 0.0

    if norm == "unit_sum":
        sums = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)
    return weights


def hann(length: int, *, symmetric: bool = False) -> np.ndarray:
    """Hann window; periodic (for spectral analysis, the default) or symmetric (Essentia's)."""
    if length == 1:
        return np.ones(1)
    denom = length - 1 if symmetric else length
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / denom)


def essentia_frame_count(n_samples: int, frame_length: int, hop_length: int) -> int:
    """How many frames Essentia's FrameCutter (startFromZero=false) cuts from n_samples.

    The first frame starts at -(frame_length+1)//2 (centred on sample 0) and the last is the first one
    whose centre reaches the end of the signal.
    """
    if n_samples <= 0:
        return 0
    start0 = -((frame_length + 1) // 2)
    centre0 = start0 + frame_length // 2
    # smallest k with centre0 + k*hop >= n_samples
    k_last = max(0, -(-(n_samples - centre0) // hop_length))
    return k_last + 1


def frame_signal(wave: np.ndarray, frame_length: int, hop_length: int, framing: Framing = "valid") -> np.ndarray:
    """Cut a 1-D signal into (frames, frame_length), a strided view where possible.

    "valid": frames start at 0 and only whole frames are kept (no centre padding; a clip shorter than
    one frame is zero-padded to one frame). "essentia": FrameCutter's default framing, zero-padded on
    both sides (see `essentia_frame_count`).
    """
    x = np.asarray(wave)
    if framing == "valid":
        if x.shape[0] < frame_length:
            x = np.pad(x, (0, frame_length - x.shape[0]))
        n = 1 + (x.shape[0] - frame_length) // hop_length
    elif framing == "essentia":
        n = essentia_frame_count(x.shape[0], frame_length, hop_length)
        left = (frame_length + 1) // 2
        total = (n - 1) * hop_length + frame_length
        x = np.pad(x, (left, max(0, total - left - x.shape[0])))
    else:
        raise ValueError(f"unknown framing {framing!r}: valid are valid, essentia")
    return sliding_window_view(x, frame_length)[: (n - 1) * hop_length + 1 : hop_length]


def power_spectrogram(
    wave: np.ndarray,
    n_fft: int,
    hop_length: int,
    *,
    win_length: int | None = None,
    symmetric_window: bool = False,
    framing: Framing = "valid",
    chunk_frames: int = 2048,
) -> np.ndarray:
    """|rfft(window * frame)|^2, shape (frames, n_fft // 2 + 1), float64.

    A window shorter than n_fft is zero-padded to n_fft. Frames are transformed in chunks to bound
    memory on long clips.
    """
    win_length = n_fft if win_length is None else win_length
    if win_length > n_fft:
        raise ValueError(f"win_length {win_length} exceeds n_fft {n_fft}")
    frames = frame_signal(np.asarray(wave, dtype=np.float64), win_length, hop_length, framing)
    window = hann(win_length, symmetric=symmetric_window)
    out = np.empty((frames.shape[0], n_fft // 2 + 1), dtype=np.float64)
    for s in range(0, frames.shape[0], chunk_frames):
        spec = np.fft.rfft(frames[s : s + chunk_frames] * window, n=n_fft, axis=-1)
        out[s : s + chunk_frames] = spec.real**2 + spec.imag**2
    return out


def mel_spectrogram(
    wave: np.ndarray,
    sample_rate: float,
    *,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    win_length: int | None = None,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: FilterNorm = "unit_sum",
    weighting: Weighting = "mel",
    symmetric_window: bool = False,
    framing: Framing = "valid",
    filterbank: np.ndarray | None = None,
) -> np.ndarray:
    """Power mel-spectrogram, shape (frames, n_mels), float64. Pass `filterbank` to reuse a precomputed one."""
    fb = filterbank
    if fb is None:
        fb = mel_filterbank(
            sample_rate, n_fft, n_mels, f_min=f_min, f_max=f_max, scale=scale, norm=norm,
            weighting=weighting,
        )
    power = power_spectrogram(
        wave, n_fft, hop_length, win_length=win_length, symmetric_window=symmetric_window, framing=framing
    )
    return power @ fb.T
