"""Which process this is under data parallelism, and the few collectives every modality needs.

Read from what `accelerate launch` / torchrun set (RANK, WORLD_SIZE, LOCAL_RANK). A plain run (WORLD_SIZE
unset or 1) never imports torch.distributed here and never forms a process group: every helper below is
then a no-op. Kept out of the modality rooms because the runner and every encoder ask the same questions.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import functools
import os
import sys
from typing import Any, Iterator, Sequence

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


def accelerate_state() -> Any:
    """accelerate's PartialState when launched data parallel (forms the process group on first call), else None."""
    if data_parallel()[1] <= 1:
        return None
    import torch  # heavy: only launched runs pay for it here
    from accelerate import PartialState

    # Without a GPU, accelerate only forms a (gloo) process group when told it is a CPU run.
    state = PartialState(cpu=not torch.cuda.is_available())
    _end_at_exit()
    return state


@functools.cache
def _end_at_exit() -> None:
    """Once per process: tear the group down before the interpreter finalises. Left to finalisation, gloo's
    worker threads can be destroyed while joinable and the process aborts ("terminate called without an
    active exception", SIGABRT) after its work is done: seen in CI on a script that embedded and exited."""
    atexit.register(end)


def is_main_process() -> bool:
    """True in a plain run and in rank 0 of a launch: the one process that prints and writes results."""
    return data_parallel()[0] == 0


def agree_missing(missing: Sequence[int]) -> list[int]:
    """Data parallel: the union of every process's missing item positions, sorted (one collective).

    Processes that see different caches (per-node disks, a different --cache-dir, a shard only one of them
    can read) would otherwise compute different batches, and a batch that is itself a collective (the
    text side's split and gather) would pair up wrong batches, then hang.
    """
    if accelerate_state() is None:
        return sorted(missing)
    from accelerate.utils import gather_object  # imports torch, as accelerate_state already has

    union: set[int] = set()
    for part in gather_object([sorted(missing)]):  # one list per process
        union.update(part)
    return sorted(union)


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """The body runs in the main process first, then in each node's first process, then in the rest, who
    find its downloads and builds done instead of racing it to the same rename (a cache on a shared
    filesystem or on each node's disk alike). A plain run: just the body."""
    state = accelerate_state()
    if state is None:
        yield
        return
    with state.main_process_first(), state.local_main_process_first():
        yield


def end() -> None:
    """Tear the process group down at the end of a launched run (NCCL warns and may leak without it)."""
    dist = sys.modules.get("torch.distributed")  # only a run that imported it can have formed a group
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    # gloo (the CPU runs): every process reaches the teardown before any tears down, since one that destroys its
    # group while a peer's last collective still talks to it can abort at exit. Bounded (60 s), so a peer that
    # died never hangs us; other backends have no bounded barrier and are left as they were.
    if dist.get_backend() == "gloo":
        with contextlib.suppress(Exception):
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
    dist.destroy_process_group()
