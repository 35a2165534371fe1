"""`leaderboard submit`: check a results file, split it into one entry per task, and file each entry under

    leaderboard/submissions/<task>/<backbone>/<model>/<revision>.json

Every path part goes through `safe_name` (no separator, no leading dot, bounded length) and the final path
is checked to lie inside the submissions folder, so no name in a submission can write outside it.

A layer sweep (`--model-args layer=all`, results keys `<task>@layer<k>`) is one entry per task, filed as
`<revision>.layers.json` beside the single-layer entry, and drawn on the page as a layer curve.

A generative results file (kind: generative) is filed the same way, its embedder as the backbone and a
weight-free generator (the template baseline) under its name as revision; "more runs" reads "more samples
per prompt" and the seed is the generator's.

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
from grounding_eval.leaderboard.checks import base_task, check_results_for_leaderboard, rules
from grounding_eval.leaderboard.migrations import FORMAT_FILE, require_current, withhold_local_paths, write_format
from grounding_eval.results import ResultsFile, as_results, load_results, parse_any, safe_name

SUBMISSIONS = "submissions"
# Where the submitter's run wrote its files, on their machine: never part of an entry (a generative run
# records both in the file itself).
LOCAL_PATHS = ("output_file", "plot_files")


@dataclass
class Placed:
    """What happened to one task's entry."""

    task: str
    path: Path
    action: str  # "added", "replaced", "unchanged"
    reason: str


def entry_task(res: ResultsFile | dict[str, Any]) -> str:
    """The one task of an entry (a sweep entry holds every layer of one task)."""
    tasks = {base_task(k) for k in as_results(res).tasks}
    if len(tasks) != 1:
        raise GroundingEvalError(f"field tasks: an entry holds exactly one task, not {', '.join(sorted(tasks))}; "
                                 "resubmit it with `leaderboard submit`")
    return tasks.pop()


def is_sweep(res: ResultsFile | dict[str, Any]) -> bool:
    return any("@layer" in k for k in as_results(res).tasks)


def sweep_layers(res: ResultsFile | dict[str, Any]) -> list[tuple[int, str]]:
    """(layer, results key) of a sweep entry, in layer order."""
    return sorted((int(k.rsplit("@layer", 1)[1]), k) for k in as_results(res).tasks if "@layer" in k)


