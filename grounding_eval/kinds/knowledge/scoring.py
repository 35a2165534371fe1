"""Scoring a choice: the log-likelihood of a continuation given a context, as lm-evaluation-harness computes it.

- Causal LMs (LLaMA, SmolLM2, Gemma, GPT-2, Qwen, ...): the model is loaded through the same path as the
  probe's text models (`text/hub.resolve_model`: hub, local folder, the GGUF wheels de-quantised once; dtype
  and device rules from `devices.py`; accelerate's device_map). A request (context, continuation) is encoded
  as lm-eval does: trailing spaces of the context move to the continuation, the whole string and the context
  are tokenised without special tokens and the continuation's tokens are what the whole has beyond the
  context's; an empty context is the tokenizer's BOS (else EOS, else CLS) token. The score is the sum of the
  continuation tokens' log-probabilities, and `is_greedy` whether each was the argmax.
- Masked LMs with their MLM head (BertForMaskedLM, RobertaForMaskedLM, ...): pseudo-log-likelihood (Salazar
  et al. 2020): each continuation token masked in turn, the rest of context + continuation visible.
  A checkpoint without the head (all-MiniLM-L6-v2 is a bare BertModel) is refused in one line, as are static
  vectors, CLAP and encoder-decoder models.

Scores go through the embedding cache (`cache.py`): one namespace per model identity (weights, dtype, device
class, max_length, scoring method, this module's FORMAT), one entry per (context, continuation).
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from grounding_eval.cache import EmbeddingCache
from grounding_eval.devices import (
    model_devices,
    rank_device,
    resolve_dtype,
    torch_dtype,
)
from grounding_eval.embedding import split_model_kind
from grounding_eval.encoders import stable_hash
from grounding_eval.errors import GroundingEvalError
from grounding_eval.precision import device_identity
from grounding_eval.text.hf import DTYPES, broken_weights, is_decoder_only
from grounding_eval.text.fingerprints import checkpoint_identity
from grounding_eval.text.hub import ResolvedModel, resolve_model, tokenizer_sha256
from grounding_eval.text.options import ModelArgs
from grounding_eval.validation import Valid

FORMAT = 1  # bump when a change here changes a score: old cache entries are then not reused
MODEL_KINDS = ("hf", "static", "clap", "random-init")
REFUSED = {
    "static": "static word vectors assign no probability to a text, so they cannot score a choice",
    "clap": "CLAP's text tower embeds a text but assigns it no probability, so it cannot score a choice",
}
Request = tuple[str, str]  # (context, continuation)


class KnowledgeModelArgs(ModelArgs):
    """`--model-args` of knowledge tasks (layers and pooling mean nothing here: the LM head scores)."""

    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    dtype: Annotated[Literal[tuple(DTYPES)], Valid(f"valid dtypes are {', '.join(DTYPES)}")] = "auto"
    """auto|fp32|bf16|fp16"""
    max_length: Annotated[int, Field(ge=8), Valid("a whole number >= 8")] = 2048
    """tokens per request; a longer one keeps its last max_length tokens (lm-eval's left truncation)"""
    batch_size: Annotated[int, Field(ge=1), Valid("a whole number >= 1")] = 16
    """requests per forward pass"""
    device: str | None = None
    """cpu|cuda|cuda:N|auto"""
    device_map: str | None = None
    """accelerate device map, e.g. auto to shard over GPUs"""
    trust_remote_code: Annotated[bool, Valid("true or false")] = False
    gguf_file: str | None = None
    """a .gguf file of the folder or hub repo, de-quantised once (text/gguf.py)"""


def encode_pair(tokenizer: Any, context: str, continuation: str, add_bos: bool = False) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens) as lm-eval's HFLM._encode_pair makes them; `add_bos`: the context
    starts with BOS (lm-eval turns this on for Gemma, which is trained to always see it)."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    if not context:
        return [prefix_token(tokenizer)], tokenizer(continuation, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if add_bos and tokenizer.bos_token_id is not None else []
    return bos + ctx, whole[len(ctx):]


def needs_bos(config: Any) -> bool:
    """lm-eval's rule: Gemma models get BOS at the start of every context."""
    return str(getattr(config, "model_type", "")).startswith("gemma")


def prefix_token(tokenizer: Any) -> int:
    """What stands for an empty context: BOS, else EOS (lm-eval's prefix_token_id), else CLS."""
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.cls_token_id):
        if tid is not None:
            return int(tid)
    raise GroundingEvalError("the tokenizer has no BOS, EOS or CLS token to stand for an empty context (choice-only)")


def request_key(context: str, continuation: str) -> str:
    return stable_hash({"context": context, "continuation": continuation})


def score_cache_key(identity: dict[str, Any]) -> str:
    """The cache namespace of a model's scores: everything that changes a number."""
    return stable_hash({"kind": "knowledge-scores", "format": FORMAT, **identity})


