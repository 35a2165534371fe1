"""The generative kind's results file as typed models (kind: generative), built by `command.evaluate` from
what the runner returns; read by its table, `compare` and the leaderboard."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from grounding_eval.kinds.generative.outcomes import KINDS
from grounding_eval.results import Number, Open, PairedTest, ResultsFile, Strict, parse_model


def _known_kind(value: Any) -> Any:
    if value not in KINDS:  # one short line that names every valid kind (pydantic's own is cut off)
        raise ValueError(f"{repr(value)[:24]}: valid kinds: {','.join(KINDS)}")
    return value


OutcomeKind = Annotated[Literal[KINDS], BeforeValidator(_known_kind)]  # type: ignore[valid-type]


class Interval(Open):
    """A score over clips (or concepts) with its bootstrap interval; mean null when nothing was scored."""

    mean: float | None
    ci: list[float] | None = Field(default=None, min_length=2, max_length=2)
    n: int = Field(ge=0)


class FadScore(Strict):
    """FAD at the set's own N and FAD-inf (extrapolated); null where undefined (FAD under 2 clips, FAD-inf
    under 8): the results are standard JSON, which has no NaN."""

    fad: float | None
    fad_inf: float | None
    n_generated: int
    n_reference: int


class ScoreSet(Open):
    """One set of clips scored: `accuracy@K` (one key per K), MRR, KAD, FAD."""

    __pydantic_extra__: dict[str, Interval] = Field(init=False)
    n_clips: int = Field(ge=0)
    mrr: Interval | None = None
    kad: Interval | None = None
    fad: FadScore | None = None
    note: str | None = None
    clap: "ScoreSet | None" = None  # the same clips' CLAP scores (clap_score, accuracy@K, MRR), when scoring.clap is set

    def metric(self, name: str) -> Interval | None:
        """A text-audio score by name (`mrr`, `accuracy@1`, ...); None when not scored."""
        value = getattr(self, name, None) if name in type(self).model_fields else (self.model_extra or {}).get(name)
        return value if isinstance(value, Interval) else None


class Outcomes(Strict):
    """What became of every program: counts per kind and the valid-audio rate with its interval."""

    n: int = Field(ge=0)
    counts: dict[str, int]
    valid_rate: float = Field(ge=0, le=1)
    valid_rate_interval: list[float] = Field(min_length=2, max_length=2)
    interval: str


class NoteScores(Strict):
    """The notes tier's weight-free scores: pitch error in cents, duration error."""

    pitch_error_cents: Interval
    pitch_error_cents_median: float | None
    within_50_cents: Interval
    octave_errors: int
    unvoiced: int
    duration_error_s: Interval


class ClapScores(Strict):
    """A system's CLAP scores (scoring.clap set): clap_score, accuracy@K and MRR per set of its clips."""

    valid_only: ScoreSet
    failures_as_silence: ScoreSet
    shuffled_prompts: ScoreSet | None = None


class SystemScores(Strict):
    """One system (the model, or the template baseline): outcomes, scores over valid clips and with failures as silence."""

    outcomes: Outcomes
    valid_only: ScoreSet
    failures_as_silence: ScoreSet
    notes: NoteScores | None = None
    shuffled_prompts: ScoreSet | None = None
    clap: ClapScores | None = None


class GenerativePairedTest(PairedTest):
    note: str | None = None


class GenerativeScores(Strict):
    systems: dict[str, SystemScores] = Field(min_length=1)  # the model's system first, then the template control
    controls: dict[str, ScoreSet] = {}  # silence, white_noise, split_half
    paired_tests: dict[str, dict[str, GenerativePairedTest]] = {}  # "<system>_vs_shuffled_prompts" -> metric -> test


class GenerativeTaskResult(Strict):
    """The headline numbers of one generative task: `results.<task>`."""

    kind: Literal["generative"]
    main_metric: str
    results: GenerativeScores
    chance: dict[str, float]

    @property
    def main_system(self) -> str:
        """The system under test (the template baseline when the model is `template`)."""
        return next(iter(self.results.systems))

    def main(self, system: str | None = None, scored_on: str = "failures_as_silence") -> Interval | None:
        """The main metric of a system, over `valid_only` or `failures_as_silence` clips."""
        s = self.results.systems.get(system or self.main_system)
        return getattr(s, scored_on).metric(self.main_metric) if s else None


class ProgramRecord(Open):
    """One (prompt, sample) program and what became of it; `rank` is its clip's rank among all concepts
    (the silent clip's rank for a failure), from which every per-clip score and the paired tests follow."""

    prompt_id: str
    sample: int = Field(ge=0)
    kind: OutcomeKind
    rank: int | None = Field(default=None, ge=1)


class ExecutionRecord(Strict):
    """What the execution cache keeps of one program (`Execution.record()`, plus the clip's hash for an ok):
    a record that does not fit is recomputed, never replayed."""

    kind: OutcomeKind
    detail: str = ""
    seconds: float = Field(ge=0, allow_inf_nan=False)
    n_samples: int | None = Field(default=None, ge=1)
    sample_rate: int | None = Field(default=None, ge=1000, le=192000)
    sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")


class GenerativeDataset(Strict):
    name: str
    fingerprint: str
    n_concepts: int
    n_references: int
    provenance: Any = None


class NamedIdentity(Open):
    name: str
    identity: dict[str, Any]


class GenerativeTaskRecord(Strict):
    """Everything needed to reproduce and audit one generative task: `tasks.<task>`."""

    version: int
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    config: dict[str, Any]
    dataset: GenerativeDataset
    concepts: list[str]
    prompts: list[dict[str, Any]]
    n_samples: int = Field(ge=1)
    seed: int
    generator: dict[str, Any]
    executor: dict[str, Any]
    protections: dict[str, Any]
    embedder: NamedIdentity
    judge_text_encoder: NamedIdentity
    cache: dict[str, Any] = {}
    executions: dict[str, list[ProgramRecord]]  # system -> one record per (prompt, sample), in that order
    timing_seconds: dict[str, Number] = {}
    sample_size_note: str | None = None
    clap: dict[str, Any] | None = None  # the CLAP checkpoint and both towers' identities, when scoring.clap is set


class GenerativeResults(ResultsFile):
    """One generative results file (kind: generative): one task per call."""

    kind: Literal["generative"]
    results: dict[str, GenerativeTaskResult]
    tasks: dict[str, GenerativeTaskRecord]


GENERATIVE_RESULTS_SCHEMA: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                             **GenerativeResults.model_json_schema()}


def parse_generative_results(data: Any, source: str = "results") -> GenerativeResults:
    """The typed results of a generative run (kind: generative); one line naming the first bad field."""
    return parse_model(GenerativeResults, data, source)
