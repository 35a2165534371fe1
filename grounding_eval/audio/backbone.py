"""The base class of audio backbones: decode instance paths, then embed the waveforms.

A subclass states its sample rate and how it turns waveforms into vectors; the decoding, crop/pad
policy, batching, progress reporting and the identity (cache key) are shared here.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from grounding_eval.audio.io import CROP_MODES, RESAMPLER
from grounding_eval.audio.pipeline import Decoder, decoded_batches, default_num_workers
from grounding_eval.data.base import Instance
from grounding_eval.devices import rank_device
from grounding_eval.encoders import PerceptionEncoder, ProgressCallback
from grounding_eval.errors import GroundingEvalError

# Bump when the shared decode/crop/pad steps change in a way that changes the numbers.
PIPELINE_VERSION = 2

BASE_OPTIONS: tuple[str, ...] = ("device", "batch_size", "max_seconds", "min_seconds", "crop", "num_workers")


def as_number(backbone: str, key: str, value: Any, kind: type = int, minimum: float | None = None) -> Any:
    """An option as `kind` (int or float), or a one-line error naming backbone, option and what is valid."""
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise GroundingEvalError(f"audio backbone {backbone!r}: {key} must be a {'whole number' if kind is int else 'number'}, "
                                 f"got {value!r}") from None
    if minimum is not None and number < minimum:
        raise GroundingEvalError(f"audio backbone {backbone!r}: {key} must be >= {minimum:g}, got {value!r}")
    return number


def check_options(backbone: str, options: dict[str, Any], valid: Iterable[str]) -> None:
    """Refuse options a backbone does not know, in one line naming the bad ones and the valid ones."""
    valid = sorted(set(valid))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise GroundingEvalError(
            f"audio backbone {backbone!r} got unknown option(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )


class AudioBackbone(PerceptionEncoder):
    """An audio encoder: `instance.source` is a path, decoded to mono at `sample_rate`."""

    modality = "audio"
    sample_rate: int  # set by each subclass (class or instance attribute)
    embedding_dim: int = 0  # known output width, so that embedding no instances still has a shape

    def __init__(
        self,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        max_seconds: float | None = None,
        min_seconds: float = 0.0,
        crop: str = "center",
        num_workers: int | None = None,
    ) -> None:
        if crop not in CROP_MODES:
            raise GroundingEvalError(f"audio backbone {self.name!r}: unknown crop {crop!r}; valid: {', '.join(CROP_MODES)}")
        batch_size = as_number(self.name, "batch_size", batch_size)
        max_seconds = None if max_seconds is None else as_number(self.name, "max_seconds", max_seconds, float)
        min_seconds = as_number(self.name, "min_seconds", min_seconds, float)
        num_workers = None if num_workers is None else as_number(self.name, "num_workers", num_workers)
        if int(batch_size) < 1:
            raise GroundingEvalError(f"audio backbone {self.name!r}: batch_size must be >= 1, got {batch_size}")
        if max_seconds is not None and float(max_seconds) <= 0:
            raise GroundingEvalError(f"audio backbone {self.name!r}: max_seconds must be positive, got {max_seconds}")
        if float(min_seconds) < 0:
            raise GroundingEvalError(f"audio backbone {self.name!r}: min_seconds must be >= 0, got {min_seconds}")
        if max_seconds is not None and float(min_seconds) > float(max_seconds):
            raise GroundingEvalError(
                f"audio backbone {self.name!r}: min_seconds ({min_seconds}) exceeds max_seconds ({max_seconds})"
            )
        if num_workers is not None and int(num_workers) < 0:
            raise GroundingEvalError(f"audio backbone {self.name!r}: num_workers must be >= 0, got {num_workers}")
        self.device = rank_device(str(device))
        self._batch_size = int(batch_size)
        # Decoding processes: speed only, never the numbers (each clip is decoded on its own).
        self.num_workers = default_num_workers() if num_workers is None else int(num_workers)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.min_seconds = float(min_seconds)
        self.crop = crop

    @abstractmethod
    def embed_waveforms(self, waves: list[np.ndarray]) -> np.ndarray:
        """Embed mono float32 waveforms at `self.sample_rate`: float32 array of shape (len(waves), dim)."""

    @abstractmethod
    def backbone_identity(self) -> dict[str, Any]:
        """What the backbone itself contributes to the numbers: checkpoint sha256, embedding, pooling, ..."""

    def identity(self) -> dict[str, Any]:
        # Device and batch size are left out on purpose: they must not change the vectors.
        return {
            **self.backbone_identity(),
            "sample_rate": int(self.sample_rate),
            "max_seconds": self.max_seconds,
            "min_seconds": self.min_seconds,
            "crop": self.crop,
            "resampler": RESAMPLER,
            "pipeline_version": PIPELINE_VERSION,
        }

    def decoder(self) -> Decoder:
        """This backbone's decode step (rate and length policy), picklable for worker processes."""
        return Decoder(int(self.sample_rate), self.max_seconds, self.min_seconds, self.crop)

    def decode(self, sources: Sequence[Any]) -> list[np.ndarray]:
        """Decode paths to waveforms under this backbone's rate and length policy."""
        dec = self.decoder()
        return [dec(src) for src in sources]

    def embed_clips(self, clips: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """One vector per decoded clip, in order. Default: `embed_waveforms` on batch_size clips at a time;
        windowed backbones (torch_backbone) batch fixed windows across clips instead."""
        batch: list[np.ndarray] = []
        for wave in clips:
            batch.append(wave)
            if len(batch) == self._batch_size:
                yield from self._checked(batch)
                batch = []
        if batch:
            yield from self._checked(batch)

    def _checked(self, waves: list[np.ndarray]) -> np.ndarray:
        vecs = np.asarray(self.embed_waveforms(waves), dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(waves):
            raise GroundingEvalError(f"audio backbone {self.name!r} returned shape {vecs.shape} for {len(waves)} clips")
        return vecs

    def embed_batches(self, instances: Sequence[Any], progress: ProgressCallback | None = None) -> Iterator[np.ndarray]:
        """One (batch, dim) array per `batch_size` instances, in order; decoding runs ahead in workers.

        The cache writes one shard per yielded batch, so a killed run keeps every finished batch.
        """
        sources = [getattr(inst, "source", inst) for inst in instances]
        batches = decoded_batches(sources, self.decoder(), self._batch_size, self.num_workers)
        done: list[np.ndarray] = []
        for vec in self.embed_clips(wave for batch in batches for wave in batch):
            done.append(vec)
            if len(done) == self._batch_size:
                if progress is not None:
                    progress(len(done))
                yield np.stack(done)
                done = []
        if done:
            if progress is not None:
                progress(len(done))
            yield np.stack(done)

    def embed(self, instances: Sequence[Instance], progress: ProgressCallback | None = None) -> np.ndarray:
        """Decode then embed every instance: (len(instances), dim) float32."""
        out = list(self.embed_batches(instances, progress))
        if not out:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return np.concatenate(out, axis=0)
