"""CLAP's text tower as a text encoder kind: `--model clap:laion/clap-htsat-unfused`.

A jointly trained reference beside text-only language models: its text vectors were trained to meet
audio. Vectors are `ClapModel.get_text_features` (the projected joint space, what CLAP's zero-shot
classification compares with `get_audio_features`).
"""

from __future__ import annotations

import contextlib
import io
from typing import Annotated, Any, Sequence

import numpy as np
from pydantic import Field

from grounding_eval.devices import pick_device
from grounding_eval.encoders import ProgressCallback, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.precision import device_identity
from grounding_eval.text.fingerprints import checkpoint_identity
from grounding_eval.text.hub import ResolvedModel, resolve_model, tokenizer_sha256
from grounding_eval.text.options import ModelArgs
from grounding_eval.validation import Valid



class ClapModelArgs(ModelArgs):
    """`--model-args` of CLAP's text tower (`clap:MODEL`)."""

    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    batch_size: Annotated[int, Field(ge=1), Valid("a whole number >= 1")] = 32
    """prompts per forward pass"""
    device: str | None = None
    """cpu|cuda|cuda:N|auto"""
    max_length: Annotated[int, Field(ge=2), Valid("a whole number >= 2")] = 77
    """token limit per prompt (CLAP's text tower was trained on 77)"""


class ClapTextEncoder(TextEncoder):
    name = "clap"

    def __init__(self, model: str, **args: Any):
        opts = ClapModelArgs.check(args, "clap:")
        self.requested = model
        self.resolved: ResolvedModel = resolve_model(model, opts.revision)
        self._batch_size = opts.batch_size
        self.max_length = opts.max_length
        self.device = pick_device(opts.device)
        from transformers import AutoConfig, AutoTokenizer, ClapModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            model_type = AutoConfig.from_pretrained(self.resolved.path).model_type
            if model_type != "clap":  # ClapModel would load it anyway, with every CLAP weight freshly random
                raise GroundingEvalError(f"--model clap:{model}: a {model_type!r} model, not a CLAP checkpoint; "
                                         "clap: takes a ClapModel (e.g. laion/clap-htsat-unfused)")
            self.tokenizer = AutoTokenizer.from_pretrained(self.resolved.path)
        except (OSError, ValueError) as exc:
            raise GroundingEvalError(f"--model clap:{model}: cannot load its config or tokenizer "
                                     f"({str(exc).splitlines()[0][:160]})") from None
        with contextlib.redirect_stdout(io.StringIO()):
            self.model = ClapModel.from_pretrained(self.resolved.path).to(self.device).eval()

    def identity(self) -> dict[str, Any]:
        return {
            **checkpoint_identity(self.requested, self.resolved),
            "architecture": "ClapModel.get_text_features",
            "max_length": self.max_length,
            "tokenizer": type(self.tokenizer).__name__,
            "tokenizer_sha256": tokenizer_sha256(self.resolved.path),
            **device_identity(self.device),  # a GPU: its class and TF32 settings; nothing on the CPU
        }

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        import torch

        out = []
        for s in range(0, len(texts), self._batch_size):
            batch = list(texts[s : s + self._batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                feats = self.model.get_text_features(**enc)
            feats = feats if hasattr(feats, "shape") else feats.pooler_output
            out.append(feats.float().cpu().numpy())
            if progress:
                progress(len(batch))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def untrained_copy(self) -> "TextEncoder | None":
        """The same architecture with freshly initialised weights (seed 0)."""
        import torch
        from transformers import ClapModel

        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        torch.manual_seed(0)
        clone.model = ClapModel(self.model.config).to(self.device).eval()
        r = self.resolved
        clone.resolved = ResolvedModel(r.requested, r.path, r.source, r.revision, "random-init-seed0:" + r.weights_sha256)
        return clone


def make_clap_text_encoder(model: str, **args: Any) -> ClapTextEncoder:
    return ClapTextEncoder(model, **args)
