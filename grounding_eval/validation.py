"""The one way input is checked: frozen pydantic models (`extra="forbid"`) and one-line messages from their errors.

Task files, grid files, results files, `--model-args`, `--backbone-args` and the args of every registered
builder (through a model derived from its signature, `registry.check_args`) are pydantic models; this
module turns a pydantic error into the words users see: the field (dotted, `[i]` for list items), what
would be valid (`Valid` metadata on the field, else its type in words), did-you-mean for an unknown key,
and what was given. Each caller words the line around those parts (`Problem`) for its flag or file.
"""

from __future__ import annotations

import collections.abc
import difflib
import os
import pathlib
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from grounding_eval.errors import GroundingEvalError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Valid:
    """Field metadata: the words that say what passes the field's checks (used in error messages)."""

    text: str


@dataclass(frozen=True)
class Words:
    """Field metadata: the type in words when "an integer" would not say it ("a whole number")."""

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
        words = [m.text for m in tp.__metadata__ if isinstance(m, Words)]
        return words[0] if words else type_name(typing.get_args(tp)[0])
    if origin is Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if tp is Any:
        return "any value"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp in (pathlib.Path, os.PathLike) or origin is os.PathLike:
        return "a path"
    if origin in (list, tuple, collections.abc.Sequence):
        item = (typing.get_args(tp) or (Any,))[0]
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with some input, in the parts every message is worded from."""

    loc: tuple  # where in the input: field names, list indices
    kind: str  # "unknown" (a key the model does not have), "missing" (a required one) or "invalid"
    value: Any  # what was given (None for "missing")
    valid: str  # what would be valid: words for the field, or for "unknown" the valid keys, comma-separated
    hint: str = ""  # "did you mean 'x'? " when an unknown key is near a valid one
    type_words: str = ""  # the field's type in words ("a whole number")
    type_error: bool = False  # the value is of the wrong type (not out of range, not outside a set)
    choices: tuple = ()  # the allowed values when the field is a fixed set (a Literal)

    @property
    def field(self) -> str:
        return dotted(self.loc)


def problem(model: type[BaseModel], err: dict[str, Any], data: Any = None) -> Problem:
    """A pydantic error as a Problem. Inside a union pydantic adds the member's name to the location: the
    Problem then points at the field holding the union, its value (looked up in `data`) and what the whole
    union accepts."""
    loc = _field_loc(model, tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        fields = list(_unwrap(field_at(model, loc[:-1])[0]).model_fields)
        near = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
        return Problem(loc, "unknown", loc[-1], ", ".join(fields), f"did you mean {near[0]!r}? " if near else "")
    if not loc:  # a check across fields: its own words say it all
        return Problem((), "invalid", err["msg"], err["msg"])
    tp, valid = field_at(model, loc)
    words, choices = type_name(tp), _choices(tp)
    if err["type"] == "missing":
        return Problem(loc, "missing", None, valid or words, type_words=words, choices=choices)
    union_member = loc != tuple(err["loc"])  # then the Problem is about the whole field (see the docstring)
    value = _value_at(data, loc, err["input"]) if union_member else err["input"]
    type_error = _is_type_error(err) and err["type"] != "literal_error"
    if valid is None:
        valid = words if union_member or _is_type_error(err) else f"{words} ({err['msg'][0].lower()}{err['msg'][1:]})"
    return Problem(loc, "invalid", value, valid, type_words=words, type_error=type_error, choices=choices)


def _choices(tp: Any) -> tuple:
    tp = _strip(tp)
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else ()


def _is_type_error(err: dict[str, Any]) -> bool:
    kind = err["type"]
    return kind.endswith("_type") or kind.endswith("_parsing") or kind in ("int_from_float", "literal_error")


def _strip(tp: Any) -> Any:
    """Annotated[X, ...] -> X and X | None -> X; a union of several types stays as it is."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _strip(inner[0]) if len(inner) == 1 else tp
    return tp


def _field_loc(model: type[BaseModel], loc: tuple) -> tuple:
    """The longest start of `loc` that names model fields, list items and mapping keys (pydantic's union
    member tags and what lies under them are cut off)."""
    out: list = []
    tp: Any = model
    for part in loc:
        tp = _strip(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return (*out, part)  # an unknown key: the key itself is the place
            tp = field_at(tp, (part,))[0]
        elif typing.get_origin(tp) in (list, tuple, dict, collections.abc.Sequence, collections.abc.Mapping):
            tp = (typing.get_args(tp) or (Any,))[-1]
        else:
            return tuple(out)
        out.append(part)
    return tuple(out)


def _value_at(data: Any, loc: tuple, default: Any) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return default
    return data


def validated(model: type[M], data: dict[str, Any], message: Callable[[Problem], str]) -> M:
    """`model` built from `data`, or a GroundingEvalError worded by `message` from the first problem
    (unknown keys first: a typo explains the errors that follow from it)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
    first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    raise GroundingEvalError(message(problem(model, first, data)).replace("\n", " ")) from None


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted path of the first place two JSON values differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}{k}"
            d = first_difference(a[k], b[k], f"{where}{k}.")
            if d:
                return d
        return None
    return None if a == b else (where.rstrip(".") or "(value)")
