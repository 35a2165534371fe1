"""The base class of audio backbones: decode instance paths, then embed the waveforms.

A subclass states its sample rate and how it turns waveforms into vectors; the decoding, crop/pad
policy, batching, progress reporting and the identity (cache key) are shared here.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Any, Iterable, Iterator, Literal, Sequence

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from grounding_eval.audio.io import CROP_MODES, RESAMPLER
from grounding_eval.audio.pipeline import Decoder, decoded_batches, default_num_workers
from grounding_eval.data.base import Instance
from grounding_eval.devices import rank_device
from grounding_eval.encoders import PerceptionEncoder, ProgressCallback
from grounding_eval.errors import GroundingEvalError
from grounding_eval.precision import device_identity
from grounding_eval.validation import Problem, Valid, Words, validated

# Bump when the shared decode/crop/pad steps change in a way that changes the numbers.
PIPELINE_VERSION = 2



def _no_bool(value: Any) -> Any:
    """YAML's true is not the number 1."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "a boolean is not a number")
    return value


Whole = Annotated[int, BeforeValidator(_no_bool), Words("a whole number")]
Number = Annotated[float, BeforeValidator(_no_bool), Words("a number")]


class BackboneOptions(BaseModel):
    """`--backbone-args` (perception_encoder.args) every audio backbone takes; a backbone's own options
    subclass this (its `Options`). Values from the command line arrive as YAML scalars and coerce as they
    read (`batch_size="8"` -> 8); a bad one is one line naming the backbone, the option and what is valid."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    device: str = "cpu"
    """cpu|cuda|cuda:N (each data-parallel process takes its own GPU)"""
    batch_size: Annotated[Whole, Field(ge=1), Valid(">= 1")] = 16
    """clips per forward pass: speed and memory only, never the numbers"""
    max_seconds: Annotated[Number | None, Field(gt=0), Valid("positive"), Words("a number")] = None
    """crop longer clips to this many seconds (null = whole clips)"""
    min_seconds: Annotated[Number, Field(ge=0), Valid(">= 0")] = 0.0
    """zero-pad shorter clips to this many seconds"""
    crop: Literal[CROP_MODES] = "center"
    """which part of a long clip max_seconds keeps"""
    num_workers: Annotated[Whole | None, Field(ge=0), Valid(">= 0"), Words("a whole number")] = None
    """decoding processes (null = one per free core): speed only"""

    @model_validator(mode="after")
    def _min_within_max(self) -> BackboneOptions:
        if self.max_seconds is not None and self.min_seconds > self.max_seconds:
            raise PydanticCustomError("order", "min_seconds ({min}) exceeds max_seconds ({max})",
                                      {"min": self.min_seconds, "max": self.max_seconds})
        return self

    @classmethod
    def check(cls, backbone: str, options: dict[str, Any]):
        """The options checked against this model, or a one-line error naming `backbone`."""

        def message(p: Problem) -> str:
            if p.kind == "unknown":
                valid = ", ".join(sorted(p.valid.split(", ")))
                return f"audio backbone {backbone!r} got unknown option(s) {p.value}; {p.hint}valid: {valid}"
            if not p.loc:  # a check across options (min_seconds and max_seconds)
                return f"audio backbone {backbone!r}: {p.value}"
            if p.choices:
                return f"audio backbone {backbone!r}: unknown {p.field} {p.value!r}; valid: {', '.join(map(str, p.choices))}"
            return f"audio backbone {backbone!r}: {p.field} must be {p.type_words if p.type_error else p.valid}, got {p.value!r}"

        return validated(cls, options, message)


def check_finite(backbone: str, vecs: np.ndarray, what: str, dtype: str | None = None) -> None:
    """One line naming the backbone, its dtype and the way out when any of `vecs` (one per window or
    clip) has a NaN or an infinity: never a non-finite vector handed on to the cache."""
    bad = int((~np.isfinite(vecs.reshape(len(vecs), -1))).any(axis=1).sum())
    if not bad:
        return
    head = f"audio backbone {backbone!r}: {bad} of {len(vecs)} {what} gave non-finite vectors (NaN or inf)"
    if dtype in ("fp16", "bf16"):
        why = "fp16 overflows past 65504" if dtype == "fp16" else "bf16 rounds to 8 significant bits"
        raise GroundingEvalError(f"{head} under dtype={dtype} ({why}); run it with --backbone-args dtype=fp32")
    raise GroundingEvalError(f"{head} in fp32: its weights or its code fail on these clips; check the checkpoint")


class AudioBackbone(PerceptionEncoder):
    """An audio encoder: `instance.source` is a path, decoded to mono at `sample_rate`."""

    modality = "audio"
    sample_rate: int  # set by each subclass (class or instance attribute)
    embedding_dim: int = 0  # known output width, so that embedding no instances still has a shape

    Options: type[BackboneOptions] = BackboneOptions  # a backbone with options of its own subclasses it

    def __init__(self, opts: BackboneOptions | None = None, **options: Any) -> None:
        """`opts` as the subclass checked them (`self.Options.check(self.name, options)`, before any slow
        work), or the options themselves, checked here."""
        opts = opts if opts is not None else self.Options.check(self.name, options)
        self.options = opts
        self.device = rank_device(str(opts.device))
        self._batch_size = opts.batch_size
        # Decoding processes: speed only, never the numbers (each clip is decoded on its own).
        self.num_workers = default_num_workers() if opts.num_workers is None else opts.num_workers
        self.max_seconds = opts.max_seconds
        self.min_seconds = opts.min_seconds
        self.crop = opts.crop

    @abstractmethod
    def embed_waveforms(self, waves: list[np.ndarray]) -> np.ndarray:
        """Embed mono float32 waveforms at `self.sample_rate`: float32 array of shape (len(waves), dim)."""

    @abstractmethod
    def backbone_identity(self) -> dict[str, Any]:
        """What the backbone itself contributes to the numbers: checkpoint sha256, embedding, pooling, ..."""

    def compute_device(self) -> str:
        """Where the vectors are computed; a backbone that computes on the CPU whatever `device` says
        (numpy) returns "cpu", so that its key does not change with the flag."""
        return self.device

    def identity(self) -> dict[str, Any]:
        # Batch size is left out on purpose: it must not change the vectors. A GPU adds its class and
        # precision settings (precision.py: TF32 changes fp32 numbers ~1e-3); the CPU adds nothing.
        return {
            **self.backbone_identity(),
            **device_identity(self.compute_device()),
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
        check_finite(self.name, vecs, "clips")
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