class Scorer:
    """A language model that scores continuations: `loglikelihoods(requests) -> (n, 2)` [sum log p, is_greedy]."""

    method = "loglikelihood"
    auto_class = "AutoModelForCausalLM"

    def __init__(self, requested: str, resolved: ResolvedModel, opts: KnowledgeModelArgs, config: Any, tokenizer: Any,
                 model: Any, dtype: str, device: str):
        self.requested, self.resolved, self.opts = requested, resolved, opts
        self.config, self.tokenizer, self.model, self.dtype, self.device = config, tokenizer, model, dtype, device

    def identity(self) -> dict[str, Any]:
        return {
            **checkpoint_identity(self.requested, self.resolved),
            "architecture": type(self.model).__name__,
            "model_type": getattr(self.config, "model_type", None),
            "dtype": self.dtype,
            "max_length": self.opts.max_length,
            "tokenizer": type(self.tokenizer).__name__,
            "tokenizer_sha256": tokenizer_sha256(self.resolved.path),
            "scoring": self.method,
            **({"add_bos": True} if needs_bos(self.config) else {}),  # absent otherwise: other models' keys unchanged
            **device_identity(sorted({str(p.device) for p in self.model.parameters()})),
        }

    # ---- the random-init control ---------------------------------------------------------------------
    def untrained_copy(self) -> Scorer:
        """The same architecture and tokenizer, weights freshly drawn with seed 0, in the trained model's dtype
        (as the probe's random_init control: text/hf.py)."""
        import torch
        import transformers

        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()):
            model = getattr(transformers, self.auto_class).from_config(self.config, dtype=getattr(torch, self.dtype))
        model.to(next(self.model.parameters()).device).eval()
        resolved = ResolvedModel(self.requested, self.resolved.path, self.resolved.source, self.resolved.revision,
                                 "random-init-seed0:" + self.resolved.weights_sha256, self.resolved.gguf)
        return type(self)(f"random-init:{self.requested}", resolved, self.opts, self.config, self.tokenizer, model,
                          self.dtype, self.device)

    # ---- scoring -------------------------------------------------------------------------------------
    def loglikelihoods(self, requests: Sequence[Request]) -> np.ndarray:
        encoded = [encode_pair(self.tokenizer, c, x, needs_bos(self.config)) for c, x in requests]
        out = np.zeros((len(requests), 2), np.float64)
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
        bs = self.opts.batch_size
        for s in range(0, len(order), bs):
            chunk = order[s:s + bs]
            out[chunk] = self._forward([encoded[i] for i in chunk])
        return out

    def _forward(self, pairs: list[tuple[list[int], list[int]]]) -> np.ndarray:
        """lm-eval's loglikelihood for a batch: input = (context + continuation)[-(max_length+1):][:-1]. Left-padded
        with position ids counted from the mask (the same positions as unpadded), so that only the last K positions
        (K: the longest continuation) go through the LM head and the softmax: most of the vocabulary-sized work."""
        import torch

        rows, conts = [], []
        for ctx, cont in pairs:
            if not cont:
                raise GroundingEvalError("a choice encodes to no tokens; every choice must be non-empty text")
            full = (ctx + cont)[-(self.opts.max_length + 1):]
            rows.append(full[:-1])
            conts.append(cont[-(len(full) - 1):] if len(cont) > len(full) - 1 else cont)
        width, keep = max(len(r) for r in rows), max(len(c) for c in conts)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, width - len(row):] = torch.tensor(row)
            mask[r, width - len(row):] = 1
        device = self.model.device
        feed = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        takes = inspect.signature(self.model.forward).parameters
        if "position_ids" in takes:
            feed["position_ids"] = (mask.cumsum(1) - 1).clamp(min=0).to(device)
        if "logits_to_keep" in takes:
            feed["logits_to_keep"] = keep
        with torch.inference_mode():
            logits = self.model(**feed).logits[:, -keep:].float()
        logp = torch.log_softmax(logits, -1).cpu()
        out = np.zeros((len(rows), 2))
        for r, cont in enumerate(conts):
            target = torch.tensor(cont)
            lp = logp[r, keep - len(cont):]
            out[r] = [float(lp.gather(1, target[:, None]).sum()), float(bool((lp.argmax(-1) == target).all()))]
        return out


