"""The three interfaces of a generative task, registered through hooks like encoders are.

    prompts ─► Generator (texts, n_samples each) ─► Executor (text -> program -> instance, guarded)
            ─► Scorer (generated instances vs references of the concept, and vs the prompts)

Nothing here knows about audio: an instance is whatever the executor returns (a waveform for the audio
tiers) and the scorers that understand it live with their modality.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from grounding_eval.encoders import stable_hash

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class Prompt:
    """One thing to generate: an id (stable across runs), the concept it belongs to, the text shown to the
    model, and the fields a template generator fills its program from (e.g. pitch, instrument)."""

    id: str
    concept: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


class Generator(ABC):
    """Turns prompts into texts (programs, usually inside prose and code fences)."""

    name: str = "generator"

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the texts: model and weights hash, sampling settings, system prompt."""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], n_samples: int, seed: int,
                 progress: ProgressCallback | None = None) -> list[list[str]]:
        """`n_samples` texts per prompt, in prompt order; same seed, same texts."""

    def cache_key(self) -> str:
        return stable_hash({"kind": "generator", "name": self.name, **self.identity()})


class Executor(ABC):
    """Turns one generated text into an instance, or a counted failure (grounding_eval.kinds.generative.outcomes)."""

    name: str = "executor"

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes which texts pass and what they produce (limits, allow-list, rate)."""

    @abstractmethod
    def protections(self) -> dict[str, Any]:
        """Which guards were in force on this machine, for the results."""

    @abstractmethod
    def run(self, text: str):
        """-> grounding_eval.kinds.generative.executor.Execution."""
