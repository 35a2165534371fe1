"""The schema of a knowledge task (`kind: knowledge`), checked by the shared strict loader (one-line errors
naming the file, the line and what is valid; `include:` works). Every field that changes a number (the item
set, its seed and size, the prompt, the scoring, the statistics) is in `content_hash()`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from grounding_eval.tasks.config import DatasetConfig, Float, Section, TaskFile
from grounding_eval.validation import Valid

CONTROLS = ("choice_only", "random_init")
SOURCES = ("audioset_ontology", "pitch_comparison", "hub")
METRICS = ("acc", "acc_norm")


def _template_ok(template: str) -> str:
    try:
        template.format(question="x")
    except (KeyError, IndexError, ValueError):
        raise PydanticCustomError("template", "bad template") from None
    if "{question}" not in template:
        raise PydanticCustomError("template", "bad template")
    return template


def _known_controls(controls: list[str]) -> list[str]:
    if not all(c in CONTROLS for c in controls) or len(set(controls)) != len(controls):
        raise PydanticCustomError("controls", "unknown control")
    return controls


def _known_source(dataset: DatasetConfig) -> DatasetConfig:
    if dataset.name not in SOURCES:
        raise PydanticCustomError("source", "unknown item set")
    return dataset


class PromptConfig(Section):
    """How a question is put to the model (lm-eval's multiple-choice format by default)."""

    template: Annotated[str, AfterValidator(_template_ok), Valid('a string containing "{question}" and no other field')] = \
        "Question: {question}\nAnswer:"
    """the context each choice continues"""
    delimiter: str = " "
    """put between the context and each choice (lm-eval's target_delimiter)"""


class StatisticsConfig(Section):
    """Bootstrap intervals over questions and the paired tests against the controls."""

    resamples: Annotated[int, Field(ge=100), Valid("an integer >= 100")] = 2000
    """bootstrap resamples of the question-level intervals"""
    confidence: Annotated[Float, Field(gt=0, lt=1), Valid("a number strictly between 0 and 1")] = 0.95
    """two-sided level of those intervals"""
    seed: int = 0
    """seed of the bootstrap draws (and of the sign-flip test's draws)"""


class KnowledgeTaskConfig(TaskFile):
    """A knowledge task: multiple-choice questions, each choice scored by its log-likelihood given the question."""

    task: Annotated[str, Field(pattern=r"^[a-z0-9_]+$"), Valid("lowercase letters, digits and _")]
    version: Annotated[int, Field(ge=0), Valid("an integer >= 0")]
    kind: Annotated[Literal["knowledge"], Valid("knowledge")] = "knowledge"
    description: str = ""
    dataset: Annotated[DatasetConfig, AfterValidator(_known_source),
                       Valid(f"a dataset whose name is one of {', '.join(SOURCES)}")]
    """the item set (items.py): audioset_ontology and pitch_comparison are made offline, hub loads a published set;
    args: that set's options (n_items, seed, question types; the hub set's path, revision, files, fields)"""
    prompt: PromptConfig = PromptConfig()
    main_metric: Annotated[Literal[METRICS], Valid(f"one of {', '.join(METRICS)}")] = "acc"
    """the headline number"""
    controls: Annotated[list[str], AfterValidator(_known_controls), Valid(f"a list of distinct names from: {', '.join(CONTROLS)}")] = \
        Field(default_factory=lambda: list(CONTROLS))
    statistics: StatisticsConfig = StatisticsConfig()
    limit: Annotated[int | None, Field(ge=1), Valid("null or an integer >= 1")] = None
    """at most this many questions (the first ones, in the set's order); null = all"""


__all__ = ["CONTROLS", "METRICS", "SOURCES", "KnowledgeTaskConfig", "PromptConfig", "StatisticsConfig"]
