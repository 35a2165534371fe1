"""Which torch device a run uses: the GPU when there is one, unless the user says otherwise; under data
parallelism, this process's own GPU (one rule for the text and the audio side)."""

from __future__ import annotations

from typing import Any

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


# ---- dtype: one rule for the audio backbones, the text models and the generator ---------------------
DTYPES: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")
# The long spellings transformers users know, taken as the short ones.
DTYPE_ALIASES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
TORCH_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# bf16 in hardware: Ampere (compute capability 8.0) and newer. Older GPUs (T4 7.5, V100 7.0) report
# torch.cuda.is_bf16_supported() true as well, through a slow emulation, so that is not asked.
BF16_CAPABILITY = (8, 0)


def auto_dtype(devices: list[str]) -> str:
    """What dtype=auto means for a model that runs on `devices` (all of them, for a sharded model).

    fp32 unless every device is a GPU with bf16 in hardware, then bf16. Never fp16: its range ends at
    65504 (log-mel front ends and some activations overflow it), bf16 keeps fp32's range; fp16 is there
    when asked for (a GPU older than Ampere, a model too large for fp32), and an overflow then is an error.
    """
    if not devices or not all(str(d).startswith("cuda") for d in devices):
        return "fp32"
    import torch

    return "bf16" if all(torch.cuda.get_device_capability(d) >= BF16_CAPABILITY for d in devices) else "fp32"


def model_devices(device: str, device_map: str | None = None) -> list[str]:
    """The devices a model runs on: `device`, or with a device map every visible GPU (accelerate spreads
    the weights over all of them), or the CPU when none is visible."""
    if not device_map:
        return [device]
    import torch

    if device_map == "cpu" or not torch.cuda.is_available():
        return ["cpu"]
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def resolve_dtype(dtype: str, devices: list[str], what: str = "dtype") -> str:
    """fp32|fp16|bf16: `dtype` as given (long spellings accepted), or `auto_dtype(devices)` for auto.
    `what` names the option in the error (e.g. "--model-args dtype")."""
    short = DTYPE_ALIASES.get(dtype, dtype)
    if short not in DTYPES:
        raise GroundingEvalError(f"{what}={dtype}: unknown dtype; valid: {', '.join(DTYPES)}")
    return auto_dtype(devices) if short == "auto" else short


def torch_dtype(name: str) -> Any:
    """fp32|fp16|bf16 -> the torch dtype."""
    import torch

    return getattr(torch, TORCH_NAMES[DTYPE_ALIASES.get(name, name)])
