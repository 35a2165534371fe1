"""Which process this is under data parallelism: read from what `accelerate launch` / torchrun set.

Kept out of the modality rooms because the runner and every encoder ask the same question.
"""

from __future__ import annotations

import os

from grounding_eval.errors import GroundingEvalError


def data_parallel() -> tuple[int, int, int]:
    """(rank, world size, local rank) of this process under `accelerate launch` / torchrun, else (0, 1, 0)."""
    def _int(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            return default

    rank, world = _int("RANK", 0), max(1, _int("WORLD_SIZE", 1))
    if not 0 <= rank < world:  # this process would own no batch and wait for the others forever
        raise GroundingEvalError(f"environment RANK={rank} is outside WORLD_SIZE={world}: valid ranks are 0..{world - 1}")
    return rank, world, _int("LOCAL_RANK", 0)
