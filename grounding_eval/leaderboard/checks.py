"""Can a results file be trusted as a leaderboard entry? Every check raises a one-line GroundingEvalError
naming the file and the field.

What is checked, per task in the file:
- the schema (`RESULTS_SCHEMA`), and that the task exists now with the same version;
- the task hash: the stored hash is the hash of the stored config (nobody edited one without the other),
  and that config is the task as it is now, up to the overrides the leaderboard accepts (ACCEPTED_OVERRIDES);
- provenance: model weights identity, backbone checkpoint identity, seeds that match the runs, versions
  of the harness and torch;
- numbers: every score in [0, 1]; the summary (mean, standard error, n) recomputed from the per-run scores
  (a changed score without its runs is refused); chance recomputed from the metric and the concept count.
"""

from __future__ import annotations

import json
import math
from typing import Any

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError
from grounding_eval.results import validate_results
from grounding_eval.tasks.manager import TaskManager

# Task fields a submission may have changed from the task as shipped, and why that stays comparable:
# - perception_encoder: the backbone is a leaderboard axis (one table column, one folder level);
# - seed: another set of class splits of the same protocol (the seeds are in the entry and on the page);
# - num_runs: more runs only narrow the standard error; fewer than the task's are refused.
# Anything else (--limit, --controls, probe settings, prompts) measures something else and is refused.
ACCEPTED_OVERRIDES = ("perception_encoder", "seed", "num_runs")

# Keys of a model identity / backbone identity that pin the exact weights.
MODEL_WEIGHTS_KEYS = ("revision", "weights_sha256")
BACKBONE_WEIGHTS_KEYS = ("checkpoint_sha256", "weights_sha256", "checkpoint", "revision")
# A weight-free backbone (log-mel statistics, CIELAB coordinates) has no checkpoint: its identity is its parameters.
WEIGHT_FREE_BACKBONES = ("logmel", "cielab")  # cielab: the colour tasks' colour-space conversion
REQUIRED_PACKAGES = ("grounding-eval", "torch")

_ABS_TOL = 1e-9


def base_task(name: str) -> str:
    """The task of a results key: a layer sweep (`--model-args layer=all`) reports `<task>@layer<k>`."""
    return name.split("@", 1)[0]


def canonical_hash(config: dict[str, Any]) -> str:
    """The hash `TaskConfig.content_hash` gives for this config (same canonical JSON)."""
    import hashlib

    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted path of the first place two JSON values differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}{k}"
            d = first_difference(a[k], b[k], f"{where}{k}.")
            if d:
                return d
        return None
    return None if a == b else (where.rstrip(".") or "(value)")


def _stat_from_runs(values: list[float]) -> dict[str, Any]:
    from grounding_eval.protocol import mean_stderr  # protocol imports torch (the probe): only a check pays

    return mean_stderr(values)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=_ABS_TOL)


def check_summary(res: dict[str, Any], task: str, source: str) -> None:
    """The summary's mean, standard error and n for every variant and metric, recomputed from the runs."""
    runs = res["tasks"][task]["runs"]
    summary = {"probe": res["results"][task]["probe"], **res["results"][task].get("controls", {})}
    for variant, metrics in summary.items():
        for metric, stat in metrics.items():
            field = f"results.{task}.{'probe' if variant == 'probe' else 'controls.' + variant}.{metric}"
            try:
                values = [float(run[variant]["scores"][metric]) for run in runs]
            except (KeyError, TypeError):
                raise GroundingEvalError(f"{source}: field {field}: has no per-run scores in tasks.{task}.runs; "
                                         "a summary must come with the runs it summarises") from None
            want = _stat_from_runs(values)
            if stat["n"] != want["n"] or not _close(stat["mean"], want["mean"]) or not _close(stat["stderr"], want["stderr"]):
                raise GroundingEvalError(
                    f"{source}: field {field}: summary {stat['mean']!r} ± {stat['stderr']!r} (n={stat['n']}) does not match "
                    f"its {len(runs)} runs ({want['mean']!r} ± {want['stderr']!r}); submit the file as the harness wrote it")
    # Every variant measured in the runs must be summarised (no run-level variant hidden from the page).
    for i, run in enumerate(runs):
        for variant in run:
            if variant not in ("seed", "train", "test") and variant not in summary:
                raise GroundingEvalError(f"{source}: field tasks.{task}.runs.{i}.{variant}: variant missing from results.{task}")


def check_ranges(res: dict[str, Any], task: str, source: str) -> None:
    """Scores are fractions: every mean, per-run score and chance in [0, 1], standard errors >= 0."""
    r = res["results"][task]
    for variant, metrics in {"probe": r["probe"], **{f"controls.{k}": v for k, v in r.get("controls", {}).items()}}.items():
        for metric, stat in metrics.items():
            if not (0.0 <= stat["mean"] <= 1.0) or (stat["stderr"] is not None and not (0.0 <= stat["stderr"] <= 1.0)):
                raise GroundingEvalError(f"{source}: field results.{task}.{variant}.{metric}: mean {stat['mean']!r}, "
                                         f"stderr {stat['stderr']!r}; scores are fractions in [0, 1]")
    for metric, value in r["chance"].items():
        if not 0.0 <= value <= 1.0:
            raise GroundingEvalError(f"{source}: field results.{task}.chance.{metric}: {value!r} is not in [0, 1]")
    for i, run in enumerate(res["tasks"][task]["runs"]):
        for variant, rec in run.items():
            if isinstance(rec, dict):
                for metric, value in rec.get("scores", {}).items():
                    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                        raise GroundingEvalError(f"{source}: field tasks.{task}.runs.{i}.{variant}.scores.{metric}: "
                                                 f"{value!r} is not in [0, 1]")


