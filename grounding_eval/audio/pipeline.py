"""The shared audio pipeline around every backbone's forward: decode in worker processes, pool over
time. (Each process's device under data parallelism, and what dtype=auto means: `grounding_eval.devices`.)

Decoding (file -> mono float32 at the backbone's rate, crop/pad policy applied; see `io.load_audio`)
runs in `num_workers` worker processes of a torch DataLoader, which decode the next batches while the
model runs on the current one. Worker count, batch size and device never change the vectors: each clip
is decoded on its own, and torch backbones batch fixed-length windows (see `windows.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from grounding_eval.audio.io import load_audio
from grounding_eval.errors import GroundingEvalError

POOLINGS: tuple[str, ...] = ("mean", "max", "mean+max")


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_num_workers() -> int:
    """One decoding process per core, less one for the process that feeds the model; under data
    parallelism the node's cores are shared by its LOCAL_WORLD_SIZE processes.

    Not capped: on a GPU the forward outruns one core's decoding many times over (BENCHMARKS.md: one
    worker decodes ~50 real clips/s, PaSST on one A100 takes several hundred), so every core helps.
    """
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(0, usable_cores() // local - 1)


@dataclass(frozen=True)
class Decoder:
    """Picklable decode step (runs inside worker processes): path -> waveform under one policy."""

    sample_rate: int
    max_seconds: float | None
    min_seconds: float
    crop: str

    def __call__(self, source: Any) -> np.ndarray:
        return load_audio(str(source), self.sample_rate, max_seconds=self.max_seconds,
                          min_seconds=self.min_seconds, crop=self.crop)  # type: ignore[arg-type]


class _Sources:
    """A map-style dataset of paths whose items are decoded waveforms."""

    def __init__(self, sources: Sequence[Any], decoder: Decoder):
        self.sources = list(sources)
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.decoder(self.sources[i])


def _as_list(batch: list[np.ndarray]) -> list[np.ndarray]:
    return batch


def decoded_batches(sources: Sequence[Any], decoder: Decoder, batch_size: int, num_workers: int) -> Iterator[list[np.ndarray]]:
    """Waveform batches in source order; with num_workers > 0, decoded ahead in worker processes."""
    if num_workers <= 0 or len(sources) <= batch_size:
        for s in range(0, len(sources), batch_size):
            yield [decoder(src) for src in sources[s : s + batch_size]]
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(_Sources(sources, decoder), batch_size=batch_size, shuffle=False,
                        num_workers=int(num_workers), collate_fn=_as_list, prefetch_factor=2)
    yield from loader


def pool_time(hidden: Any, mask: Any | None, pooling: str) -> Any:
    """(B, T, D) torch tensor -> (B, D): mean, max or concat(mean, max) over the valid frames of `mask` (B, T)."""
    import torch

    if mask is None:
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    m = mask.to(hidden.device).bool().unsqueeze(-1)
    h = hidden.float()
    mean = (h * m).sum(1) / m.sum(1).clamp(min=1)
    if pooling == "mean":
        return mean
    mx = h.masked_fill(~m, float("-inf")).max(1).values
    if pooling == "max":
        return mx
    if pooling == "mean+max":
        return torch.cat([mean, mx], dim=-1)
    raise GroundingEvalError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
