"""Typed registries filled by the plugin hooks, with did-you-mean errors for unknown names."""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Strict, create_model

from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Problem, validated

T = TypeVar("T")


@dataclass
class Entry:
    """One registered thing: its name, the object (factory, builder, ...) and where it came from."""

    name: str
    obj: Any
    description: str = ""
    plugin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> Entry, refusing duplicates and suggesting the nearest name for a typo."""

    def __init__(self, kind: str, fix_hint: str):
        self.kind = kind
        self.fix_hint = fix_hint
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, obj: Any, *, description: str = "", plugin: str = "", **extra: Any) -> None:
        if not isinstance(name, str) or not name:
            raise GroundingEvalError(f"plugin {plugin!r} registered a {self.kind} with an empty or non-string name")
        if name in self._entries:
            other = self._entries[name].plugin
            raise GroundingEvalError(
                f"{self.kind} {name!r} is registered twice (by {other!r} and {plugin!r}); uninstall one of them"
            )
        self._entries[name] = Entry(name, obj, description, plugin, dict(extra))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def build(self, name: str, args: dict[str, Any], where: str) -> Any:
        """Call `name`'s factory with `args`, each checked against its signature first (`check_args`)."""
        entry = self.get(name)
        return entry.obj(**check_args(entry.obj, args, where, f"{self.kind} {name}"))

    def get(self, name: str) -> Entry:
        if name in self._entries:
            return self._entries[name]
        # Prefix entries ("hear:") take the rest of the name as an argument.
        for key, entry in self._entries.items():
            if key.endswith(":") and name.startswith(key):
                return entry
        near = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.5)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise GroundingEvalError(
            f"unknown {self.kind} {name!r}: {hint}known: {', '.join(self.names()) or 'none'}; {self.fix_hint}"
        )


def lazy(module: str, name: str, **bound: Any):
    """A factory imported on first call (listing registries must not load audio and model libraries);
    `bound` are keyword args it always gets (a family name, ...). `check_args` reads the real function's
    signature through `target`."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **bound, **kwargs)

    call.target = (module, name)  # type: ignore[attr-defined]
    call.bound = bound  # type: ignore[attr-defined]
    return call


def check_args(fn: Any, args: dict[str, Any], where: str, what: str) -> dict[str, Any]:
    """`args` checked against `fn`'s signature (`signature_model`): the checked values, or a one-line error
    for an arg `fn` does not take, a missing required one, or a value its annotation does not allow
    (`where` names the field, e.g. "task x: dataset.args"; `what` the thing, e.g. "dataset audiofolder")."""
    target = getattr(fn, "target", None)
    bound = getattr(fn, "bound", {})
    if target is not None:
        fn = getattr(importlib.import_module(target[0]), target[1])
    model = signature_model(fn)
    if model is None:
        return dict(args)
    given = {k: v for k, v in args.items() if k != "progress"}

    def message(p: Problem) -> str:
        if p.kind == "unknown":
            return f"{where}.{p.field}: unknown arg of {what}; {p.hint}valid: {p.valid}"
        if p.kind == "missing":
            return f"{where}.{p.field}: {what} needs this arg ({p.valid})"
        return f"{where}.{p.field} must be {p.type_words if p.type_error else p.valid}, got {p.value!r} ({what})"

    checked = validated(model, {**bound, **given}, message)
    return {**args, **{k: getattr(checked, k) for k in given if k in model.model_fields}}


@functools.cache
def signature_model(fn: Any) -> type[BaseModel] | None:
    """A frozen pydantic model of `fn`'s keyword parameters (a class: its __init__'s), so any plugin's
    builder gets the task file's checks: unknown keys refused (unless `fn` takes **kwargs), values exact
    (strict: YAML's "no" is not false), required ones present. `progress` is the runner's, not the user's.
    None when the signature cannot be read."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(fn.__init__ if inspect.isclass(fn) else fn, include_extras=True)
    except Exception:  # an annotation that does not resolve: check the names only
        hints = {}
    fields: dict[str, Any] = {}
    for name, p in params.items():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "progress":
            tp = _lax_paths(hints.get(name, Any))
            fields[name] = (tp, ... if p.default is p.empty else p.default)
    extra = "allow" if any(p.kind is p.VAR_KEYWORD for p in params.values()) else "forbid"
    config = ConfigDict(extra=extra, frozen=True, strict=True, arbitrary_types_allowed=True)
    try:
        return create_model(f"{getattr(fn, '__name__', 'builder')}_args", __config__=config, **fields)
    except Exception:  # an annotation pydantic cannot check (a protocol, a bare TypeVar): names only
        loose = {n: (Any, d) for n, (_, d) in fields.items()}
        return create_model(f"{getattr(fn, '__name__', 'builder')}_args", __config__=config, **loose)


def _lax_paths(tp: Any) -> Any:
    """A path parameter takes a string too (strict mode would want a Path object)."""
    if tp in (Path, os.PathLike) or typing.get_origin(tp) is os.PathLike:
        return Annotated[Path, Strict(False)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.Union[tuple(_lax_paths(a) for a in typing.get_args(tp))]
    return tp
