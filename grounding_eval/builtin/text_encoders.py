"""Built-in text encoder kinds."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl


@hookimpl
def register_text_encoders(register):
    from grounding_eval.text.hf import make_hf_encoder

    register("hf", make_hf_encoder, description="any Hugging Face transformers model (hub id or local folder)")
