"""A weight-free baseline: statistics of a log-mel spectrogram.

It tells how much of a grounding score a trained audio network adds over the spectral envelope alone,
and it runs anywhere with nothing to download.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from grounding_eval.audio.backbone import AudioBackbone, BackboneOptions, Whole
from grounding_eval.audio.mel import mel_filterbank, mel_spectrogram
from grounding_eval.validation import Valid

# Bump when the features below change for the same options.
FEATURE_VERSION = 1


class LogMelOptions(BackboneOptions):
    n_mels: Annotated[Whole, Field(ge=1), Valid(">= 1")] = 64
    """mel bands (the vector has 2 x n_mels numbers: mean and std over time)"""
    sample_rate: Annotated[Whole, Field(ge=8000), Valid(">= 8000")] = 16000
    """decode rate in Hz"""


class LogMelBackbone(AudioBackbone):
    """concat(mean, std) over time of log(mel power + 1e-6): 25 ms Hann window, 10 ms hop, HTK mel."""

    name = "logmel"
    Options = LogMelOptions

    def __init__(self, **options: Any) -> None:
        opts = self.Options.check(self.name, options)
        sample_rate, n_mels = opts.sample_rate, opts.n_mels
        super().__init__(opts)
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.win_length = int(round(0.025 * sample_rate))
        self.hop_length = int(round(0.010 * sample_rate))
        # Next power of two above the window: finer bins so low, narrow mel bands still cover a bin.
        self.n_fft = 1 << (self.win_length - 1).bit_length()
        self.embedding_dim = 2 * n_mels
        self._fb = mel_filterbank(sample_rate, self.n_fft, n_mels, scale="htk", norm="unit_sum", weighting="mel")

    def backbone_identity(self) -> dict[str, Any]:
        return {
            "backbone": "logmel",
            # The rate itself, not only the frames it rounds to: 16000 and 16010 Hz give the same window,
            # hop and FFT sizes in samples but other mel band edges and other resampled waves.
            "sample_rate": int(self.sample_rate),
            "n_mels": self.n_mels,
            "win_length": self.win_length,
            "hop_length": self.hop_length,
            "n_fft": self.n_fft,
            "pooling": "mean+std",
            "feature_version": FEATURE_VERSION,
        }

    def compute_device(self) -> str:
        return "cpu"  # numpy: the same numbers whatever --device says

    def features(self, wave: np.ndarray) -> np.ndarray:
        """log(mel + 1e-6), shape (frames, n_mels)."""
        mel = mel_spectrogram(
            wave, self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
            win_length=self.win_length, filterbank=self._fb,
        )
        return np.log(mel + 1e-6)

    def embed_waveforms(self, waves: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(waves), self.embedding_dim), dtype=np.float32)
        for i, wave in enumerate(waves):
            logmel = self.features(wave)
            out[i, : self.n_mels] = logmel.mean(axis=0)
            out[i, self.n_mels :] = logmel.std(axis=0)
        return out
