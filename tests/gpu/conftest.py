"""tests/gpu fixtures. Everything here needs CUDA: without it each test is skipped with one reason."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_helpers import REAL_CLIPS


@pytest.fixture(scope="session")
def hard_clips(tmp_path_factory) -> list[str]:
    """The real clips plus the two kinds that overflowed PANNs' fp16 front end: a 50 ms blip and 3 s of
    full-scale square wave (every sample at +-1.0), written as WAV so that they go through the real decoder."""
    import soundfile as sf

    out = tmp_path_factory.mktemp("hard-clips")
    sr = 32000
    t = np.arange(3 * sr) / sr
    square = np.sign(np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    blip = (0.5 * np.sin(2 * np.pi * 1000 * t[: sr // 20])).astype(np.float32)
    paths = []
    for name, wave in (("full-scale.wav", square), ("blip.wav", blip)):
        sf.write(out / name, wave, sr)
        paths.append(str(out / name))
    return REAL_CLIPS + paths
