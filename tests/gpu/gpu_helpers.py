"""Shared by tests/gpu: the skip marks, the real clips, a row-wise cosine."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest
import torch

NEEDS_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (tests/gpu/README.md)")
NEEDS_TWO_GPUS = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs (tests/gpu/README.md)")

# Real recordings of varied length from Debian packages (0.08 s to 6 s), as the CPU tests use.
REAL_CLIPS = sorted(glob.glob("/usr/share/sounds/freedesktop/stereo/*.oga"))[:2] + \
    sorted(glob.glob("/usr/share/games/minetest/**/sounds/*.ogg", recursive=True))[:1]
REPO = Path(__file__).resolve().parents[2]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)
