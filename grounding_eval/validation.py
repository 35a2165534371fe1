"""The one way input is checked: frozen pydantic models (`extra="forbid"`) and one-line messages from their errors.

Task files, grid files and results files are pydantic models; this module turns a pydantic error into the
words users see: the field (dotted, `[i]` for list items), what would be valid (`Valid` metadata on the
field, else its type in words), and what was given.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel


@dataclass(frozen=True)
class Valid:
    """Field metadata: the words that say what passes the field's checks (used in error messages)."""

    text: str


def dotted(loc: tuple) -> str:
    """('probe', 'epochs') -> probe.epochs; ('controls', 1) -> controls[1]."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def got(value: Any) -> str:
    """A given value as messages show it: its repr (shortened) and its type."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"


def _unwrap(tp: Any) -> Any:
    """Annotated[X, ...] -> X; X | None -> X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def type_name(tp: Any) -> str:
    """A type in the words error messages use: "an integer", "null or a number", "one of: a, b", ..."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return type_name(typing.get_args(tp)[0])
    if origin is Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return ("null or " if len(inner) < len(typing.get_args(tp)) else "") + type_name(inner[0])
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"a list of {type_name(item).removeprefix('a ').removeprefix('an ')}s" if item is not Any else "a list"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"a mapping with keys {', '.join(tp.model_fields)}"
    return "a mapping"


def field_at(model: type[BaseModel], loc: tuple) -> tuple[Any, str | None]:
    """The annotation expected at `loc` inside `model`, and its Valid text (None when it has none)."""
    tp: Any = model
    valid = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part)
            if info is None:
                return Any, None
            tp = info.annotation if not info.metadata else Annotated[(info.annotation, *info.metadata)]
            valid = next((m.text for m in info.metadata if isinstance(m, Valid)), None)
        else:
            args = typing.get_args(tp)
            tp = args[-1] if args else Any
            valid = None
    return tp, valid


def unknown_key(model: type[BaseModel], loc: tuple) -> str:
    """`unknown key 'x' in probe; did you mean 'y'? valid: ...` for an extra_forbidden error at `loc`."""
    parent = _unwrap(field_at(model, loc[:-1])[0])
    fields = list(parent.model_fields)
    near = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    where_in = f"in {dotted(loc[:-1])}" if len(loc) > 1 else "at the top level"
    return f"unknown key {loc[-1]!r} {where_in}; {hint}valid: {', '.join(fields)}"


def expected(model: type[BaseModel], err: dict[str, Any]) -> str:
    """What would be valid at the error's location: the type in words for a type error, else the field's
    Valid text (falling back to the type)."""
    tp, valid = field_at(model, tuple(err["loc"]))
    kind = err["type"]
    is_type_error = kind.endswith("_type") or kind.endswith("_parsing") or kind == "int_from_float"
    return type_name(tp) if is_type_error or valid is None else valid
