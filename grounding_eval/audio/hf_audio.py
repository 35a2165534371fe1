"""Transformers audio models as backbones: AST, CLAP's audio tower, Wav2Vec2, HuBERT, Whisper's encoder.

Each family names its default hub checkpoint, how its feature extractor is called and which output
is the clip embedding. `model=` takes a hub id or a local folder written by save_pretrained (with the
feature extractor's preprocessor_config.json), resolved like text models (`grounding_eval.text.hub`).

Embeddings:
- ast: `pooled` (the mean of the [CLS] and distillation tokens after the last layer, what the AudioSet
  classifier reads; 768-d for the published model) or `logits` (527 AudioSet classes);
- clap: `projected` (the joint audio-text space, 512-d, what zero-shot retrieval compares) or `pooled`
  (the audio tower's pooled output before the projection);
- wav2vec2, hubert, whisper: hidden states of `layer` (default -1, the last), pooled over the frames
  that hold audio (`pooling` mean, max or mean+max).

Windows (`grounding_eval/audio/windows.py`): clips are cut into the model's fixed input length, windows of
different clips share a forward, and a clip's vector is the mean over its windows. The window is the
extractor's own input length: AST's max_length frames (10.24 s for the published model; the extractor
pads a shorter window's filterbank), CLAP's nb_max_samples (10 s; its extractor repeats-and-pads a
shorter one, and never meets a longer one, which it would crop at random), Whisper's 30 s (its extractor
zero-pads; the padding frames are left out of the pool). wav2vec2 and HuBERT take any length; their
declared window is 10 s: each window is normalised on its own samples, then zero-padded to 10 s with an
attention mask for the models trained with one (feat_extract_norm="layer"); without one (the base
models) the padding is seen, as HF's own batched inference does; only the frames holding audio are pooled.
`window_seconds` shortens any window (wav2vec2/HuBERT: sets it).

AudioMAE has no loadable implementation in transformers (nor any PyPI package with its weights), so it
is not offered.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, create_model

from grounding_eval.audio.backbone import Whole
from grounding_eval.audio.pipeline import POOLINGS, pool_time
from grounding_eval.audio.torch_backbone import TorchAudioBackbone, TorchOptions
from grounding_eval.audio.windows import Windows
from grounding_eval.devices import torch_dtype
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text.fingerprints import checkpoint_identity
from grounding_eval.text.hub import resolve_model


@dataclass(frozen=True)
class Family:
    name: str
    default_model: str
    embeddings: tuple[str, ...]  # the first is the default
    description: str


FAMILIES = {
    "ast": Family("ast", "MIT/ast-finetuned-audioset-10-10-0.4593", ("pooled", "logits"),
                  "Audio Spectrogram Transformer fine-tuned on AudioSet (supervised), 16 kHz; embedding=pooled | logits"),
    "clap": Family("clap", "laion/clap-htsat-unfused", ("projected", "pooled"),
                   "CLAP audio tower (ClapModel), 48 kHz; embedding=projected (joint audio-text space) | pooled"),
    "wav2vec2": Family("wav2vec2", "facebook/wav2vec2-base", ("hidden",),
                       "Wav2Vec2 (self-supervised), 16 kHz; hidden states of `layer` pooled over time"),
    "hubert": Family("hubert", "facebook/hubert-base-ls960", ("hidden",),
                     "HuBERT (self-supervised), 16 kHz; hidden states of `layer` pooled over time"),
    "whisper": Family("whisper", "openai/whisper-base", ("hidden",),
                      "Whisper's encoder, 16 kHz, 30 s windows; hidden states of `layer` pooled over the audio frames"),
}


class HFAudioOptions(TorchOptions):
    """Options of a transformers audio family (its embeddings are a per-family set: `family_options`)."""

    model: str | None = None
    """hub id or local folder (default: the family's reference checkpoint)"""
    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    embedding: str = "hidden"
    """which output: the family's embeddings"""
    layer: Whole = -1
    """hidden layer index (-1 = last)"""
    pooling: Literal[POOLINGS] = "mean"
    """how frames pool over time"""


@functools.cache
def family_options(family: Family) -> type[HFAudioOptions]:
    """HFAudioOptions with `embedding` limited to what `family` gives (its first one by default)."""
    embedding = Literal[family.embeddings]  # type: ignore[valid-type]
    return create_model(f"{family.name}_options", __base__=HFAudioOptions,
                        embedding=(embedding, Field(family.embeddings[0], description="which output")))


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


class HFAudioBackbone(TorchAudioBackbone):
    """One transformers audio family; options: model, revision, embedding, layer, pooling, dtype, base keywords."""

    # wav2vec2 / HuBERT take any length: a declared window.
    SELF_SUPERVISED_WINDOW_SECONDS = 10.0

    def __init__(self, family: str, **options: Any) -> None:
        self.family = FAMILIES[family]
        self.name = family
        self.Options = family_options(self.family)
        opts = self.Options.check(family, options)
        self.model_id = opts.model or self.family.default_model
        revision = opts.revision
        self.embedding = opts.embedding
        self.layer = opts.layer
        self.pooling = opts.pooling
        try:
            self.resolved = resolve_model(self.model_id, revision)
        except GroundingEvalError as exc:
            raise GroundingEvalError(f"audio backbone {family!r}: {exc}".replace("--model ", "model=")) from None
        _quiet_transformers()
        from transformers import AutoConfig, AutoFeatureExtractor

        try:
            self.config = AutoConfig.from_pretrained(self.resolved.path)
            self.extractor = AutoFeatureExtractor.from_pretrained(self.resolved.path)
        except (OSError, ValueError) as exc:
            raise GroundingEvalError(f"audio backbone {family!r}: model={self.model_id}: cannot load its config or "
                                     f"feature extractor ({str(exc).strip().splitlines()[0][:160]})") from None
        self.sample_rate = int(self.extractor.sampling_rate)
        super().__init__(opts)
        self._windows = self._make_windows()
        self.embedding_dim = self._dim()

    def _make_windows(self) -> Windows:
        """The family's fixed input (see the module docstring) and what a shorter window becomes."""
        ex, sr = self.extractor, self.sample_rate
        if self.name == "ast":
            # Kaldi fbank frames: 25 ms window, 10 ms shift, no edge padding.
            longest = (int(ex.max_length) - 1) * round(0.010 * sr) + round(0.025 * sr)
            short = f"AST's extractor pads the filterbank to {ex.max_length} frames"
        elif self.name == "clap":
            longest = int(ex.nb_max_samples)
            short = f"CLAP's extractor pads it ({ex.padding})"
        elif self.name == "whisper":
            longest = int(ex.n_samples)
            short = "Whisper's extractor zero-pads it; padding frames left out of the pool"
        else:
            samples = self.window_samples(self.SELF_SUPERVISED_WINDOW_SECONDS)
            mask = "with" if self.config.feat_extract_norm == "layer" else "without"
            return Windows(samples, sr, f"normalised, zero-padded, {mask} attention mask; padding frames left out of the pool")
        return Windows(self.window_samples(longest / sr, longest / sr), sr, short)

    def windows(self) -> Windows:
        return self._windows

    def _dim(self) -> int:
        c = self.config
        if self.name == "ast":
            return len(c.id2label) if self.embedding == "logits" else c.hidden_size
        if self.name == "clap":
            return c.projection_dim if self.embedding == "projected" else c.audio_config.hidden_size
        d = c.d_model if self.name == "whisper" else c.hidden_size
        return 2 * d if self.pooling == "mean+max" else d

    def backbone_identity(self) -> dict[str, Any]:
        ident = {
            "backbone": self.name,
            **checkpoint_identity(self.model_id, self.resolved),
            "architecture": (self.config.architectures or [type(self.config).__name__])[0],
            "feature_extractor": type(self.extractor).__name__,
            "embedding": self.embedding,
            **self.precision_identity(),
        }
        if self.embedding == "hidden":
            ident.update(layer=self.layer, pooling=self.pooling)
        return ident

    def load(self) -> Any:
        import transformers as tf

        path = self.resolved.path
        # fp32 weights whatever the checkpoint holds (transformers 5 would keep a half-precision file's
        # dtype): half precision is autocast around the forward (torch_backbone), never stored.
        fp32 = {"dtype": torch_dtype("fp32")}
        with contextlib.redirect_stdout(io.StringIO()):
            if self.name == "ast":
                cls = tf.ASTForAudioClassification if self.embedding == "logits" else tf.ASTModel
                return cls.from_pretrained(path, **fp32)
            if self.name == "clap":
                return tf.ClapModel.from_pretrained(path, **fp32)
            if self.name == "whisper":
                return tf.WhisperModel.from_pretrained(path, **fp32).get_encoder()
            return tf.AutoModel.from_pretrained(path, **fp32)

    def _features(self, batch: Any, lengths: list[int], **kw: Any) -> dict[str, Any]:
        """The extractor on each window's own samples (never on our zero padding)."""
        waves = [w[:n] for w, n in zip(batch.float().cpu().numpy(), lengths)]
        feats = self.extractor(waves, sampling_rate=self.sample_rate, return_tensors="pt", **kw)
        return {k: v.to(self.device) for k, v in feats.items()}

    def _hidden(self, outputs: Any) -> Any:
        hs = outputs.hidden_states
        if not -len(hs) <= self.layer < len(hs):
            raise GroundingEvalError(f"audio backbone {self.name!r}: layer={self.layer}; {self.model_id} has layers 0..{len(hs) - 1}")
        return hs[self.layer]

    def forward(self, module: Any, batch: Any, lengths: list[int]) -> Any:
        import torch

        if self.name == "ast":
            feats = self._features(batch, lengths)
            out = module(input_values=feats["input_values"])
            return out.logits if self.embedding == "logits" else out.pooler_output
        if self.name == "clap":
            feats = self._features(batch, lengths)
            args = {k: feats[k] for k in ("input_features", "is_longer") if k in feats}
            if self.embedding == "projected":
                out = module.get_audio_features(**args)
                return out if hasattr(out, "shape") else out.pooler_output
            return module.audio_model(**args).pooler_output
        if self.name == "whisper":
            feats = self._features(batch, lengths)
            hidden = self._hidden(module(feats["input_features"], output_hidden_states=True))
            # Frames holding audio: the extractor's hop, then the encoder's stride-2 convolution.
            mask = torch.zeros(hidden.shape[:2], dtype=torch.bool)
            for i, n in enumerate(lengths):
                mask[i, : max(1, min(math.ceil(n / self.extractor.hop_length / 2), hidden.shape[1]))] = True
            return pool_time(hidden, mask, self.pooling)
        # wav2vec2 / hubert: normalised per window, zero-padded to the window (batch-independent).
        feats = self._features(batch, lengths, padding="max_length", max_length=self._windows.samples,
                               return_attention_mask=True)
        use_mask = self.config.feat_extract_norm == "layer"
        out = module(feats["input_values"], attention_mask=feats["attention_mask"] if use_mask else None,
                     output_hidden_states=True)
        hidden = self._hidden(out)
        frames = module._get_feat_extract_output_lengths(torch.tensor(lengths))
        mask = torch.arange(hidden.shape[1])[None, :] < frames[:, None].clamp(min=1)
        return pool_time(hidden, mask, self.pooling)


def make_factory(family: str):
    def factory(**options: Any) -> HFAudioBackbone:
        return HFAudioBackbone(family, **options)

    factory.__doc__ = FAMILIES[family].description
    return factory