def split_by_task(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One results dict per task; model, environment and date are shared by all. The layers of a sweep
    stay together: one entry per (task, sweep), drawn as one layer curve on the page. Works on the file's
    data (an entry is the submitted file's own JSON, split), either kind."""
    out: dict[str, dict[str, Any]] = {}
    for key in res["results"]:
        task = base_task(key)
        one = out.setdefault(task, {**{k: v for k, v in res.items() if k not in ("results", "tasks", *LOCAL_PATHS)},
                                    "results": {}, "tasks": {}})
        one["results"][key] = res["results"][key]
        one["tasks"][key] = res["tasks"][key]
    return out


def model_revision(res: ResultsFile | dict[str, Any]) -> str:
    """The model's revision for the file name: the hub revision, else the first 12 hex of the weights hash;
    a weight-free generator (the template baseline) is filed under its name."""
    ident = as_results(res).model.identity
    if ident.get("revision"):
        return str(ident["revision"])
    if not ident.get("weights_sha256") and ident.get("generator"):
        return str(ident["generator"])
    return "sha256-" + str(ident.get("weights_sha256", ""))[:12]


def entry_path(root: Path, res: ResultsFile | dict[str, Any]) -> Path:
    """Where a single-task entry goes, guaranteed inside root/submissions (a sweep: `<revision>.layers.json`)."""
    res = as_results(res)
    task = entry_task(res)
    name = safe_name(model_revision(res)) + (".layers" if is_sweep(res) else "") + ".json"
    parts = [safe_name(task), safe_name(rules(res).backbone(next(iter(res.tasks.values())))), safe_name(res.model.name), name]
    base = (root / SUBMISSIONS).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):  # safe_name makes this impossible; checked anyway, it is cheap
        raise GroundingEvalError(f"model name {res.model.name!r}: would be written outside {base}")
    return path


def decide(old: ResultsFile | dict[str, Any], new: ResultsFile | dict[str, Any]) -> tuple[str, str]:
    """("replace" | "keep" | "same", why) under the better-or-newer policy in this module's docstring."""
    old, new = as_results(old, "stored entry"), as_results(new, "new entry")
    task = sorted(new.tasks)[-1]  # a sweep: every layer shares version, seeds and run count
    if task not in old.tasks:
        return "replace", "other layers: the stored sweep is replaced"
    to, tn = old.tasks[task], new.tasks[task]
    if to.version < tn.version:
        return "replace", f"newer: task version {tn.version} replaces version {to.version}"
    if to.version > tn.version:
        return "keep", f"the stored entry is of a newer task version ({to.version})"
    kind = rules(new)
    if kind.run_key(old) == kind.run_key(new):
        return "same", "the same runs are already on the leaderboard"
    (n_old, unit), (n_new, _) = kind.size(to), kind.size(tn)
    if n_new > n_old:
        return "replace", f"better: {n_new} {unit} replace {n_old}"
    if n_new < n_old:
        return "keep", f"the stored entry has more {unit} ({n_old} > {n_new})"
    if kind.seeds(tn) == kind.seeds(to) and new.date > old.date:
        return "replace", "newer: a later rerun of the same seeds"
    if kind.seeds(tn) != kind.seeds(to):
        return "keep", (f"the stored entry has as many {unit} with seeds {kind.seeds(to)}; other seeds do not replace it "
                        "(no re-drawing until a number looks good); use --force if this is on purpose")
    return "keep", "the stored entry is as recent"


def is_local_path(name: str) -> bool:
    """A name that is a path on the submitter's machine (absolute, relative or home), also as KIND:PATH."""
    for candidate in (name, name.split(":", 1)[-1]):
        if candidate.startswith(("/", "./", "../", "~", "\\")) or candidate in (".", ".."):
            return True
    return False


def is_local_model(res: ResultsFile | dict[str, Any]) -> bool:
    """The harness loaded the model from a folder (its identity says so), or the name is a path."""
    model = as_results(res).model
    return model.identity.get("source") == "local-dir" or is_local_path(model.name)


def public_model(res: dict[str, Any], source: str, public_name: str | None, weights_sha256: str | None) -> dict[str, Any]:
    """A leaderboard entry names a model others can fetch. A run of `--model /some/folder` is refused unless
    its identity carries a hub revision, or the submitter gives a public name and the weights' sha256 (which
    must be the one the harness measured); the entry is then filed under the public name."""
    typed = as_results(res, source).model
    name, ident = typed.name, typed.identity
    if public_name is None and weights_sha256 is None:
        if is_local_model(res) and not ident.get("revision"):
            raise GroundingEvalError(
                f"{source}: field model.name: {name!r} is a folder on the machine that ran it, which nobody else can "
                "fetch; rerun with its hub id (--model org/name, pinned by revision) or submit with "
                "--public-name NAME --weights-sha256 HASH (the sha256 in model.identity.weights_sha256)")
        return res
    if not public_name or not weights_sha256:
        raise GroundingEvalError(f"{source}: --public-name and --weights-sha256 go together (a name others can look up "
                                 "and the hash that proves which weights it means)")
    if is_local_path(public_name):
        raise GroundingEvalError(f"{source}: --public-name {public_name!r} is a local path; give a public name like org/name")
    if weights_sha256.lower() != str(ident.get("weights_sha256", "")).lower():
        raise GroundingEvalError(f"{source}: --weights-sha256 {weights_sha256[:16]}… is not the run's "
                                 f"model.identity.weights_sha256 ({str(ident.get('weights_sha256'))[:16]}…)")
    model = {**res["model"], "name": public_name}
    model["identity"] = {**ident, "model": public_name,
                         "public_name": "given at submission; run from a local folder (path withheld), same weights_sha256"}
    return {**res, "model": model}


def plan_submission(res: ResultsFile | dict[str, Any], source: str, root: Path, *, force: bool = False,
                    include_paths: tuple[str, ...] = (), public_name: str | None = None,
                    weights_sha256: str | None = None) -> list[tuple[Placed, dict[str, Any] | None]]:
    """Check everything and decide every entry's fate before anything is written (all or nothing)."""
    check_results_for_leaderboard(res, source, include_paths)
    require_current(root)
    res = res.to_json() if not isinstance(res, dict) else res  # entries are the file's data, split
    res = public_model(res, source, public_name, weights_sha256)
    # Where the submitter's machine kept things (dataset roots, files read) is nobody else's business and
    # differs between two runs of the same thing: withheld (leaderboard/migrations.py).
    res = withhold_local_paths(res)
    plan = []
    for task, entry in split_by_task(res).items():
        path = entry_path(root, entry)
        if path.exists():
            try:
                old = parse_any(json.loads(path.read_text()), str(path))
            except (ValueError, GroundingEvalError):
                old = None
            if old is not None and old.model.name != entry["model"]["name"]:
                raise GroundingEvalError(f"{source}: field model.name: {entry['model']['name']!r} and the stored "
                                         f"{old.model.name!r} share the file name {path.name}; rename the model")
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
           include_paths: tuple[str, ...] = (), public_name: str | None = None,
           weights_sha256: str | None = None) -> list[Placed]:
    """Check `results_path` and file its entries under `root`; returns what happened to each task."""
    res = load_results(results_path)
    plan = plan_submission(res, results_path, Path(root), force=force, include_paths=include_paths,
                           public_name=public_name, weights_sha256=weights_sha256)
    for placed, entry in plan:
        if entry is not None:
            atomic_write_json(placed.path, entry)
    if not (Path(root) / FORMAT_FILE).exists():
        write_format(Path(root))  # a new leaderboard: its entries are of this harness's format
    return [p for p, _ in plan]
