"""The base of audio backbones that are torch modules: lazy loading, dtype, inference mode, windows.

A subclass implements `load()` (build the module, load weights), `windows()` (its fixed window length and
what a shorter clip becomes) and `forward(module, batch, lengths)` on a (B, window samples) float32 tensor
of zero-padded windows with their valid lengths, returning (B, dim). Clips are cut into windows that
are batched across clips and pooled per clip (`audio/windows.py`): every forward is full and no clip's
vector depends on its batch.

Half precision (dtype fp16/bf16) is autocast around the forward, but a backbone's spectrogram front end
(`FRONT_END`) always runs in fp32: a loud window's power spectrum passes fp16's 65504 and a quiet one's
mel energies fall below its smallest value, so log gives inf and -inf. Any non-finite vector is then
one line naming the backbone and its dtype, not a NaN filed in the cache.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Any, Iterable, Iterator, Literal

import numpy as np

from pydantic import Field

from grounding_eval.audio.backbone import AudioBackbone, BackboneOptions, Number, check_finite
from grounding_eval.devices import DTYPES, resolve_dtype, torch_dtype
from grounding_eval.audio.windows import Windows, pad_windows, windowed_vectors
from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Valid, Words


class TorchOptions(BackboneOptions):
    """Options of backbones that run a torch module on fixed windows."""

    dtype: Literal[DTYPES] = "auto"
    """auto (bf16 on a GPU of compute capability 8.0+, else fp32)|fp32|fp16|bf16"""
    window_seconds: Annotated[Number | None, Field(gt=0), Valid("positive"), Words("a number")] = None
    """the window each forward sees (null = the model's own)"""


class TorchAudioBackbone(AudioBackbone):
    """An AudioBackbone whose forward is a torch module, run in fp32, fp16 or bf16 (`dtype`), on windows."""

    Options: type[TorchOptions] = TorchOptions
    # Attribute names of the module's spectrogram front end, run in fp32 under any dtype.
    FRONT_END: tuple[str, ...] = ()

    def __init__(self, opts: TorchOptions | None = None, **options: Any) -> None:
        super().__init__(opts, **options)
        self.dtype = resolve_dtype(self.options.dtype, [self.device], f"audio backbone {self.name!r}: dtype")
        self.window_seconds = self.options.window_seconds
        self._module: Any = None
        # Forwards run and windows embedded since creation (the bench reports windows per forward).
        self.forward_count = 0
        self.window_count = 0

    def precision_identity(self) -> dict[str, Any]:
        # The fp32 front end is named only in half precision: fp32 keys stay as they were.
        half = self.dtype != "fp32" and self.FRONT_END
        return {"dtype": self.dtype, **({"front_end_dtype": "fp32"} if half else {})}

    def window_samples(self, default_seconds: float, longest_seconds: float | None = None) -> int:
        """The window in samples: `window_seconds` if given (at most `longest_seconds`), else the default."""
        seconds = default_seconds if self.window_seconds is None else self.window_seconds
        if longest_seconds is not None and seconds > longest_seconds + 1e-9:
            raise GroundingEvalError(f"audio backbone {self.name!r}: window_seconds must be <= {longest_seconds:g} "
                                     f"(the longest input the model takes), got {self.window_seconds:g}")
        return max(1, int(round(seconds * self.sample_rate)))

    @abstractmethod
    def windows(self) -> Windows:
        """This backbone's window (length and short-clip policy); goes into the identity."""

    @abstractmethod
    def load(self) -> Any:
        """Build the module with its weights (called once, on first use, so cache hits never pay for it)."""

    @abstractmethod
    def forward(self, module: Any, batch: Any, lengths: list[int]) -> Any:
        """(B, window samples) zero-padded float32 tensor on the device, valid lengths -> (B, dim) tensor."""

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "window": self.windows().identity()}

    def module(self) -> Any:
        if self._module is None:
            module = self.load()
            self._module = module.to(self.device).eval() if module is not None else None
            for name in self.FRONT_END:
                keep_fp32(getattr(self._module, name))
        return self._module

    def run_windows(self, segments: list[np.ndarray]) -> np.ndarray:
        """One forward over up to batch_size windows: (len(segments), dim) float32."""
        import torch

        module = self.module()
        padded, lengths = pad_windows(segments, self.windows().samples)
        with torch.inference_mode():
            batch = torch.from_numpy(padded).to(self.device)
            with torch.autocast(device_type=batch.device.type, dtype=torch_dtype(self.dtype), enabled=self.dtype != "fp32"):
                vecs = self.forward(module, batch, lengths)
        self.forward_count += 1
        self.window_count += len(segments)
        out = vecs.float().cpu().numpy()
        check_finite(self.name, out, "windows", self.dtype)
        return out

    def embed_clips(self, clips: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        return windowed_vectors(clips, self.windows(), self.run_windows, self._batch_size)

    def embed_waveforms(self, waves: list[np.ndarray]) -> np.ndarray:
        if not waves:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return np.stack(list(self.embed_clips(waves))).astype(np.float32, copy=False)


def keep_fp32(part: Any) -> Any:
    """Make the torch module `part` run in fp32 whatever autocast is on around it (its weights are fp32
    already: autocast casts per op, the module is never converted); its state dict is unchanged."""
    import torch

    inner = part.forward

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return inner(x.float(), *args, **kwargs)

    part.forward = forward
    return part
