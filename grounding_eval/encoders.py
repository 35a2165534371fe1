"""The two encoder protocols every grounding task is built from.

A `TextEncoder` turns concept prompts into vectors; a `PerceptionEncoder` turns instances (audio clips,
colours, images) into vectors. The runner, cache, probe and metrics only ever see these two protocols:
they never branch on the modality.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

import numpy as np

from grounding_eval.data.base import Instance

# Called with the number of items just finished; the runner turns it into a rich progress bar.
ProgressCallback = Callable[[int], None]


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class PerceptionEncoder(ABC):
    """Embeds instances of concepts. Subclasses set `name` and implement `identity` and `embed`."""

    name: str = "perception"
    modality: str = "unknown"  # descriptive only: nothing in the core branches on it

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the vectors: checkpoint hash, sample rate, crop policy, pooling, ...

        It becomes the cache key and goes into the results JSON as is.
        """

    @abstractmethod
    def embed(self, instances: Sequence[Instance], progress: ProgressCallback | None = None) -> np.ndarray:
        """Return a float32 array of shape (len(instances), dim), one row per instance, in order."""

    def cache_key(self) -> str:
        return stable_hash({"kind": "perception", "name": self.name, **self.identity()})

    @property
    def batch_size(self) -> int:
        """How many instances the runner hands to `embed` at once (one cache shard each)."""
        return int(getattr(self, "_batch_size", 16))


class TextEncoder(ABC):
    """Embeds concept prompts. Subclasses implement `identity` and `embed`.

    The runner gives `embed` the prompts and, when `uses_spans` is true, the character span of the
    concept inside each prompt (for pooling over the concept's own tokens, or for static word vectors of
    the label). `embed` returns (n, dim), or (n, n_layers, dim) for a per-layer sweep: the runner then
    runs the protocol once per layer (see docs/text-models.md).
    """

    name: str = "text"
    uses_spans: bool = False  # whether embed() wants `spans`; encoders written without them keep working

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the vectors: model id, revision or weights hash, dtype, layer, pooling."""

    @abstractmethod
    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None,
              spans: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim) or (len(texts), n_layers, dim).

        `spans[i]` = (start, end): where the concept's text is inside `texts[i]` (only when `uses_spans`).
        """

    def report(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> dict[str, Any]:
        """Facts about these prompts for the results JSON (e.g. out-of-vocabulary words); cheap, uncached."""
        return {}

    def cache_key(self) -> str:
        return stable_hash({"kind": "text", "name": self.name, **self.identity()})

    @property
    def batch_size(self) -> int:
        """How many prompts the runner hands to `embed` at once (one cache shard each)."""
        return int(getattr(self, "_batch_size", 32))

    def untrained_copy(self) -> "TextEncoder | None":
        """The same architecture with freshly initialised weights (the random-initialisation control).

        Encoders that cannot offer it return None.
        """
        return None
