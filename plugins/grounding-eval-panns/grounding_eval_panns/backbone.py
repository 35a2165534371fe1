"""PANNs CNN14 as a grounding-eval audio backbone, built from panns-inference's own model code.

panns-inference has two traps that must not reach the user: importing any part of the package runs
its `config.py`, which shells out to `wget` for ~/panns_data/class_labels_indices.csv (offline this
leaves an empty file and every later load fails); and `AudioTagging` re-downloads, over the user's
file, any checkpoint smaller than 3e8 bytes. So we never import the package: its `models.py` (and the
`pytorch_utils.py` it imports) are loaded under a private package name, and we build
`models.Cnn14` and load the checkpoint ourselves.

Every forward takes 10 s windows (the AudioSet clip length CNN14 was trained on; `window_seconds` may
change it): a clip up to 10 s is one window, zero-padded at the end as CNN14's training pads short
clips; a longer clip is cut into ceil(n / 10 s) windows, the last one ending at the clip's end; the
windows' embeddings are averaged (`grounding_eval/audio/windows.py`), so batches are full whatever the
clip lengths.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from grounding_eval.audio.backbone import Number
from grounding_eval.audio.checkpoints import build_from_checkpoint, fetch_published, local_checkpoint, sha256_file
from grounding_eval.audio.torch_backbone import TorchAudioBackbone, TorchOptions
from grounding_eval.audio.windows import Windows
from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Valid

SAMPLE_RATE = 32000
# AudioSet's clip length, what CNN14 was trained on.
WINDOW_SECONDS = 10.0
# CNN14 as trained on AudioSet at 32 kHz (panns-inference's AudioTagging defaults).
CNN14_ARGS = dict(sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000, classes_num=527)
CHECKPOINT_NAME = "Cnn14_mAP=0.431.pth"
CHECKPOINT_URL = "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
EMBEDDINGS = {"embedding": 2048, "logits": 527}
INSTALL_HINT = "audio backbone 'panns' needs panns-inference: pip install grounding-eval-panns (or panns-inference torchlibrosa librosa)"
_PRIVATE = "_grounding_eval_panns_inference"


def default_checkpoint() -> Path:
    """Where panns-inference itself keeps the CNN14 checkpoint."""
    return Path.home() / "panns_data" / CHECKPOINT_NAME


@functools.lru_cache(maxsize=1)
def panns_models() -> types.ModuleType:
    """panns_inference/models.py, imported without running panns_inference/__init__ (and its config.py)."""
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or not spec.submodule_search_locations:
        raise GroundingEvalError(INSTALL_HINT)
    pkg = types.ModuleType(_PRIVATE)
    pkg.__path__ = list(spec.submodule_search_locations)  # relative imports resolve in the real folder
    sys.modules[_PRIVATE] = pkg
    try:
        return importlib.import_module(f"{_PRIVATE}.models")
    except ImportError as exc:
        raise GroundingEvalError(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from None


def build_cnn14(state_dict: dict[str, Any] | None = None) -> Any:
    """panns-inference's Cnn14 with the AudioSet 32 kHz configuration, weights loaded when given."""
    model = panns_models().Cnn14(**CNN14_ARGS)
    if state_dict is not None:
        model.load_state_dict(state_dict.get("model", state_dict))  # published files wrap it in {'model': ...}
    return model


class PannsOptions(TorchOptions):
    embedding: Literal[tuple(EMBEDDINGS)] = "embedding"
    """embedding (2048-d) or logits (the 527 AudioSet class scores)"""
    checkpoint: str | None = None
    """a local Cnn14 .pth (default: the published one, downloaded once)"""
    # CNN14 pools time 32-fold: clips under ~0.3 s have no frame left, so short clips are padded to 1 s.
    min_seconds: Annotated[Number, Field(ge=0), Valid(">= 0")] = 1.0
    """zero-pad shorter clips to this many seconds"""


class PannsBackbone(TorchAudioBackbone):
    """CNN14 clip embeddings (its own mean+max pooling over time and frequency); options: embedding, checkpoint, dtype."""

    name = "panns"
    sample_rate = SAMPLE_RATE
    Options = PannsOptions
    # Power spectrum and log-mel in fp32: in fp16 a loud window's power passes 65504 (inf) and a quiet
    # one's mel energy falls below fp16's smallest value, so log10 gives -inf (torch_backbone.keep_fp32).
    FRONT_END = ("spectrogram_extractor", "logmel_extractor")

    def __init__(self, **options: Any) -> None:
        opts = self.Options.check(self.name, options)
        embedding, checkpoint = opts.embedding, opts.checkpoint
        super().__init__(opts)
        self._windows = Windows(self.window_samples(WINDOW_SECONDS), SAMPLE_RATE, "zero-padded at the end")
        if self._windows.samples < SAMPLE_RATE:
            raise GroundingEvalError(f"audio backbone 'panns': window_seconds must be >= 1 (CNN14 pools time 32-fold), "
                                     f"got {self.window_seconds:g}")
        self.embedding = embedding
        self.embedding_dim = EMBEDDINGS[embedding]
        panns_models()  # a missing package is a one-line error now
        if checkpoint:
            self.checkpoint = local_checkpoint(checkpoint, self.name)
        else:
            # Our own download (atomic, never over an existing file), not AudioTagging's wget.
            self.checkpoint = fetch_published(CHECKPOINT_URL, default_checkpoint(), self.name)

    def backbone_identity(self) -> dict[str, Any]:
        return {
            "backbone": "panns",
            "model": "Cnn14",
            "panns_inference_version": _version("panns-inference"),
            "config": CNN14_ARGS,
            "checkpoint_sha256": sha256_file(self.checkpoint),
            "embedding": self.embedding,
            "pooling": "CNN14's mean over frequency, then max + mean over time (per window), mean over windows",
            **self.precision_identity(),
        }

    def windows(self) -> Windows:
        return self._windows

    def load(self) -> Any:
        return build_from_checkpoint(self.checkpoint, self.name, build_cnn14)

    def forward(self, module: Any, batch: Any, lengths: list[int]) -> Any:
        out = module(batch)
        return out["embedding"] if self.embedding == "embedding" else out["clipwise_output"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
