"""Data-parallel text extraction under `accelerate launch` (or torchrun): split the prompts, gather.

Every process runs the same evaluation; inside `embed`, process k of N computes only its share of the
prompts (a contiguous slice) and the vectors are gathered so that every process ends with all of them,
in the original order. With one process (a plain `grounding-eval` call) both steps do nothing.

Kept apart from the model code so that the split and the reassembly can be tested without GPUs by
simulating N processes (`World(index, n)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grounding_eval.parallel import accelerate_state


@dataclass(frozen=True)
class World:
    """Which process this is among how many (accelerate's PartialState, reduced to what we need)."""

    index: int = 0
    size: int = 1
    device: str | None = None  # this process's own device when launched data parallel

    @property
    def is_main(self) -> bool:
        return self.index == 0


def current_world() -> World:
    """The accelerate state when launched by `accelerate launch`/torchrun; a one-process world otherwise.

    Only touches accelerate (and so torch.distributed) when a launcher set WORLD_SIZE > 1, so that a plain
    run never initialises a process group.
    """
    state = accelerate_state()
    if state is None:
        return World()
    return World(state.process_index, state.num_processes, str(state.device))


def share(n: int, world: World) -> range:
    """The contiguous slice of `n` items that process `world.index` computes (sizes differ by at most 1)."""
    base, extra = divmod(n, world.size)
    start = world.index * base + min(world.index, extra)
    return range(start, start + base + (1 if world.index < extra else 0))


def gather(local: np.ndarray, n: int, world: World, all_parts: list[Any] | None = None) -> np.ndarray:
    """All processes' slices concatenated in process order: the (n, ...) array every process returns.

    `all_parts` stands in for the collective in tests (the slices of every simulated process); in a real
    run the slices travel through accelerate's `gather_object`.
    """
    if world.size == 1:
        return local
    if all_parts is None:
        from accelerate.utils import gather_object

        all_parts = gather_object([local])  # one object per process, in process order
    parts = [np.asarray(p) for p in all_parts if np.asarray(p).shape[0] > 0]
    out = np.concatenate(parts) if parts else local
    if out.shape[0] != n:
        raise RuntimeError(f"gathered {out.shape[0]} text vectors from {world.size} processes for {n} prompts")
    return out
