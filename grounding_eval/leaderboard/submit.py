"""`leaderboard submit`: check a results file, split it into one entry per task, and file each entry under

    leaderboard/submissions/<task>/<backbone>/<model>/<revision>.json

Every path part goes through `safe_name` (no separator, no leading dot, bounded length) and the final path
is checked to lie inside the submissions folder, so no name in a submission can write outside it.

Duplicates (an entry already at that path), the better-or-newer policy:
- the same runs again (same seeds, same scores): nothing to do;
- the stored entry is of an older task version: replaced (newer);
- same task version, more runs: replaced (better: a smaller standard error on the same protocol);
- same task version, same seeds, a later date: replaced (newer: a rerun of the same splits, e.g. with newer
  packages; it cannot be a luckier draw, the splits are the same);
- anything else (fewer runs, or other seeds with as many runs): refused. Rerunning with new seeds until a
  number looks good is exactly what a leaderboard must not reward. `--force` overrides, for maintainers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.checks import check_results_for_leaderboard
from grounding_eval.results import safe_name, validate_results

SUBMISSIONS = "submissions"


@dataclass
class Placed:
    """What happened to one task's entry."""

    task: str
    path: Path
    action: str  # "added", "replaced", "unchanged"
    reason: str


def split_by_task(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One single-task results dict per task; model, environment and date are shared by all."""
    out = {}
    for task in res["results"]:
        one = {k: v for k, v in res.items() if k not in ("results", "tasks", "output_file")}
        one["results"] = {task: res["results"][task]}
        one["tasks"] = {task: res["tasks"][task]}
        out[task] = one
    return out


def model_revision(res: dict[str, Any]) -> str:
    """The model's revision for the file name: the hub revision, else the first 12 hex of the weights hash."""
    ident = res["model"].get("identity") or {}
    if ident.get("revision"):
        return str(ident["revision"])
    return "sha256-" + str(ident.get("weights_sha256", ""))[:12]


def entry_path(root: Path, res: dict[str, Any]) -> Path:
    """Where a single-task entry goes, guaranteed inside root/submissions."""
    (task,) = res["tasks"]
    backbone = res["tasks"][task]["perception_encoder"]["name"]
    parts = [safe_name(task), safe_name(backbone), safe_name(res["model"]["name"]), safe_name(model_revision(res)) + ".json"]
    base = (root / SUBMISSIONS).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):  # safe_name makes this impossible; checked anyway, it is cheap
        raise GroundingEvalError(f"model name {res['model']['name']!r}: would be written outside {base}")
    return path


def _run_key(res: dict[str, Any]) -> tuple:
    (task,) = res["tasks"]
    return tuple((r["seed"], json.dumps({k: v for k, v in r.items()}, sort_keys=True)) for r in res["tasks"][task]["runs"])


def decide(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str]:
    """("replace" | "keep" | "same", why) under the better-or-newer policy in this module's docstring."""
    (task,) = new["tasks"]
    to, tn = old["tasks"][task], new["tasks"][task]
    if to["version"] < tn["version"]:
        return "replace", f"newer: task version {tn['version']} replaces version {to['version']}"
    if to["version"] > tn["version"]:
        return "keep", f"the stored entry is of a newer task version ({to['version']})"
    if _run_key(old) == _run_key(new):
        return "same", "the same runs are already on the leaderboard"
    if len(tn["runs"]) > len(to["runs"]):
        return "replace", f"better: {len(tn['runs'])} runs replace {len(to['runs'])}"
    if len(tn["runs"]) < len(to["runs"]):
        return "keep", f"the stored entry has more runs ({len(to['runs'])} > {len(tn['runs'])})"
    if tn["seeds"] == to["seeds"] and new["date"] > old["date"]:
        return "replace", "newer: a later rerun of the same seeds"
    if tn["seeds"] != to["seeds"]:
        return "keep", (f"the stored entry has as many runs with seeds {to['seeds']}; other seeds do not replace it "
                        "(no re-drawing until a number looks good); use --force if this is on purpose")
    return "keep", "the stored entry is as recent"


def plan_submission(res: dict[str, Any], source: str, root: Path, *, force: bool = False,
                    include_paths: tuple[str, ...] = ()) -> list[tuple[Placed, dict[str, Any] | None]]:
    """Check everything and decide every entry's fate before anything is written (all or nothing)."""
    check_results_for_leaderboard(res, source, include_paths)
    plan = []
    for task, entry in split_by_task(res).items():
        path = entry_path(root, entry)
        if path.exists():
            try:
                old = json.loads(path.read_text())
                validate_results(old, str(path))
            except (ValueError, GroundingEvalError):
                old = None
            if old is not None and old["model"]["name"] != entry["model"]["name"]:
                raise GroundingEvalError(f"{source}: field model.name: {entry['model']['name']!r} and the stored "
                                         f"{old['model']['name']!r} share the file name {path.name}; rename the model")
            verdict, why = decide(old, entry) if old is not None else ("replace", "the stored file was unreadable")
            if verdict == "same":
                plan.append((Placed(task, path, "unchanged", why), None))
            elif verdict == "replace" or force:
                plan.append((Placed(task, path, "replaced", why if verdict == "replace" else f"--force ({why})"), entry))
            else:
                raise GroundingEvalError(f"{source}: task {task}: refused, {why} ({path})")
        else:
            plan.append((Placed(task, path, "added", "new entry"), entry))
    return plan


def submit(results_path: str, root: str | Path = "leaderboard", *, force: bool = False,
           include_paths: tuple[str, ...] = ()) -> list[Placed]:
    """Check `results_path` and file its entries under `root`; returns what happened to each task."""
    from grounding_eval.results import load_results

    res = load_results(results_path)
    plan = plan_submission(res, results_path, Path(root), force=force, include_paths=include_paths)
    for placed, entry in plan:
        if entry is not None:
            atomic_write_json(placed.path, entry)
    return [p for p, _ in plan]
