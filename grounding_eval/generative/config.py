"""The schema of a generative task (`kind: generative`), checked by the same strict loader as probe tasks
(unknown keys, wrong types and out-of-range values are one line naming the file, the line and what is valid;
`include:` works the same). Every field that changes a number is in `content_hash()`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from grounding_eval.tasks.config import DatasetConfig, EncoderConfig

def _check(test, valid: str) -> dict[str, Any]:
    """Field metadata the strict loader reads: a value test and the words that say what passes it."""
    return {"check": test, "valid": valid}


_CONTROLS = ("template", "shuffled_prompts", "silence", "white_noise", "split_half")


def _prompt_ok(template: str) -> bool:
    try:
        template.format(concept="x", note="A4", frequency=440.0, duration=1.0, sample_rate=16000)
    except (KeyError, IndexError, ValueError):
        return False
    return "{concept}" in template


@dataclass(frozen=True)
class PromptConfig:
    """What the model is asked: one prompt per concept, or per (concept, note) when `notes` is given."""

    # the request; fields: {concept}, and for the notes tier {note}, {frequency} (Hz), {duration} (s)
    template: str = field(default="Write a Python program that synthesises the sound of {concept}.",
                          metadata=_check(_prompt_ok, 'a string containing "{concept}" and only the fields concept, note, frequency, duration, sample_rate'))
    # pitches in scientific notation (A4 = 440 Hz): the notes tier asks for each concept at each pitch
    notes: list[str] = field(default_factory=list)
    # requested length of each sound, seconds (in the prompt, the template baseline and the duration error)
    duration: float = field(default=1.0, metadata=_check(lambda x: 0 < x <= 30, "a number in (0, 30]"))


@dataclass(frozen=True)
class GeneratorConfig:
    """Sampling: how many programs per prompt, the seed, and the generator's own options (temperature...)."""

    # programs per prompt; 2 lets the rate of valid audio and the scores average over samples
    n_samples: int = field(default=2, metadata=_check(lambda x: x >= 1, "an integer >= 1"))
    # seed of sampling (per batch, from the first prompt's id)
    seed: int = 0
    # options of the HF generator (temperature, top_p, top_k, max_new_tokens, do_sample, batch_size,
    # system_prompt, dtype); all go into the generation cache key
    args: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 320})


@dataclass(frozen=True)
class ScoringConfig:
    """How generated clips are compared with the references and the prompts."""

    # the embedder of FAD/KAD and of the text-audio probe's audio side; aisfx: pretrained, offline
    embedder: EncoderConfig = field(default_factory=lambda: EncoderConfig(name="aisfx"))
    # the text side of the weight-free text-audio score (a probe trained on the references ranks each clip
    # among all concepts); MiniLM because it ships offline
    text_encoder: str = "sentence-transformers/all-MiniLM-L6-v2"
    # how the judge's text side names a concept
    judge_prompt: str = field(default="the sound of {concept}", metadata=_check(lambda x: "{concept}" in x, 'a string containing "{concept}"'))
    # accuracy@K of the text-audio score
    k: list[int] = field(default_factory=lambda: [1, 3], metadata=_check(lambda x: bool(x) and all(k >= 1 for k in x), "a list of integers >= 1"))
    # probes trained (one seed each) whose similarities are averaged: less dependence on one initialisation
    probe_seeds: int = field(default=3, metadata=_check(lambda x: x >= 1, "an integer >= 1"))
    # the CLAP score when a real CLAP checkpoint is given (clap:PATH_OR_ID); null offline
    clap: str | None = None
    # bootstrap resamples of the clip-level intervals
    bootstrap_resamples: int = field(default=1000, metadata=_check(lambda x: x >= 100, "an integer >= 100"))
    confidence: float = field(default=0.95, metadata=_check(lambda x: 0 < x < 1, "a number strictly between 0 and 1"))


@dataclass(frozen=True, kw_only=True)
class GenerativeTaskConfig:
    """A generative task: the model writes a program per prompt; the program makes the instance."""

    task: str = field(metadata=_check(lambda x: bool(x) and x.replace("_", "").isalnum() and x == x.lower(), "lowercase letters, digits and _"))
    version: int = field(metadata=_check(lambda x: x >= 0, "an integer >= 0"))
    kind: str = field(default="generative", metadata=_check(lambda x: x == "generative", "generative"))
    description: str = ""
    # the programs run on this machine: refuse without --allow-code-execution
    unsafe_code: bool = True
    # references: concepts and their real recordings
    dataset: DatasetConfig
    # at most this many references per concept (drawn with the seed); null = all
    max_references_per_concept: int | None = field(default=None, metadata=_check(lambda x: x >= 2, "null or an integer >= 2"))
    prompts: PromptConfig = field(default_factory=PromptConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    # what runs the programs; python_guarded's args: sandbox (auto|bwrap|none), allowed_imports, limits...
    executor: EncoderConfig = field(default_factory=lambda: EncoderConfig(name="python_guarded"))
    # the rate a program's output is taken at when it returns samples only, and the template baseline's
    sample_rate: int = field(default=16000, metadata=_check(lambda x: 1000 <= x <= 192000, "an integer in 1000..192000"))
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    # the headline number
    main_metric: str = "accuracy@1"
    controls: list[str] = field(default_factory=lambda: list(_CONTROLS),
                                metadata=_check(lambda x: all(c in _CONTROLS for c in x), f"a list from: {', '.join(_CONTROLS)}"))
    # what this tier needs that is not here (e.g. the speech tier's references); when set, the task refuses
    # to run with this sentence instead of faking a reference
    unavailable: str | None = None

    @property
    def perception_encoder(self) -> EncoderConfig:
        """The embedder of the scores: what `grounding-eval tasks` lists as a task's encoder."""
        return self.scoring.embedder

    @property
    def max_instances_per_concept(self) -> int | None:
        """What the shared steps (steps.build_instances) read: the references per concept."""
        return self.max_references_per_concept

    @property
    def seed(self) -> int:
        return self.generator.seed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()

    def with_overrides(self, **changes: Any) -> "GenerativeTaskConfig":
        return dataclasses.replace(self, **changes)