class MaskedLMScorer(Scorer):
    """Pseudo-log-likelihood: each continuation token masked in turn (Salazar et al. 2020)."""

    method = "pseudo_loglikelihood"
    auto_class = "AutoModelForMaskedLM"

    def loglikelihoods(self, requests: Sequence[Request]) -> np.ndarray:
        import torch

        tok = self.tokenizer
        out = np.zeros((len(requests), 2))
        for i, (context, continuation) in enumerate(requests):
            plain = tok(context + continuation, add_special_tokens=False)["input_ids"]
            ctx = tok(context, add_special_tokens=False)["input_ids"] if context.strip() else []
            cont = plain[len(ctx):]
            body = tok(context + continuation)["input_ids"]  # with the model's special tokens ([CLS] ... [SEP])
            lead = next(k for k in range(len(body) - len(plain) + 1) if body[k:k + len(plain)] == plain)
            start = lead + len(ctx)
            batch = torch.tensor([body] * len(cont))
            positions = torch.arange(start, start + len(cont))
            batch[torch.arange(len(cont)), positions] = tok.mask_token_id
            with torch.inference_mode():
                logits = self.model(input_ids=batch.to(self.model.device)).logits.float().cpu()
            lp = torch.log_softmax(logits[torch.arange(len(cont)), positions], -1)
            target = torch.tensor(cont)
            out[i] = [float(lp.gather(1, target[:, None]).sum()), float(bool((lp.argmax(-1) == target).all()))]
        return out


def _load(path: str, requested: str, auto_cls: Any, kwargs: dict[str, Any], info: bool = False) -> Any:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return auto_cls.from_pretrained(path, output_loading_info=info, **kwargs)
    except ValueError as exc:
        raise GroundingEvalError(f"--model {requested}: {str(exc).strip().splitlines()[0][:200]}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged weights file: one line naming it (else re-raised as it is)
        raise broken_weights(requested, path, exc) from None
    finally:
        hf_logging.set_verbosity(level)


def make_scorer(model: str, model_args: dict[str, Any], device: str | None) -> Scorer:
    """The scorer `--model` names (`random-init:NAME`: NAME's architecture with weights drawn with seed 0)."""
    kind, name = split_model_kind(model, MODEL_KINDS)
    if kind in REFUSED:
        raise GroundingEvalError(f"--model {model}: {REFUSED[kind]}; knowledge tasks need a causal LM "
                                 "(or a masked LM with its MLM head)")
    opts = KnowledgeModelArgs.check(dict(model_args), "knowledge")
    scorer = _load_scorer(name, opts, device)
    return scorer.untrained_copy() if kind == "random-init" else scorer


def _load_scorer(model: str, opts: KnowledgeModelArgs, device: str | None) -> Scorer:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoTokenizer,
    )
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    resolved = resolve_model(model, opts.revision, opts.gguf_file)
    path = resolved.path
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=opts.trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=opts.trust_remote_code)
    except (ValueError, OSError) as exc:
        raise GroundingEvalError(f"--model {model}: cannot load its config or tokenizer "
                                 f"({(str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    where = rank_device(opts.device or device)
    chosen = resolve_dtype(opts.dtype, model_devices(where, opts.device_map), "--model-args dtype")
    kwargs: dict[str, Any] = {"trust_remote_code": opts.trust_remote_code, "dtype": torch_dtype(chosen)}
    if opts.device_map:
        kwargs["device_map"] = opts.device_map
    elif where != "cpu":
        kwargs["device_map"] = {"": where}
    arch = (getattr(config, "architectures", None) or [type(config).__name__])[0]
    if is_decoder_only(config):
        lm, cls = _load(path, model, AutoModelForCausalLM, kwargs), Scorer
    elif getattr(config, "model_type", "") in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not config.is_encoder_decoder:
        lm, info = _load(path, model, AutoModelForMaskedLM, kwargs, info=True)
        missing = sorted(info["missing_keys"])
        if missing:
            raise GroundingEvalError(
                f"--model {model}: its checkpoint is a {arch} without the masked-LM head ({missing[0]} "
                "and others are missing), so it cannot score a choice; knowledge tasks need a causal LM or a masked LM "
                "saved with its MLM head")
        cls = MaskedLMScorer
    else:
        raise GroundingEvalError(f"--model {model}: a {arch} ({getattr(config, 'model_type', '?')}) is neither a causal "
                                 "LM nor a masked LM with its head, so it cannot score a choice")
    lm.eval()
    dtype = str(next(lm.parameters()).dtype).replace("torch.", "")
    return cls(model, resolved, opts, config, tokenizer, lm, dtype, where)


def cached_loglikelihoods(scorer: Scorer, requests: Sequence[Request], cache: EmbeddingCache,
                          progress: Any = None) -> np.ndarray:
    """(n, 2) scores of `requests`, computing only those the cache lacks (one shard per batch)."""
    ident = scorer.identity()
    keys = [request_key(c, x) for c, x in requests]
    vecs, _ = cache.embed(score_cache_key(ident), {"kind": "knowledge-scores", **ident}, keys, list(requests),
                          lambda batch, _p: scorer.loglikelihoods(batch).astype(np.float32), 256, progress)
    return np.asarray(vecs, np.float64).reshape(len(requests), 2)


__all__ = [
    "KnowledgeModelArgs",
    "MaskedLMScorer",
    "Scorer",
    "cached_loglikelihoods",
    "encode_pair",
    "make_scorer",
    "request_key",
    "score_cache_key",
]
