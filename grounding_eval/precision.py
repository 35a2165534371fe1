"""What the device adds to an encoder's cache key: nothing on the CPU; elsewhere its class and the
precision settings that change numbers there.

Why keyed rather than TF32 switched off for embedding: on Ampere and newer GPUs cuDNN runs fp32
convolutions in TF32 (~1e-3 relative) unless told not to, a user (or a library) may have set
`torch.set_float32_matmul_precision`, and bf16/fp16 kernels differ from the CPU's anyway; forcing one
setting would still leave GPU vectors close to, not equal to, CPU ones, and would overrule a user's
choice silently. So GPU vectors go under their own key, and CPU keys stay as they were (nothing is added
for the CPU, so every existing key, golden number and cache pack is unchanged).

Batch size and the GPU's model stay out of the key: within one device class and setting they change
vectors only at the rounding of the stated dtype (fp32 kernels differ at ~1e-7; bf16 vectors with
batch and padding at bf16 rounding), which the dtype already in each key states.
"""

from __future__ import annotations

from typing import Any, Iterable


def device_class(devices: str | Iterable[Any]) -> str:
    """'cpu', 'cuda', 'mps', ... for a device ('cuda:1') or the values of an accelerate device map.

    In a device map an int is a GPU, and 'cpu'/'disk' parts are offloaded weights that accelerate runs on
    the map's GPU: any GPU in the map makes the computation a GPU one.
    """
    items = [devices] if isinstance(devices, str) else list(devices)
    kinds = {"cuda" if isinstance(d, int) else str(d).split(":")[0] for d in items}
    gpus = sorted(kinds - {"cpu", "disk", "meta"})
    return "+".join(gpus) if gpus else "cpu"


def _cuda_indices(items: list[Any]) -> set[int]:
    """The CUDA ordinals among devices ('cuda' alone: the current one) and device-map values (ints)."""
    import torch

    out = set()
    for d in items:
        if isinstance(d, int):
            out.add(d)
        elif str(d).startswith("cuda"):
            index = torch.device(str(d)).index
            out.add(torch.cuda.current_device() if index is None else index)
    return out


def _tf32_flags(torch: Any) -> dict[str, Any]:
    """Whether cuDNN convolutions and cuBLAS matmuls may use TF32 now."""
    try:
        return {"conv": bool(torch.backends.cudnn.allow_tf32), "matmul": bool(torch.backends.cuda.matmul.allow_tf32)}
    except RuntimeError:  # torch >= 2.9 refuses the legacy flags once its per-operator API set them apart
        return {"conv": torch.backends.cudnn.conv.fp32_precision, "matmul": torch.backends.cuda.matmul.fp32_precision}


def device_identity(devices: str | Iterable[Any]) -> dict[str, Any]:
    """{} on the CPU (CPU keys unchanged); else the device class and the precision settings in force."""
    kind = device_class(devices)
    if kind == "cpu":
        return {}
    import torch  # heavy: only encoders that already run torch ask for a non-CPU identity

    out: dict[str, Any] = {"device_class": kind, "float32_matmul_precision": torch.get_float32_matmul_precision()}
    if "cuda" in kind.split("+"):
        gpus = _cuda_indices([devices] if isinstance(devices, str) else list(devices))
        # TF32 needs compute capability 8.0 (Ampere) or newer: on older GPUs the flags change nothing.
        tf32 = any(torch.cuda.get_device_capability(i)[0] >= 8 for i in gpus)
        out["tf32"] = _tf32_flags(torch) if tf32 else {"conv": False, "matmul": False}
        matmul = torch.backends.cuda.matmul
        out["reduced_precision_reduction"] = {"fp16": bool(matmul.allow_fp16_reduced_precision_reduction),
                                              "bf16": bool(matmul.allow_bf16_reduced_precision_reduction)}
    return out
