"""Can a results file be trusted as a leaderboard entry? Every check raises a one-line GroundingEvalError
naming the file and the field.

What is checked, per task in the file, whatever its kind:
- the schema (the kind's results model), and that the task exists now with the same version;
- the task hash: the stored hash is the hash of the stored config (nobody edited one without the other),
  and that config is the task as it is now, up to the overrides the kind's leaderboard accepts (`OVERRIDES`)
  and at least as much measured as the task asks (`check_size`: runs, samples per prompt);
- provenance: model weights identity, encoder checkpoint identity, seeds, versions of the harness and torch;
- numbers: every score a fraction; the summary recomputed from what the file says happened unit by unit (a
  changed score without its units is refused); each unit's scores from the data beneath it and every interval
  from its units, where the file holds them (`check_units`); chance recomputed from the metric and the concept count.
The kind's own rules are its `leaderboard` module (named in the kinds table; `leaderboard/rules.py` lists
what one provides); this module holds what they share and asks the kind for the rest.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import get_kind
from grounding_eval.results import ResultsFile, as_results
from grounding_eval.tasks.config import canonical_hash
from grounding_eval.tasks.manager import TaskManager
from grounding_eval.validation import first_difference

__all__ = ["MODEL_WEIGHTS_KEYS", "BACKBONE_WEIGHTS_KEYS", "WEIGHT_FREE_BACKBONES", "REQUIRED_PACKAGES", "base_task",
           "canonical_hash", "first_difference", "rules", "close", "weights_known", "check_packages", "check_chance_levels",
           "check_task", "check_provenance", "check_ranges", "check_summary", "check_units", "check_chance",
           "check_results_for_leaderboard"]

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


def rules(res: ResultsFile) -> ModuleType:
    """The leaderboard rules of the file's kind (its `leaderboard` module)."""
    return get_kind(res.kind).load("leaderboard")


def close(a: float | None, b: float | None) -> bool:
    """Equal up to float rounding (a recomputed summary against the stored one); None only equals None."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=_ABS_TOL)


def weights_known(ident: dict[str, Any]) -> bool:
    return any(ident.get(k) for k in MODEL_WEIGHTS_KEYS)


def check_packages(res: ResultsFile, source: str) -> None:
    """The versions that made the numbers: the harness's and torch's."""
    missing = [p for p in REQUIRED_PACKAGES if not res.environment.packages.get(p)]
    if missing:
        raise GroundingEvalError(f"{source}: field environment.packages: no version for {', '.join(missing)}")


def check_chance_levels(res: ResultsFile, task: str, source: str, want: dict[str, float]) -> None:
    """The file's chance levels against `want` (recomputed by the kind from its metrics and concepts), the
    concept count against the concept names, and the main metric against the task's."""
    t, r = res.tasks[task], res.results[task]
    n = t.dataset.n_concepts
    if len(t.concepts) != n:
        raise GroundingEvalError(f"{source}: field tasks.{task}.concepts: {len(t.concepts)} names for n_concepts={n}")
    for metric, value in want.items():
        if metric not in r.chance or not close(r.chance[metric], value):
            raise GroundingEvalError(f"{source}: field results.{task}.chance.{metric}: {r.chance.get(metric)!r}, but "
                                     f"{n} concepts give {value!r}")
    if r.main_metric != t.config.get("main_metric"):
        raise GroundingEvalError(f"{source}: field results.{task}.main_metric: {r.main_metric!r} "
                                 f"is not the task's main_metric {t.config.get('main_metric')!r}")


_MISSING = object()


def _dotted_get(config: dict[str, Any], key: str) -> Any:
    """config["a"]["b"] for key "a.b"; _MISSING when a part is absent."""
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return _MISSING
        config = config[part]
    return config


def check_task(res: ResultsFile | dict[str, Any], task: str, source: str, include_paths: tuple[str, ...] = ()) -> None:
    """Version and hash against the task as it is now, up to the kind's OVERRIDES; then the kind's check_size."""
    res = as_results(res, source)
    t = res.tasks[task]
    if canonical_hash(t.config) != t.hash:
        raise GroundingEvalError(f"{source}: field tasks.{task}.hash: {t.hash[:12]}… is not the hash of the stored "
                                 f"config ({canonical_hash(t.config)[:12]}…); the config or the hash was edited")
    current = TaskManager(list(include_paths)).get(base_task(task))
    if t.version != current.version:
        raise GroundingEvalError(f"{source}: field tasks.{task}.version: {t.version}, but the task is at version "
                                 f"{current.version} now; rerun with the current harness")
    kind = rules(res)
    try:
        given = {k: _dotted_get(t.config, k) for k in kind.OVERRIDES}
        expected = current.with_overrides(**{k: v for k, v in given.items() if v is not _MISSING})
    except GroundingEvalError as exc:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config: {exc}") from None
    if expected.content_hash() != t.hash:
        where = first_difference(expected.to_dict(), t.config) or "(unknown)"
        raise GroundingEvalError(
            f"{source}: field tasks.{task}.hash: the run's config differs from task {task} v{current.version} at "
            f"{where!r} (only {', '.join(kind.OVERRIDES)} may differ); rerun without that override")
    kind.check_size(res, task, current, source)


def check_provenance(res: ResultsFile | dict[str, Any], task: str, source: str) -> None:
    """The exact weights of the models, the seeds, and the versions that made the numbers (the kind's rules)."""
    res = as_results(res, source)
    rules(res).check_provenance(res, task, source)


def check_ranges(res: ResultsFile | dict[str, Any], task: str, source: str) -> None:
    """Scores are fractions in [0, 1], and so is chance (the kind's rules)."""
    res = as_results(res, source)
    rules(res).check_ranges(res, task, source)


def check_summary(res: ResultsFile | dict[str, Any], task: str, source: str) -> None:
    """The summary recomputed from the units it summarises: runs, clips (the kind's rules)."""
    res = as_results(res, source)
    rules(res).check_summary(res, task, source)


def check_units(res: ResultsFile | dict[str, Any], task: str, source: str) -> None:
    """What the leaderboard recomputes beyond the summary, where the kind's file holds the data: each unit's
    scores from the data beneath it (a probe run's from its per-class values), every interval from its units
    (the kind's rules; a kind without `check_units` has nothing more). `compare` asks only `check_summary`."""
    res = as_results(res, source)
    check = getattr(rules(res), "check_units", None)
    if check is not None:
        check(res, task, source)


def check_chance(res: ResultsFile | dict[str, Any], task: str, source: str) -> None:
    """Chance recomputed from the task's metrics and the number of concepts (the kind's rules)."""
    res = as_results(res, source)
    rules(res).check_chance(res, task, source)


def check_results_for_leaderboard(res: ResultsFile | dict[str, Any], source: str, include_paths: tuple[str, ...] = ()) -> None:
    """All checks for every task in a results file (already loaded); raises on the first problem."""
    res = as_results(res, source)
    if not res.results:
        raise GroundingEvalError(f"{source}: field results: no task in the file")
    for task in res.results:
        check_task(res, task, source, include_paths)
        check_provenance(res, task, source)
        check_ranges(res, task, source)
        check_summary(res, task, source)
        check_units(res, task, source)
        check_chance(res, task, source)
