"""The aisfx sound-effects CNN (ISMIR 2022, "X-Sequential-CE") as a grounding-eval audio backbone.

The network and its weights come from the `aisfx` package; the front end is ours (numpy, no essentia or
librosa) and reproduces the Essentia features the network was trained on: 44.1 kHz, 2048-sample
symmetric-Hann frames centred from sample 0 with a 1024 hop, power spectrum, 96 HTK mel bands drawn in
mel with unit-sum weights, log10(10000 x + 1), min-max scaled with aisfx's published constants.
The spectrogram is cut into 100-frame blocks (about 2.3 s) with a 50-frame hop; each block gives a
512-d embedding and the blocks of a clip are pooled.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from importlib import metadata
from types import ModuleType
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from grounding_eval.audio.backbone import AudioBackbone, BackboneOptions, Whole
from grounding_eval.audio.checkpoints import sha256_file
from grounding_eval.audio.mel import mel_filterbank, power_spectrogram
from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Valid

INSTALL_HINT = "audio backbone 'aisfx' needs the aisfx package: pip install --no-deps aisfx==0.1.2"

SAMPLE_RATE = 44100
FRAME_LENGTH = 2048
HOP_LENGTH = 1024
N_MELS = 96
# aisfx's 'original' normalisation: min and max over the Essentia spectrograms of all training sets.
NORM_MIN, NORM_MAX = 0.0, 9.457798957824707
BLOCK_FRAMES = 100
BLOCK_HOP = 50
EMBEDDING_DIM = 512
POOLINGS = ("mean", "max")
# Bump when the front end below changes the numbers.
FRONT_END_VERSION = 1


def _aisfx_dir() -> str:
    """The installed aisfx package folder, found without importing it."""
    try:
        spec = importlib.util.find_spec("aisfx")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise GroundingEvalError(INSTALL_HINT)
    return list(spec.submodule_search_locations)[0]


@functools.lru_cache(maxsize=1)
def _cnn_module() -> ModuleType:
    """aisfx's `models/cnn2d.py` (EmbeddingNet, CrossNet), loaded on its own.

    `import aisfx` would also run aisfx/__init__, which imports tqdm and the inference script: packages a
    --no-deps install may lack and that this plugin does not use. The model classes need only torch.
    """
    path = os.path.join(_aisfx_dir(), "models", "cnn2d.py")
    if not os.path.isfile(path):
        raise GroundingEvalError(f"{INSTALL_HINT} (found aisfx but not {path})")
    spec = importlib.util.spec_from_file_location("_grounding_eval_aisfx_cnn2d", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkpoint_path() -> str:
    path = os.path.join(_aisfx_dir(), "models", "checkpoint.pth")
    if not os.path.isfile(path):
        raise GroundingEvalError(f"{INSTALL_HINT} (found aisfx but not its weights {path})")
    return path


def checkpoint_sha256() -> str:
    path = checkpoint_path()
    return sha256_file(path)


def aisfx_version() -> str:
    try:
        return metadata.version("aisfx")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def _filterbank() -> np.ndarray:
    return mel_filterbank(
        SAMPLE_RATE, FRAME_LENGTH, N_MELS, f_min=0.0, f_max=SAMPLE_RATE / 2, scale="htk",
        norm="unit_sum", weighting="mel",
    )


def front_end(wave: np.ndarray) -> np.ndarray:
    """Normalised log-mel frames of a 44.1 kHz mono waveform, shape (T, 96), float32.

    T = ceil(len / 1024) + 1: Essentia's FrameCutter centres the first frame on sample 0 and stops after
    the first frame whose centre reaches the end.
    """
    x = np.asarray(wave, dtype=np.float64)
    # Peak-normalise first: the log compression below is not scale-invariant, and clips arrive at
    # arbitrary levels. (Essentia's EasyLoader used a ReplayGain level instead; the peak is what aisfx's
    # librosa path does.)
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak > 0:
        x = x / peak
    power = power_spectrogram(x, FRAME_LENGTH, HOP_LENGTH, symmetric_window=True, framing="essentia")
    mel = power @ _filterbank().T
    spec = np.log10(10000.0 * mel + 1.0)
    return ((spec - NORM_MIN) / (NORM_MAX - NORM_MIN)).astype(np.float32)


def to_blocks(frames: np.ndarray) -> np.ndarray:
    """(T, 96) -> (n_blocks, 100, 96): full 100-frame blocks every 50 frames, a trailing partial block
    dropped (as aisfx's drop_partial_block=True), a clip shorter than one block zero-padded to one."""
    t = frames.shape[0]
    if t <= BLOCK_FRAMES:
        return np.pad(frames, ((0, BLOCK_FRAMES - t), (0, 0)))[None]
    n = (t - BLOCK_FRAMES) // BLOCK_HOP + 1
    idx = np.arange(n)[:, None] * BLOCK_HOP + np.arange(BLOCK_FRAMES)[None, :]
    return frames[idx]


class AisfxOptions(BackboneOptions):
    pooling: Literal[POOLINGS] = "mean"
    """how the 2 s blocks' embeddings pool over a clip"""
    blocks_per_forward: Annotated[Whole, Field(ge=1), Valid(">= 1")] = 64
    """blocks through the CNN at once: bounds memory, does not change the numbers"""


class AisfxBackbone(AudioBackbone):
    """aisfx embeddings (512-d) pooled over 2 s blocks; options: pooling=mean|max and the base keywords."""

    name = "aisfx"
    sample_rate = SAMPLE_RATE
    embedding_dim = EMBEDDING_DIM
    Options = AisfxOptions

    def __init__(self, **options: Any) -> None:
        opts = self.Options.check(self.name, options)
        pooling = opts.pooling
        self.blocks_per_forward = opts.blocks_per_forward
        super().__init__(opts)
        self.pooling = pooling
        _cnn_module()  # fail now, in one line, if aisfx is missing
        checkpoint_path()
        self._model: Any = None

    def backbone_identity(self) -> dict[str, Any]:
        return {
            "backbone": "aisfx",
            "aisfx_version": aisfx_version(),
            "checkpoint_sha256": checkpoint_sha256(),
            "embedding": "EmbeddingNet(max,3,1,64) get_embedding, 512-d",
            "block_frames": BLOCK_FRAMES,
            "block_hop": BLOCK_HOP,
            "pooling": self.pooling,
            "front_end_version": FRONT_END_VERSION,
        }

    def _load(self) -> Any:
        """Build the CNN and load the weights on first use, so cache hits never pay for it."""
        if self._model is None:
            import torch

            cnn = _cnn_module()
            # The checkpoint is a pickled (state_dict, ds_dict) tuple, which weights_only=True refuses.
            # It ships inside the aisfx wheel the user chose to install, so unpickling it is as trusted as
            # importing that package's code; never point this at a checkpoint from elsewhere.
            weights, ds_dict = torch.load(checkpoint_path(), map_location=self.device, weights_only=False)
            # aisfx's load_bestModel does the same, minus its cuda_select, which prints.
            model = cnn.CrossNet(cnn.EmbeddingNet("max", 3, 1, 64), ds_dict, self.device)
            model.load_state_dict(weights)
            self._model = model.to(self.device).eval()
        return self._model

    def embed_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """(n, 100, 96) float32 -> (n, 512) float32 per-block embeddings."""
        import torch

        model = self._load()
        out = []
        with torch.inference_mode():
            for s in range(0, blocks.shape[0], self.blocks_per_forward):
                chunk = torch.from_numpy(np.ascontiguousarray(blocks[s : s + self.blocks_per_forward]))
                out.append(model.get_embedding(chunk.to(self.device)).float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def embed_waveforms(self, waves: list[np.ndarray]) -> np.ndarray:
        if not waves:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        per_clip = [to_blocks(front_end(w)) for w in waves]
        counts = [b.shape[0] for b in per_clip]
        emb = self.embed_blocks(np.concatenate(per_clip, axis=0))
        out = np.empty((len(waves), EMBEDDING_DIM), dtype=np.float32)
        start = 0
        for i, n in enumerate(counts):
            part = emb[start : start + n]
            out[i] = part.mean(axis=0) if self.pooling == "mean" else part.max(axis=0)
            start += n
        return out
