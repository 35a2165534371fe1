"""The probe kind's results file as typed models: one definition that builds the file, checks it, and gives its
JSON Schema (`grounding-eval schema results`).

Readers (the command's table, `compare`, plots, the leaderboard) take `Results` from `parse_results` and use
attributes. The envelope (model, environment, date, reading and writing) is shared by every kind
(`grounding_eval.results`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from grounding_eval.results import Number, Open, PairedTest, ResultsFile, Strict, parse_model


class Stat(Strict):
    """A score over runs: mean, standard error (null for one run), number of runs, optional bootstrap CI."""

    mean: float
    stderr: float | None
    n: int = Field(ge=1)
    ci: list[float] | None = Field(default=None, min_length=2, max_length=2)  # the bootstrap interval [low, high] (see TaskResult.bootstrap)
    ci_level: float | None = Field(default=None, gt=0, lt=1)


class TaskResult(Strict):
    """The headline numbers of one task: `results.<task>`."""

    main_metric: str
    probe: dict[str, Stat]  # metric -> the probe on the model's text embeddings
    controls: dict[str, dict[str, Stat]] = {}  # control (permuted_text, random_init, ...) -> metric -> stat
    chance: dict[str, Number]
    paired_tests: dict[str, dict[str, PairedTest]] = {}  # control -> metric -> test
    bootstrap: dict[str, Any] = {}  # resamples, unit, confidence

    def main(self, variant: str = "probe") -> Stat | None:
        """The main metric's statistic for the probe or a control (None when that control did not run)."""
        scores = self.probe if variant == "probe" else self.controls.get(variant, {})
        return scores.get(self.main_metric)


class RunVariant(Open):
    """One text variant in one run: its scores on the test concepts' instances."""

    scores: dict[str, Number]
    per_class: dict[str, dict[str, Number]] = {}
    n_test_instances: int


class Run(Open):
    """One class split: seed, train and test concepts, and one entry per text variant (probe, controls)."""

    __pydantic_extra__: dict[str, RunVariant] = Field(init=False)
    seed: int
    train: list[str]
    test: list[str]
    probe: RunVariant

    def variant(self, name: str) -> RunVariant | None:
        return self.probe if name == "probe" else (self.model_extra or {}).get(name)


class Skipped(Open):
    id: str
    reason: str


class DatasetRecord(Strict):
    name: str
    fingerprint: str
    n_concepts: int
    n_instances: int
    skipped: list[Skipped]
    provenance: Any = None


class PerceptionRecord(Strict):
    name: str
    modality: str | None = None
    identity: dict[str, Any]
    cache_key: str | None = None


class TaskRecord(Strict):
    """Everything needed to reproduce and audit one task: `tasks.<task>`."""

    version: int
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    config: dict[str, Any]  # the resolved task config (grounding_eval.tasks.TaskConfig)
    dataset: DatasetRecord
    concepts: list[str]
    perception_encoder: PerceptionRecord
    text_encoder: dict[str, Any] = {}  # cache key, prompts, spans, and what the text encoder reports
    seeds: list[int]
    runs: list[Run] = Field(min_length=1)
    # variant -> concept -> {n_runs, n_instances, metric: value}, pooled over every run the concept was tested in
    per_class: dict[str, dict[str, dict[str, Number]]] = {}
    concept_parents: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    timing_seconds: dict[str, Number] = {}


class Results(ResultsFile):
    """One results file: one evaluation call, possibly several tasks (as in lm-eval)."""

    results: dict[str, TaskResult]  # task -> the headline numbers
    tasks: dict[str, TaskRecord]  # task -> everything needed to reproduce and audit it

    kind: ClassVar[str] = "probe"  # not a field: probe files carry no `kind` key (schema version 1 as written)





RESULTS_SCHEMA: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                  **Results.model_json_schema()}


def parse_results(data: Any, source: str = "results") -> Results:
    """The typed results; a one-line GroundingEvalError names the first field that breaks the schema."""
    return parse_model(Results, data, source)
