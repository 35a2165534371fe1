"""`--model-args`: the `k=v,...` text, and the base of every text encoder family's options model.

Each family declares its options as a `ModelArgs` subclass (frozen, unknown keys refused); values from the
command line arrive as strings and coerce as they read (`batch_size=8` -> 8, `trust_remote_code=yes` ->
true), and a bad one is one line naming the flag, the option, what is valid and, for a typo, the nearest
option (validation.py words it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Problem, validated


def parse_model_args(text: str | None) -> dict[str, str]:
    """`k=v,k=v` (lm-eval style) into a dict of strings; a malformed item is a one-line error."""
    out: dict[str, str] = {}
    if not text:
        return out
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise GroundingEvalError(f"--model-args: {item!r} is not key=value (e.g. layer=-1,pooling=mean)")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


class ModelArgs(BaseModel):
    """A text encoder family's `--model-args`: field docstrings say what each option does."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, use_attribute_docstrings=True)

    @classmethod
    def check(cls, args: dict[str, Any], family: str):
        """The options in `args` checked (and coerced from strings), or a one-line `--model-args` error."""

        def message(p: Problem) -> str:
            if p.kind == "unknown":
                return f"--model-args: unknown option {p.value!r} for {family} models; {p.hint}valid: {p.valid}"
            return f"--model-args {p.field}={p.value}: {p.valid}"

        return validated(cls, args, message)

    @classmethod
    def described(cls) -> dict[str, str]:
        """Option name -> what it does (listings and docs)."""
        return {name: info.description or "" for name, info in cls.model_fields.items()}
