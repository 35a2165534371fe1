"""Which torch device a run uses: the GPU when there is one, unless the user says otherwise."""

from __future__ import annotations

from grounding_eval.errors import GroundingEvalError


def pick_device(device: str | None) -> str:
    """`None`, "" or "auto": cuda when visible, else cpu; an explicit cuda device must exist."""
    import torch  # heavy (about 2 s): only runs that load a model pay for it

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GroundingEvalError(f"--device {device}: no CUDA GPU is visible here; use --device cpu")
    return device
