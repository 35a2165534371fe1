"""Half precision on a real GPU (issue 17 items 1, 6, 7): every torch audio backbone gives finite vectors in
fp16 and bf16 on real recordings and on the clips that overflowed PANNs' fp16 front end, close to its own
fp32 vectors on the same GPU, and each precision is filed under its own cache key.

Random-init weights of the real architectures (as the CPU tests use): finiteness and closeness are properties
of the arithmetic, not of trained weights; aisfx and logmel have no half-precision path and are checked in
test_identity.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpu_helpers import NEEDS_GPU, cosine_rows
from tiny_audio_models import save_tiny  # tests/ is on the path: its conftest.py is loaded first
from grounding_eval.check_backbone import make_backbone

pytestmark = NEEDS_GPU
HALF = ["fp16", "bf16"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, dict]:
    """Each torch backbone's options for a local random-init model of its real architecture."""
    root = tmp_path_factory.mktemp("gpu-models")
    out = {f: {"model": save_tiny(f, root / f)} for f in ("ast", "clap", "wav2vec2", "hubert", "whisper")}
    torch.manual_seed(0)
    try:
        from grounding_eval_panns.backbone import build_cnn14

        torch.save({"model": build_cnn14().state_dict()}, root / "cnn14.pth")
        out["panns"] = {"checkpoint": str(root / "cnn14.pth")}
    except ImportError:
        pass
    try:
        from grounding_eval_passt.backbone import build

        torch.save(build("passt_s_swa_p16_128_ap476", "all", None).net.state_dict(), root / "passt.pt")
        out["passt"] = {"checkpoint": str(root / "passt.pt")}
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("family", ["panns", "passt", "ast", "clap", "wav2vec2", "hubert", "whisper"])
@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_is_finite_close_and_keyed_apart(models, hard_clips, family, dtype):
    if family not in models:
        pytest.skip(f"the {family} plugin is not installed")
    if dtype == "bf16" and torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("bf16 needs compute capability 8.0 (Ampere) or newer; emulated bf16 is not what users run")
    full = make_backbone(family, {**models[family], "device": "cuda", "dtype": "fp32", "num_workers": 0})
    half = make_backbone(family, {**models[family], "device": "cuda", "dtype": dtype, "num_workers": 0})
    v32, v16 = full.embed(hard_clips), half.embed(hard_clips)
    assert np.isfinite(v16).all(), f"{family} {dtype}: non-finite vectors for {hard_clips}"
    assert v16.dtype == np.float32 and v16.shape == v32.shape
    assert cosine_rows(v32, v16).min() > 0.98
    assert half.cache_key() != full.cache_key()


def test_auto_dtype_follows_the_gpu(models):
    """auto: bf16 on compute capability >= 8.0, fp32 below (devices.auto_dtype; never emulated bf16)."""
    bb = make_backbone("hubert", {**models["hubert"], "device": "cuda", "num_workers": 0})
    major, minor = torch.cuda.get_device_capability()
    if (major, minor) >= (8, 0):
        assert bb.identity()["dtype"] == "bf16"
    else:
        assert bb.identity()["dtype"] == "fp32"  # never fp16 by default: its range overflowed (item 1)
