"""Which torch device a run uses: the GPU when there is one, unless the user says otherwise; under data
parallelism, this process's own GPU (one rule for the text and the audio side)."""

from __future__ import annotations

from grounding_eval import parallel
from grounding_eval.errors import GroundingEvalError


def pick_device(device: str | None) -> str:
    """`None`, "" or "auto": cuda when visible, else cpu; an explicit cuda device must exist."""
    import torch  # heavy (about 2 s): only runs that load a model pay for it

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GroundingEvalError(f"--device {device}: no CUDA GPU is visible here; use --device cpu")
    return device


def rank_device(device: str | None) -> str:
    """`pick_device`, and under `accelerate launch` (WORLD_SIZE > 1) each process on its own GPU.

    The GPU is accelerate's: the local process index modulo the GPUs this process sees, so one visible
    GPU per process (as SLURM sets up) is cuda:0, not cuda:LOCAL_RANK. An explicit cuda:N must be that
    GPU: any other would put several processes on one GPU, silently.
    """
    chosen = pick_device(device)
    state = parallel.accelerate_state()
    if state is None or not chosen.startswith("cuda"):
        return chosen
    import torch

    own = f"cuda:{state.local_process_index % max(1, torch.cuda.device_count())}"
    if chosen not in ("cuda", own):
        world = parallel.data_parallel()[1]
        raise GroundingEvalError(
            f"--device {device}: under accelerate launch (WORLD_SIZE={world}) each process takes its own GPU, this "
            f"one {own}; give --device cuda (or leave it out) so that the processes do not share one GPU")
    return own
