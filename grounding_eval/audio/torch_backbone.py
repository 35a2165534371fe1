"""The base of audio backbones that are torch modules: lazy loading, dtype, inference mode, grouping.

A subclass implements `load()` (build the module, load weights) and `forward(batch)` on a (B, samples)
float32 tensor of equal-length clips, returning (B, dim). Clips of one batch are grouped by length
(`pipeline.length_groups`) so that no clip is padded to its neighbours: the numbers never depend on
the batch.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from grounding_eval.audio.backbone import AudioBackbone
from grounding_eval.audio.pipeline import length_groups, resolve_dtype, torch_dtype


class TorchAudioBackbone(AudioBackbone):
    """An AudioBackbone whose forward is a torch module, run in fp32, fp16 or bf16 (`dtype`)."""

    def __init__(self, *, dtype: str = "auto", **options: Any) -> None:
        super().__init__(**options)
        self.dtype = resolve_dtype(str(dtype), self.device)
        self._module: Any = None

    def precision_identity(self) -> dict[str, Any]:
        return {"dtype": self.dtype}

    @abstractmethod
    def load(self) -> Any:
        """Build the module with its weights (called once, on first use, so cache hits never pay for it)."""

    @abstractmethod
    def forward(self, module: Any, batch: Any) -> Any:
        """(B, samples) float32 tensor on the device -> (B, dim) tensor."""

    def module(self) -> Any:
        if self._module is None:
            module = self.load()
            self._module = module.to(self.device).eval() if module is not None else None
        return self._module

    def embed_waveforms(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        if not waves:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        module = self.module()
        out: list[Any] = [None] * len(waves)
        autocast = self.dtype != "fp32"
        with torch.inference_mode():
            for idx in length_groups(waves):
                batch = torch.from_numpy(np.stack([waves[i] for i in idx])).to(self.device)
                with torch.autocast(device_type=batch.device.type, dtype=torch_dtype(self.dtype), enabled=autocast):
                    vecs = self.forward(module, batch)
                vecs = vecs.float().cpu().numpy()
                for j, i in enumerate(idx):
                    out[i] = vecs[j]
        return np.stack(out).astype(np.float32, copy=False)
