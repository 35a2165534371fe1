"""Typed registries filled by the plugin hooks, with did-you-mean errors for unknown names."""

from __future__ import annotations

import difflib
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
