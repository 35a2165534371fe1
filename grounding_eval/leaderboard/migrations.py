"""Versioned rewrites of the committed leaderboard files (`grounding-eval leaderboard migrate`).

An entry is a submitted results file, split per task; what a results file holds changes over time, and the
committed entries must follow without anyone editing JSON by hand. Each migration is a pure function of one
file's data, listed with the format it produces. `leaderboard/format.json` records the format the committed
files are in; `migrate` applies every pending migration to every entry (submissions/) and golden result
(golden/), writes each changed file atomically, and writes format.json last. A migration is idempotent, so a
run killed half-way is finished by running it again.

Formats:
  1  entries as submitted up to 2026-12 (dataset roots and other paths of the submitter's machine inside);
  2  no local paths: every string that is a path on the machine that ran it (outside the task config, which
     the task hash covers) is replaced by `<local>/<its last part>`. The last part stays because it names
     what was read (`distro_sounds_2`, `FluidR3_GM.sf2`); the folder above it says only where a cache was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError

FORMAT_FILE = "format.json"
WITHHELD = "<local>/"
# The files a migration rewrites, relative to the leaderboard folder.
FOLDERS = ("submissions", "golden")


def is_local_path_value(value: str) -> bool:
    """A string that is a path on the machine that wrote it: absolute (POSIX or Windows), home or relative."""
    v = value.strip()
    if v.startswith(("/", "~", "./", "../", "\\\\")):
        return True
    return len(v) > 2 and v[0].isalpha() and v[1] == ":" and v[2] in "\\/"


def _withheld(value: str) -> str:
    last = value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return WITHHELD + last


def local_paths(data: Any, where: str = "") -> list[str]:
    """Dotted names of the fields that hold a local path; a task's config (hashed, so never rewritten) is skipped."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            at = f"{where}.{key}" if where else str(key)
            if _is_task_config(at):
                continue
            found += local_paths(value, at)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += local_paths(value, f"{where}[{i}]")
    elif isinstance(data, str) and is_local_path_value(data):
        found.append(where)
    return found


def _is_task_config(at: str) -> bool:
    parts = at.split(".")
    return len(parts) == 3 and parts[0] == "tasks" and parts[2] in ("config", "hash")


def withhold_local_paths(data: Any, where: str = "") -> Any:
    """A copy of `data` with every local path (outside task configs) replaced by `<local>/<last part>`."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            at = f"{where}.{key}" if where else str(key)
            out[key] = value if _is_task_config(at) else withhold_local_paths(value, at)
        return out
    if isinstance(data, list):
        return [withhold_local_paths(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and is_local_path_value(data):
        return _withheld(data)
    return data


@dataclass(frozen=True)
class Migration:
    to: int  # the format a file is in after this migration
    what: str
    apply: Callable[[dict[str, Any]], dict[str, Any]]


MIGRATIONS = (
    Migration(2, "withhold local paths (dataset roots in provenance, files read from the machine)", withhold_local_paths),
)
CURRENT = MIGRATIONS[-1].to


def read_format(root: Path) -> int:
    """The format the files under `root` are in: format.json's; without it, 1 if it holds files, else current."""
    path = root / FORMAT_FILE
    if not path.exists():
        return 1 if any(any((root / f).rglob("*.json")) for f in FOLDERS if (root / f).is_dir()) else CURRENT
    try:
        value = json.loads(path.read_text())["format"]
    except (ValueError, KeyError, TypeError):
        raise GroundingEvalError(f"{path}: field format: not readable; expected {{\"format\": N}} with N in 1..{CURRENT}") from None
    if not isinstance(value, int) or not 1 <= value <= CURRENT:
        raise GroundingEvalError(f"{path}: field format: {value!r}; this harness knows formats 1..{CURRENT} "
                                 "(a newer format needs a newer grounding-eval)")
    return value


def require_current(root: Path) -> None:
    """Refuse to add entries to a leaderboard whose committed files are of an older format (mixing the two)."""
    have = read_format(root)
    if have < CURRENT:
        raise GroundingEvalError(f"{root / FORMAT_FILE}: field format: {have}; the entries are of an older format than "
                                 f"this harness writes ({CURRENT}); run `grounding-eval leaderboard migrate --root {root}` first")


@dataclass
class Rewrite:
    path: Path
    fields: list[str]  # what changed, for the report


def plan(root: Path) -> tuple[int, list[Rewrite], dict[Path, dict[str, Any]]]:
    """(format now, the files that change and how, their new data): nothing written."""
    have = read_format(root)
    todo = [m for m in MIGRATIONS if m.to > have]
    rewrites: list[Rewrite] = []
    new: dict[Path, dict[str, Any]] = {}
    for folder in FOLDERS:
        base = root / folder
        for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
            try:
                data = json.loads(path.read_text())
            except ValueError as exc:
                raise GroundingEvalError(f"{path}: not valid JSON ({exc}); fix or remove it before migrating") from None
            before = data
            for m in todo:
                data = m.apply(data)
            if data != before:
                rewrites.append(Rewrite(path, local_paths(before)))
                new[path] = data
    return have, rewrites, new


def migrate(root: str | Path = "leaderboard", dry_run: bool = False) -> tuple[int, list[Rewrite]]:
    """Bring every committed file under `root` to the current format; returns (old format, files rewritten)."""
    root = Path(root)
    if not root.is_dir():
        raise GroundingEvalError(f"{root}: no such leaderboard folder; pass --root")
    have, rewrites, new = plan(root)
    if dry_run:
        return have, rewrites
    for path, data in new.items():
        atomic_write_json(path, data)
    # Last: a run killed before this line left format.json as it was, and the rerun finishes the job.
    write_format(root)
    return have, rewrites


def write_format(root: Path) -> None:
    """Record that the files under `root` are in the current format."""
    atomic_write_json(root / FORMAT_FILE, {"format": CURRENT, "migrations": {str(m.to): m.what for m in MIGRATIONS}})
