"""Any Hugging Face transformers model as a text encoder: hidden states of one layer, pooled.

Encoder-only models (BERT, MiniLM, MPNet, RoBERTa), decoder-only models (GPT-2, LLaMA, ...) and the
encoder of encoder-decoder models (T5) load through the same path. Padding side does not matter:
pooling uses the attention mask, and `last` pooling takes each row's last real token.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Sequence

import numpy as np

from grounding_eval.encoders import ProgressCallback, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text.hub import ResolvedModel, resolve_model

POOLINGS = ("mean", "first", "last")
DTYPES = {"auto": None, "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}
MODEL_ARGS = {
    "revision": "hub revision (branch, tag or commit)",
    "dtype": "auto|fp32|bf16|fp16",
    "layer": "hidden layer index (0 = embeddings, -1 = last)",
    "pooling": "|".join(POOLINGS),
    "max_length": "token limit per prompt",
    "batch_size": "prompts per forward pass",
    "device": "cpu|cuda|cuda:N|auto",
    "device_map": "accelerate device map, e.g. auto to shard over GPUs",
    "trust_remote_code": "true to run the model repo's own code (off by default)",
}


def parse_model_args(text: str | None) -> dict[str, str]:
    """`k=v,k=v` (lm-eval style) into a dict; a malformed item is a one-line error."""
    out: dict[str, str] = {}
    if not text:
        return out
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise GroundingEvalError(f"--model-args: {item!r} is not key=value; valid keys: {', '.join(MODEL_ARGS)}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def pick_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GroundingEvalError(f"--device {device}: no CUDA GPU is visible here; use --device cpu")
    return device


class HFTextEncoder(TextEncoder):
    """Hidden states of a transformers model, pooled over the prompt's tokens."""

    name = "hf"

    def __init__(self, model: str, **args: Any):
        unknown = sorted(set(args) - set(MODEL_ARGS))
        if unknown:
            import difflib

            near = difflib.get_close_matches(unknown[0], MODEL_ARGS, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise GroundingEvalError(
                f"--model-args: unknown option {unknown[0]!r}; {hint}valid: {', '.join(MODEL_ARGS)}"
            )
        self.requested = model
        self.layer = int(args.get("layer", -1))
        self.pooling = str(args.get("pooling", "mean"))
        if self.pooling not in POOLINGS:
            raise GroundingEvalError(f"--model-args pooling={self.pooling}: valid poolings are {', '.join(POOLINGS)}")
        dtype = str(args.get("dtype", "auto"))
        if dtype not in DTYPES:
            raise GroundingEvalError(f"--model-args dtype={dtype}: valid dtypes are {', '.join(DTYPES)}")
        self.max_length = int(args.get("max_length", 64))
        self._batch_size = int(args.get("batch_size", 32))
        self.device = pick_device(args.get("device"))
        self.device_map = args.get("device_map")
        self.trust_remote_code = str(args.get("trust_remote_code", "false")).lower() in ("1", "true", "yes")
        self.resolved: ResolvedModel = resolve_model(model, args.get("revision"))
        self._load(dtype)

    def _load(self, dtype: str) -> None:
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bars speak for the run; theirs would interleave

        path = self.resolved.path
        try:
            self.config = AutoConfig.from_pretrained(path, trust_remote_code=self.trust_remote_code)
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=self.trust_remote_code)
        except ValueError as exc:
            raise GroundingEvalError(f"--model {self.requested}: {str(exc).splitlines()[0]} (set trust_remote_code=true only if you trust it)") from None
        # Decoder models often ship without a pad token; any token works because the mask hides it.
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        torch_dtype = getattr(torch, DTYPES[dtype]) if DTYPES[dtype] else None
        if torch_dtype is None and self.device == "cpu":
            torch_dtype = torch.float32  # half precision on CPU is slow and changes numbers
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if torch_dtype is not None:
            kwargs["dtype"] = torch_dtype
        if self.device_map:
            kwargs["device_map"] = self.device_map  # accelerate places (and shards) the weights
        self.dtype = str(torch_dtype).replace("torch.", "") if torch_dtype is not None else "auto"
        self.model = self._build(AutoModel, path, kwargs)
        if not self.device_map:
            self.model.to(self.device)
        self.model.eval()

    def _build(self, auto_cls, path: str, kwargs: dict[str, Any]):
        # Encoder-decoder models (T5): the encoder alone embeds the prompt.
        if getattr(self.config, "is_encoder_decoder", False):
            from transformers import AutoModelForSeq2SeqLM  # noqa: F401  (the config says which class)

            full = auto_cls.from_pretrained(path, **kwargs)
            return full.get_encoder()
        return auto_cls.from_pretrained(path, **kwargs)

    def identity(self) -> dict[str, Any]:
        return {
            "model": self.requested,
            "source": self.resolved.source,
            "revision": self.resolved.revision,
            "weights_sha256": self.resolved.weights_sha256,
            "architecture": (self.config.architectures or [type(self.model).__name__])[0],
            "dtype": self.dtype,
            "layer": self.layer,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "tokenizer": type(self.tokenizer).__name__,
            "padding_side": "mask-aware",
        }

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        import torch

        out = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            with torch.inference_mode():
                hidden = self.model(**enc, output_hidden_states=True).hidden_states
            n_layers = len(hidden)
            if not -n_layers <= self.layer < n_layers:
                raise GroundingEvalError(
                    f"--model-args layer={self.layer}: {self.requested} has layers 0..{n_layers - 1} (or -1..-{n_layers})"
                )
            h = hidden[self.layer].float()
            mask = enc["attention_mask"].to(h.device).float()
            out.append(self._pool(h, mask).cpu().numpy())
            if progress:
                progress(len(batch))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def _pool(self, h, mask):
        import torch

        if self.pooling == "mean":
            return (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        idx = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        if self.pooling == "first":
            pos = torch.where(mask > 0, idx, mask.shape[1]).min(1).values
        else:
            pos = torch.where(mask > 0, idx, -1).max(1).values
        return h[torch.arange(h.shape[0], device=h.device), pos]

    def untrained_copy(self) -> "TextEncoder | None":
        """The same architecture and tokenizer with freshly initialised weights (seed 0)."""
        import torch
        from transformers import AutoModel

        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()):
            model = AutoModel.from_config(self.config)
        if getattr(self.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        clone.model = model.to(self.device).eval()
        clone.resolved = ResolvedModel(
            self.requested, self.resolved.path, self.resolved.source, self.resolved.revision,
            "random-init-seed0:" + self.resolved.weights_sha256,
        )
        return clone


def make_hf_encoder(model: str, **args: Any) -> HFTextEncoder:
    return HFTextEncoder(model, **args)
