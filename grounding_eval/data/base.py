"""The form every dataset takes before the runner sees it: concepts and instances of them.

A grounding task pairs CONCEPTS (class names such as "dog bark" or "teal") with INSTANCES of them in a
perceptual space (audio clips, colours, images). Dataset builders, whatever their source layout, return
a `GroundingDataset`; encoders and the runner never look at the source layout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Concept:
    """One class. `name` is the label as the source spells it; `text` is what goes into the prompt."""

    name: str
    text: str
    parent: str | None = None  # an ontology parent, kept for plots and per-family breakdowns
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    """One perceptual example of a concept.

    `source` is whatever the perception encoder reads: a file path for audio, a hex string for a colour.
    `content_hash` identifies the content itself (not its path), so caches survive moves and renames.
    """

    id: str
    concept: str  # Concept.name
    source: Any
    content_hash: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class SkippedInstance:
    """An instance the builder could not use, with the reason (missing, unreadable, empty, silent, ...)."""

    id: str
    reason: str


@dataclass
class GroundingDataset:
    """Concepts, their instances, and what was skipped on the way."""

    name: str
    concepts: list[Concept]
    instances: list[Instance]
    skipped: list[SkippedInstance] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def concept_names(self) -> list[str]:
        return [c.name for c in self.concepts]

    def fingerprint(self) -> str:
        """A hash of which instances stand for which concepts: changes whenever the data does."""
        h = hashlib.sha256()
        for c in self.concepts:
            h.update(f"c\0{c.name}\0{c.text}\n".encode())
        for inst in self.instances:
            h.update(f"i\0{inst.concept}\0{inst.content_hash}\n".encode())
        return h.hexdigest()


