"""Any Hugging Face transformers model as a text encoder: the hidden states of one layer (or all), pooled.

Encoder-only models (BERT, MiniLM, MPNet, RoBERTa), decoder-only models (GPT-2, LLaMA, Mistral, Qwen,
Gemma) and the ENCODER of encoder-decoder models (T5: the prompt is read by the encoder; the decoder
would need a target text) load through the same path, from a hub id or a local folder.

Padding: encoders are padded on the right (their absolute position embeddings assume it). Decoders keep
their tokenizer's side (`padding_side=` overrides it) and get position ids counted from the attention
mask, so a left-padded prompt sees the same positions as unpadded; pooling weights are 0 on padding.
Either way, left and right padding give the same vectors (tested).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import traceback
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

import numpy as np
from pydantic import BeforeValidator, Field

from grounding_eval.encoders import ProgressCallback, TextEncoder
from grounding_eval.devices import model_devices, rank_device, resolve_dtype, torch_dtype
from grounding_eval.errors import GroundingEvalError
from grounding_eval.parallel import data_parallel
from grounding_eval.precision import device_identity
from grounding_eval.text import parallel
from grounding_eval.text.fingerprints import checkpoint_identity
from grounding_eval.text.hub import ResolvedModel, resolve_model, tokenizer_sha256
from grounding_eval.text.options import ModelArgs
from grounding_eval.text.pooling import ALIASES, POOLINGS, label_token_mask, token_weights
from grounding_eval.validation import Valid

# The accepted spellings (devices.py resolves them, auto included).
DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")
AUTO_BATCH_START = {"cuda": 512, "cpu": 32}  # auto on CPU: no OOM signal to search with, a fixed size
SHARD_MIN = 256  # prompts per embed call (one cache shard); forward batches are cut from it


def _word(value: Any) -> Any:
    """`ALL`, ` auto ` -> all, auto (command-line words are not case-sensitive); other values unchanged."""
    return value.strip().lower() if isinstance(value, str) else value


class HFModelArgs(ModelArgs):
    """`--model-args` of Hugging Face transformers models."""

    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    dtype: Annotated[Literal[tuple(DTYPES)], Valid(f"valid dtypes are {', '.join(DTYPES)}")] = "auto"
    """auto|fp32|bf16|fp16"""
    layer: Annotated[int | Literal["all"], BeforeValidator(_word),
                     Valid("give an integer (0 = embeddings, -1 = last) or all")] = -1
    """hidden layer index (0 = embeddings, -1 = last, negative counts from the end) or all"""
    pooling: Annotated[Literal[POOLINGS], BeforeValidator(lambda v: ALIASES.get(v, v)),
                       Valid(f"valid poolings are {', '.join(POOLINGS)} (prompt = mean)")] = "mean"
    """mean|label|first|last (label = the concept's own tokens)"""
    # The tokenizer takes 0 or 1 as "no limit" (two special tokens need 2).
    max_length: Annotated[int, Field(ge=2), Valid("give a whole number >= 2")] = 64
    """token limit per prompt"""
    batch_size: Annotated[Annotated[int, Field(ge=1)] | Literal["auto"], BeforeValidator(_word),
                          Valid("give a whole number or auto; at least 1")] = 32
    """prompts per forward pass, or auto (largest that fits the GPU)"""
    device: str | None = None
    """cpu|cuda|cuda:N|auto"""
    device_map: str | None = None
    """accelerate device map, e.g. auto to shard over GPUs"""
    trust_remote_code: Annotated[bool, Valid("true or false")] = False
    """true to run the model repo's own code (off by default)"""
    padding_side: Annotated[Literal["left", "right"] | None, Valid("valid: left, right")] = None
    """left|right for decoder models (default: the tokenizer's)"""
    gguf_file: str | None = None
    """a .gguf file of the folder or hub repo, de-quantised once (text/gguf.py)"""


MODEL_ARGS = HFModelArgs.described()


def _is_oom(exc: BaseException) -> bool:
    from accelerate.utils.memory import should_reduce_batch_size  # imports torch: not at plugin registration

    return bool(should_reduce_batch_size(exc))


def broken_weights(requested: str, path: str, exc: BaseException) -> BaseException:
    """The one-line error for weights that would not load, naming the damaged file when one is (`exc` itself
    when it is not a damaged file: a bug stays a traceback)."""
    why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"
    bad = [f for f in sorted(Path(path).glob("*.safetensors")) if not _safetensors_readable(f)]
    if bad:
        return GroundingEvalError(f"--model {requested}: {bad[0]} is truncated or corrupt ({why}); re-download it "
                                  "(or save the model again)")
    if type(exc).__name__ in ("SafetensorError", "UnpicklingError", "EOFError") or "PytorchStreamReader" in str(exc):
        return GroundingEvalError(f"--model {requested}: its weights in {path} are truncated or corrupt ({why}); "
                                  "re-download them (or save the model again)")
    return exc


def _safetensors_readable(file: Path) -> bool:
    """Whether a .safetensors file's header parses and covers the file (a truncated one fails here)."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="numpy"):
            return True
    except Exception:  # SafetensorError, OSError: any failure to open is a damaged file
        return False


def is_decoder_only(config: Any) -> bool:
    """A causal LM family that is not also a masked LM (BERT and RoBERTa are both; GPT-2, LLaMA are not)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        return False
    mt = getattr(config, "model_type", "")
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


class HFTextEncoder(TextEncoder):
    """Hidden states of a transformers model, pooled over the prompt's (or the concept's) tokens."""

    name = "hf"

    def __init__(self, model: str, **args: Any):
        opts = HFModelArgs.check(args, "Hugging Face")
        self.requested = model
        self.layer = opts.layer
        self.pooling = opts.pooling
        self.max_length = opts.max_length
        self.device_map = opts.device_map
        world_size = data_parallel()[1]
        if self.device_map and world_size > 1:  # before any collective: every process refuses alike
            raise GroundingEvalError(
                f"--model-args device_map={self.device_map}: under accelerate launch (WORLD_SIZE={world_size}) every "
                "process would shard its own copy over all the GPUs; drop device_map (each process takes its own "
                "GPU) or run one process without accelerate launch to shard a model too big for one GPU")
        self.world = parallel.current_world()
        self.device = rank_device(opts.device)  # under accelerate launch: this process's own GPU
        self.auto_batch = opts.batch_size == "auto"
        if self.auto_batch:
            self._forward_batch = AUTO_BATCH_START["cuda" if self.device.startswith("cuda") or self.device_map else "cpu"]
        else:
            self._forward_batch = opts.batch_size
        self.padding_side = opts.padding_side
        self.trust_remote_code = opts.trust_remote_code
        self.resolved: ResolvedModel = resolve_model(model, opts.revision, opts.gguf_file)
        self._load(opts.dtype)

    # ---- loading -------------------------------------------------------------------------------------
    def _load(self, dtype: str) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bars speak for the run; theirs would interleave

        path = self.resolved.path
        try:
            self.config = AutoConfig.from_pretrained(path, trust_remote_code=self.trust_remote_code)
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=self.trust_remote_code)
        except ValueError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = " (set trust_remote_code=true only if you trust its code)" if "trust_remote_code" in str(exc) else ""
            raise GroundingEvalError(f"--model {self.requested}: {first}{hint}") from None
        except OSError as exc:
            raise GroundingEvalError(f"--model {self.requested}: cannot load its config or tokenizer ({str(exc).splitlines()[0][:160]})") from None
        if not self.tokenizer.is_fast and self.pooling == "label":
            raise GroundingEvalError(
                f"--model-args pooling=label: {self.requested} has no fast tokenizer (character offsets are needed); use pooling=mean"
            )
        # Decoder models often ship without a pad token; any token works because the weights hide it.
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.decoder_only = is_decoder_only(self.config)
        if self.decoder_only:
            self.pad_side = self.padding_side or self.tokenizer.padding_side
        else:
            self.pad_side = "right"  # absolute position embeddings of encoders assume right padding

        # Always a dtype of ours (auto: the rule in devices.py), never the checkpoint's (transformers 5's default).
        chosen = resolve_dtype(dtype, model_devices(self.device, self.device_map), "--model-args dtype")
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code, "dtype": torch_dtype(chosen)}
        if self.device_map:
            kwargs["device_map"] = self.device_map  # accelerate places (and shards) the weights
        elif self.device != "cpu":
            # Straight to this process's device, tensor by tensor: no whole copy in host RAM per process first.
            kwargs["device_map"] = {"": self.device}
        try:
            self.model = self._build(AutoModel, path, kwargs)
        except ValueError as exc:
            raise GroundingEvalError(f"--model {self.requested}: {str(exc).strip().splitlines()[0][:200]}") from None
        except Exception as exc:  # a truncated or damaged weights file (safetensors' SafetensorError, torch's ...)
            raise broken_weights(self.requested, path, exc) from None
        if self.device == "cpu" and not self.device_map:
            self.model.to(self.device)
        self.model.eval()
        self.dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        self._takes_position_ids = "position_ids" in inspect.signature(self.model.forward).parameters

    def _build(self, auto_cls, path: str, kwargs: dict[str, Any]):
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # load-time notes (unused pooler weights, ...) are not the user's problem
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                model = auto_cls.from_pretrained(path, **kwargs)
        finally:
            hf_logging.set_verbosity(level)
        self.placement = getattr(model, "hf_device_map", None)  # where accelerate put each part (random-init copies too)
        # Encoder-decoder models (T5, BART): the encoder alone reads the prompt.
        if getattr(self.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
            return model.get_encoder()
        return model

    # ---- protocol ------------------------------------------------------------------------------------
    @property
    def uses_spans(self) -> bool:
        return self.pooling == "label"

    @property
    def batch_size(self) -> int:
        return max(SHARD_MIN, self._forward_batch)

    def identity(self) -> dict[str, Any]:
        return {
            **checkpoint_identity(self.requested, self.resolved),
            "architecture": (self.config.architectures or [type(self.model).__name__])[0],
            "model_type": getattr(self.config, "model_type", None),
            "part": "encoder" if getattr(self.config, "is_encoder_decoder", False) else "whole",
            "dtype": self.dtype,
            "layer": self.layer,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "tokenizer": type(self.tokenizer).__name__,
            "tokenizer_sha256": tokenizer_sha256(self.resolved.path),
            "padding_side": "mask-aware",
            # A GPU: its class and precision settings (precision.py); nothing on the CPU. Batch size stays
            # out: within one device and dtype it moves vectors only at that dtype's rounding.
            **device_identity(self.compute_devices()),
        }

    def compute_devices(self) -> list[Any]:
        """Where the forward runs: the device map's places when accelerate placed the model, else where its
        weights are (a T5 encoder taken from a placed model has no map of its own)."""
        placed = getattr(self.model, "hf_device_map", None)
        return list(placed.values()) if placed else sorted({str(p.device) for p in self.model.parameters()})

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None,
              spans: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
        """(n, d) vectors, or (n, n_layers, d) for layer=all. Data parallel when launched so."""
        texts = list(texts)
        if self.pooling == "label" and spans is None:
            raise GroundingEvalError("pooling=label needs each concept's character span in its prompt; the caller gave none")
        if self.pooling == "label":
            blank = next((t for t, (a, b) in zip(texts, spans) if not t[a:b].strip()), None)
            if blank is not None:  # no token overlaps it: not a max_length cut (pooling.token_weights says that one)
                a, b = spans[texts.index(blank)]
                raise GroundingEvalError(f"pooling=label: the concept's text {blank[a:b]!r} in the prompt {blank!r} is "
                                         "blank: no token to pool; give the concept a name or use --model-args pooling=mean")
        mine = parallel.share(len(texts), self.world)
        local = self._embed_local([texts[i] for i in mine], [spans[i] for i in mine] if spans is not None else None, progress)
        out = parallel.gather(local, len(texts), self.world)
        if progress and self.world.size > 1:
            progress(len(texts) - len(mine))
        return out

    # ---- the forward passes --------------------------------------------------------------------------
    def _embed_local(self, texts: list[str], spans, progress) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0,), np.float32)
        need_offsets = self.pooling == "label"
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False,
                             return_offsets_mapping=need_offsets, return_attention_mask=False)
        ids: list[list[int]] = enc["input_ids"]
        types = enc.get("token_type_ids")
        label_masks = [label_token_mask(o, s) for o, s in zip(enc["offset_mapping"], spans)] if need_offsets else None
        # Longest first: batches of similar length waste less on padding, and the first batch is the
        # largest one, so an automatic batch size that fits it fits every later one.
        order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
        out = np.empty((0,), np.float32)
        done = 0

        def embed_from(batch_size: int) -> None:  # resumes after the prompts already embedded
            nonlocal out, done
            self._forward_batch = batch_size
            while done < len(order):
                chunk = order[done : done + batch_size]
                try:
                    vecs = self._forward([ids[j] for j in chunk], [types[j] for j in chunk] if types else None,
                                         [label_masks[j] for j in chunk] if label_masks else None)
                except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
                    if not _is_oom(exc):
                        raise
                    if not self.auto_batch:
                        raise GroundingEvalError(f"out of memory at batch_size={batch_size}; "
                                                 "use --model-args batch_size=auto or a smaller one") from None
                    # The traceback holds the failed forward's frames, and so its activations: without
                    # this, accelerate's gc + empty_cache before the retry would free none of them.
                    traceback.clear_frames(exc.__traceback__)
                    raise exc.with_traceback(None)
                if done == 0:
                    out = np.empty((len(texts), *vecs.shape[1:]), np.float32)
                out[chunk] = vecs
                done += len(chunk)
                if progress:
                    progress(len(chunk))

        if not self.auto_batch:
            embed_from(self._forward_batch)
            return out
        # batch_size=auto: accelerate retries after an out-of-memory error with half the batch
        from accelerate.utils import find_executable_batch_size  # imports torch, as this method already has

        halve = lambda: self._forward_batch // 2  # noqa: E731
        try:
            find_executable_batch_size(embed_from, self._forward_batch, halve)()
        except RuntimeError as exc:
            if "No executable batch size" not in str(exc):
                raise
            raise GroundingEvalError("out of memory at batch_size=1; free GPU memory or use --device cpu") from None
        return out

    def _forward(self, ids: list[list[int]], types: list[list[int]] | None, label_masks) -> np.ndarray:
        import torch

        width = max(len(x) for x in ids)
        pad_id = self.tokenizer.pad_token_id
        input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
        attention = np.zeros((len(ids), width), dtype=np.int64)
        token_types = np.zeros((len(ids), width), dtype=np.int64) if types else None
        for r, row in enumerate(ids):
            sl = slice(width - len(row), width) if self.pad_side == "left" else slice(0, len(row))
            input_ids[r, sl] = row
            attention[r, sl] = 1
            if token_types is not None:
                token_types[r, sl] = types[r]
        device = self.model.device
        feed: dict[str, Any] = {"input_ids": torch.from_numpy(input_ids).to(device),
                                "attention_mask": torch.from_numpy(attention).to(device)}
        if token_types is not None:
            feed["token_type_ids"] = torch.from_numpy(token_types).to(device)
        if self.decoder_only and self._takes_position_ids:
            # Positions count real tokens only, so left padding does not shift them.
            feed["position_ids"] = torch.from_numpy(np.clip(attention.cumsum(1) - 1, 0, None)).to(device)
        with torch.inference_mode():
            hidden = self.model(**feed, output_hidden_states=True).hidden_states
        n = len(hidden)
        weights = torch.from_numpy(token_weights(self.pooling, attention, label_masks))
        if self.layer == "all":
            # One layer at a time: at most one fp32 (b, s, d) temporary beside the model's own hidden states,
            # not the three fp32 (b, L, s, d) copies a stack made. Each layer is still pooled in fp32, as
            # before (pooling in bf16 would change the numbers under the same key).
            w = weights.to(hidden[0].device)[:, :, None]
            pooled = torch.stack([pool(h, w.to(h.device)).to(w.device) for h in hidden], 1)
        else:
            if not -n <= self.layer < n:
                raise GroundingEvalError(
                    f"--model-args layer={self.layer}: {self.requested} has layers 0..{n - 1} (or -1..-{n}), or all"
                )
            h = hidden[self.layer]
            pooled = pool(h, weights.to(h.device)[:, :, None])
        return pooled.cpu().numpy()

    def untrained_copy(self) -> "TextEncoder | None":
        """The same architecture and tokenizer with freshly initialised weights (seed 0), in the trained
        model's dtype (the one its identity states) and placed as it is."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.model = self._random_model().eval()
        clone.resolved = ResolvedModel(
            self.requested, self.resolved.path, self.resolved.source, self.resolved.revision,
            "random-init-seed0:" + self.resolved.weights_sha256, self.resolved.gguf,
        )
        return clone

    def _random_model(self):
        """On the CPU: built whole there, as before (CPU keys and numbers unchanged). Elsewhere: built on the
        meta device and made real one module at a time (initialised on the CPU with the same seed whatever
        the device, then moved), so no process holds a whole copy in host RAM, and a device map is kept."""
        import torch
        from accelerate import dispatch_model, init_empty_weights
        from transformers import AutoModel

        dtype = getattr(torch, self.dtype)  # transformers 5 would build in config.dtype (bf16 for LLaMA)
        placement = getattr(self, "placement", None)
        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()):
            if placement is None and self.device == "cpu":
                model = AutoModel.from_config(self.config, dtype=dtype)
            else:
                with init_empty_weights():
                    model = AutoModel.from_config(self.config, dtype=dtype)
                places = {k: "cpu" if v == "disk" else v for k, v in (placement or {"": self.device}).items()}
                materialise(model, places)
                if len(set(places.values())) > 1:
                    model = dispatch_model(model, device_map=places)  # the hooks that carry activations across
                if placement is not None:
                    model.hf_device_map = places  # as from_pretrained records it (the key's device class reads it)
        return model.get_encoder() if getattr(self.config, "is_encoder_decoder", False) else model


def pool(h: Any, w: Any) -> Any:
    """(b, s, d) hidden states weighted by (b, s, 1) token weights, summed over tokens, in fp32; `where`: a NaN
    on padding must not leak."""
    import torch

    return torch.where(w > 0, h.float(), 0).mul(w).sum(1)


def _place(name: str, places: dict[str, Any]) -> Any:
    """The device a module goes to: the entry of the longest device-map prefix of its name (None: a container
    above the map's entries, which holds no weights of its own)."""
    found = [k for k in places if k == "" or name == k or name.startswith(k + ".")]
    if not found:
        return None
    value = places[max(found, key=len)]
    return f"cuda:{value}" if isinstance(value, int) else value


def materialise(model: Any, places: dict[str, Any]) -> None:
    """Make a meta-device model real module by module: its own parameters drawn on the CPU (the module's
    reset, then transformers' init, as `from_config` does), then moved to its place with its buffers."""
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if any(p.is_meta for p in own):
            module.to_empty(device="cpu", recurse=False)
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            model._init_weights(module)
        target = _place(name, places)
        if target is None:
            continue
        for key, p in module._parameters.items():
            if p is not None and str(p.device) != str(target):
                module._parameters[key] = type(p)(p.data.to(target), requires_grad=False)
        for key, b in module._buffers.items():
            if b is not None:
                module._buffers[key] = b.to(target)


def make_hf_encoder(model: str, **args: Any) -> HFTextEncoder:
    return HFTextEncoder(model, **args)


def make_random_init_encoder(model: str, **args: Any) -> HFTextEncoder:
    """`random-init:MODEL`: MODEL's architecture and tokenizer with freshly initialised weights (seed 0), the
    same thing as the random_init control, runnable (and submittable) as a model of its own."""
    return HFTextEncoder(model, **args).untrained_copy()
