"""Typed registries filled by the plugin hooks, with did-you-mean errors for unknown names."""

from __future__ import annotations

import collections.abc
import difflib
import importlib
import inspect
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from grounding_eval.errors import GroundingEvalError

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
        check_args(entry.obj, args, where, f"{self.kind} {name}")
        return entry.obj(**args)

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


def lazy(module: str, name: str):
    """A factory imported on first call (so listing registries stays cheap); `check_args` reads the real
    function's signature through `target`."""

    def call(**args: Any) -> Any:
        return getattr(importlib.import_module(module), name)(**args)

    call.target = (module, name)  # type: ignore[attr-defined]
    return call


def check_args(fn: Any, args: dict[str, Any], where: str, what: str) -> None:
    """One-line error for an arg `fn` does not take, or a value its annotation does not allow
    (`where` names the field, e.g. "task x: dataset.args"; `what` the thing, e.g. "dataset audiofolder")."""
    target = getattr(fn, "target", None)
    if target is not None:
        fn = getattr(importlib.import_module(target[0]), target[1])
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "progress"]
        for key in args:
            if key not in accepted and key != "progress":
                near = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise GroundingEvalError(f"{where}.{key}: unknown arg of {what}; {hint}valid: {', '.join(accepted)}")
    try:
        hints = typing.get_type_hints(fn.__init__ if inspect.isclass(fn) else fn)
    except Exception:  # an annotation that does not resolve: nothing to check against
        return
    for key, value in args.items():
        if key in hints:
            ok, want = _accepts(hints[key], value)
            if not ok:
                raise GroundingEvalError(f"{where}.{key} must be {want}, got {value!r} ({what})")


def _accepts(tp: Any, value: Any) -> tuple[bool, str]:
    """Whether `value` fits the annotation `tp` (the plain YAML types only; others pass), and what would."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        results = [_accepts(t, value) for t in typing.get_args(tp)]
        return any(ok for ok, _ in results), " or ".join(want for _, want in results)
    if tp is type(None):
        return value is None, "null"
    if tp is bool:
        return isinstance(value, bool), "true or false"
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), "an integer"
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    if tp is str:
        return isinstance(value, str), "a string"
    if tp in (os.PathLike,) or origin is os.PathLike:
        return isinstance(value, (str, os.PathLike)), "a path"
    if origin in (list, tuple, collections.abc.Sequence):
        inner = typing.get_args(tp)
        fits = isinstance(value, (list, tuple)) and (not inner or all(_accepts(inner[0], v)[0] for v in value))
        return fits, f"a list of ({_accepts(inner[0], None)[1]})" if inner else "a list"
    return True, ""
