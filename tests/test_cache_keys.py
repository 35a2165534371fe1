"""Cache keys: two configurations that give different vectors must never share a key (the cache would hand
one's vectors to the other). Audio: every field of the decode step and every backbone option that moves a
real clip's vector is in the key. Text: a label-pooled vector is keyed by the concept's span, not only the
prompt text."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from rich.console import Console

from grounding_eval.audio.logmel import LogMelBackbone
from grounding_eval.audio.pipeline import Decoder
from grounding_eval.data.base import Instance

CLIP = "/usr/share/sounds/freedesktop/stereo/complete.oga"  # 1.3 s of a real recording
needs_clip = pytest.mark.skipif(not os.path.exists(CLIP), reason="needs sound-theme-freedesktop")


def test_every_field_of_the_decode_step_is_in_the_key():
    """The decode policy (rate, length, crop) is what the key must hold of the shared pipeline: a field
    added to Decoder without being added to identity() fails here."""
    for options in ({}, {"max_seconds": 0.5, "crop": "start", "min_seconds": 0.2, "sample_rate": 22050}):
        backbone = LogMelBackbone(**options)
        ident = backbone.identity()
        for f in dataclasses.fields(Decoder):
            assert f.name in ident, f.name
            assert ident[f.name] == getattr(backbone.decoder(), f.name), f.name


@needs_clip
@pytest.mark.parametrize("base,change", [
    ({"max_seconds": 0.5}, {"crop": "start"}),
    ({"max_seconds": 0.5}, {"max_seconds": 0.4}),
    ({}, {"min_seconds": 3.0}),
    ({}, {"sample_rate": 16010}),  # the same window and hop in samples (400, 160): only the rate differs
    ({}, {"n_mels": 40}),
])
def test_an_option_that_moves_the_vector_moves_the_key(base, change):
    inst = [Instance(id="c", concept="c", source=CLIP, content_hash="c")]
    a, b = LogMelBackbone(**base), LogMelBackbone(**{**base, **change})
    va, vb = a.embed(inst), b.embed(inst)
    assert va.shape != vb.shape or not np.allclose(va, vb), change  # the option really changes the vector
    assert a.cache_key() != b.cache_key(), change


def test_16000_and_16010_hz_round_to_the_same_frames_but_not_the_same_key():
    a, b = LogMelBackbone(sample_rate=16000), LogMelBackbone(sample_rate=16010)
    ia, ib = a.backbone_identity(), b.backbone_identity()
    assert (ia["win_length"], ia["hop_length"], ia["n_fft"]) == (ib["win_length"], ib["hop_length"], ib["n_fft"])
    assert ia["sample_rate"] == 16000 and ib["sample_rate"] == 16010  # the backbone's own identity holds the rate
    assert a.cache_key() != b.cache_key()


def test_label_pooled_text_is_keyed_by_the_concept_span(tiny_bert, tmp_path):
    """The same prompt with another concept span ("a dog" vs "dog" in "sound of a dog") pools other tokens:
    the second must be computed, not read back from the first's cache entry."""
    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.embedding import text_vectors
    from grounding_eval.progress import Reporter
    from grounding_eval.text.hf import make_hf_encoder

    enc = make_hf_encoder(tiny_bert, pooling="label")
    cache = EmbeddingCache(tmp_path)
    rep = Reporter(Console(), False)
    prompt = "sound of a dog"
    wide, stats = text_vectors(enc, [prompt], [(9, 14)], cache, rep, "t")
    narrow, stats2 = text_vectors(enc, [prompt], [(11, 14)], cache, rep, "t")
    assert stats2 == {"cached": 0, "computed": 1}
    np.testing.assert_array_equal(narrow, enc.embed([prompt], spans=[(11, 14)]))
    assert not np.allclose(wide, narrow)
    again, stats3 = text_vectors(enc, [prompt], [(11, 14)], cache, rep, "t")
    assert stats3 == {"cached": 1, "computed": 0} and np.array_equal(again, narrow)