def check_chance(res: dict[str, Any], task: str, source: str) -> None:
    """Chance recomputed from the task's metrics and the number of concepts (chance is drawn on the page)."""
    t = res["tasks"][task]
    n = t["dataset"]["n_concepts"]
    if len(t["concepts"]) != n:
        raise GroundingEvalError(f"{source}: field tasks.{task}.concepts: {len(t['concepts'])} names for n_concepts={n}")
    want: dict[str, float] = {}
    for metric, margs in t["config"].get("metrics", {}).items():
        want.update(plugins.registries().metrics.get(metric).extra["chance"](n, **(margs or {})))
    got = res["results"][task]["chance"]
    for metric, value in want.items():
        if metric not in got or not _close(got[metric], value):
            raise GroundingEvalError(f"{source}: field results.{task}.chance.{metric}: {got.get(metric)!r}, but "
                                     f"{n} concepts give {value!r}")
    if res["results"][task]["main_metric"] != t["config"].get("main_metric"):
        raise GroundingEvalError(f"{source}: field results.{task}.main_metric: {res['results'][task]['main_metric']!r} "
                                 f"is not the task's main_metric {t['config'].get('main_metric')!r}")


def check_task(res: dict[str, Any], task: str, source: str, include_paths: tuple[str, ...] = ()) -> None:
    """Version and hash against the task as it is now, up to ACCEPTED_OVERRIDES."""
    t = res["tasks"][task]
    if canonical_hash(t["config"]) != t["hash"]:
        raise GroundingEvalError(f"{source}: field tasks.{task}.hash: {t['hash'][:12]}… is not the hash of the stored "
                                 f"config ({canonical_hash(t['config'])[:12]}…); the config or the hash was edited")
    current = TaskManager(list(include_paths)).get(base_task(task))
    if t["version"] != current.version:
        raise GroundingEvalError(f"{source}: field tasks.{task}.version: {t['version']}, but the task is at version "
                                 f"{current.version} now; rerun with the current harness")
    sub = t["config"]
    try:
        expected = current.with_overrides(**{k: sub[k] for k in ACCEPTED_OVERRIDES if k in sub})
    except GroundingEvalError as exc:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config: {exc}") from None
    if expected.content_hash() != t["hash"]:
        where = first_difference(expected.to_dict(), sub) or "(unknown)"
        raise GroundingEvalError(
            f"{source}: field tasks.{task}.hash: the run's config differs from task {task} v{current.version} at "
            f"{where!r} (only {', '.join(ACCEPTED_OVERRIDES)} may differ); rerun without that override")
    if sub.get("num_runs", 0) < current.num_runs:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config.num_runs: {sub.get('num_runs')} runs; the task "
                                 f"asks for at least {current.num_runs}")


def check_provenance(res: dict[str, Any], task: str, source: str) -> None:
    """The exact weights of both models, the seeds of the runs, and the versions that made the numbers."""
    ident = res["model"].get("identity") or {}
    if not any(ident.get(k) for k in MODEL_WEIGHTS_KEYS):
        raise GroundingEvalError(f"{source}: field model.identity: no {' or '.join(MODEL_WEIGHTS_KEYS)}; the model's "
                                 "exact weights must be known (rerun with the current harness)")
    pe = res["tasks"][task]["perception_encoder"]
    if pe["name"] not in WEIGHT_FREE_BACKBONES and not any((pe.get("identity") or {}).get(k) for k in BACKBONE_WEIGHTS_KEYS):
        raise GroundingEvalError(f"{source}: field tasks.{task}.perception_encoder.identity: no checkpoint identity "
                                 f"({', '.join(BACKBONE_WEIGHTS_KEYS)}) for backbone {pe['name']!r}")
    t = res["tasks"][task]
    run_seeds = [r["seed"] for r in t["runs"]]
    base = t["config"].get("seed")
    if t["seeds"] != run_seeds or run_seeds != [base + i for i in range(len(run_seeds))] or len(run_seeds) != t["config"].get("num_runs"):
        raise GroundingEvalError(f"{source}: field tasks.{task}.seeds: {t['seeds']} do not match the runs {run_seeds} "
                                 f"of config seed={base}, num_runs={t['config'].get('num_runs')}")
    packages = res["environment"].get("packages") or {}
    missing = [p for p in REQUIRED_PACKAGES if not packages.get(p)]
    if missing:
        raise GroundingEvalError(f"{source}: field environment.packages: no version for {', '.join(missing)}")


def check_results_for_leaderboard(res: dict[str, Any], source: str, include_paths: tuple[str, ...] = ()) -> None:
    """All checks for every task in a results dict (already loaded); raises on the first problem."""
    validate_results(res, source)
    if not res["results"]:
        raise GroundingEvalError(f"{source}: field results: no task in the file")
    for task in res["results"]:
        check_task(res, task, source, include_paths)
        check_provenance(res, task, source)
        check_ranges(res, task, source)
        check_summary(res, task, source)
        check_chance(res, task, source)
