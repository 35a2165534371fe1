"""Finding tasks: the shipped YAML folder, plugin-registered tasks, and --include-path folders.

Discovery reads only each file's `task:` name; a file is fully validated when its task is requested (or
when everything is listed), so one broken file does not stop other tasks from running.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError
from grounding_eval.tasks.config import TaskFile, load_task_file, read_task_name, task_from_dict
from grounding_eval.tasks.locations import builtin_task_dir, include_search_dirs

__all__ = ["TaskManager", "builtin_task_dir", "include_search_dirs"]


def _shown(path: Path) -> str:
    """A path as users should see it in messages: relative to the working directory when under it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except (ValueError, OSError):
        return str(path)


def _is_archived(path: Path) -> bool:
    """`NAME@VERSION.yaml` is a frozen earlier version of task NAME, reached only as `--task NAME@VERSION`."""
    return "@" in path.stem


def _yaml_files(root: Path) -> list[Path]:
    """Task files under root (or root itself), sorted for a stable order; `_*.yaml` are bases, not tasks,
    and `NAME@VERSION.yaml` files are archived versions, not tasks of their own."""
    if root.is_file():
        return [root] if not root.name.startswith("_") and not _is_archived(root) else []
    return sorted(p for p in root.rglob("*.yaml")
                  if p.is_file() and not p.name.startswith("_") and not _is_archived(p))


@dataclass
class _Entry:
    """Where one task comes from: a file, or a dict a plugin registered."""

    name: str | None  # None when even the name could not be read
    origin: str  # file path or "<plugin X>", for messages and `describe()`
    path: Path | None = None
    data: dict[str, Any] | None = None
    error: GroundingEvalError | None = None  # why the name could not be read, raised only when it matters


class TaskManager:
    """All tasks visible to this run, by name."""

    def __init__(self, include_paths: Iterable[str | Path] = (), *, plugin_tasks: list[tuple[str, Any]] | None = None):
        """`include_paths`: extra folders (searched recursively) or files. `plugin_tasks`: (plugin, path-or-dict)
        pairs; by default those registered through `grounding_eval.plugins.registries().tasks`."""
        self._include_paths = [Path(p) for p in include_paths]
        for p in self._include_paths:
            if not p.exists():
                raise GroundingEvalError(f"--include-path {p}: no such file or directory; give a folder of task YAML files")
        self._plugin_tasks = plugin_tasks
        self._entries: list[_Entry] | None = None
        self._by_name: dict[str, _Entry] | None = None
        self._loaded: dict[str, TaskFile] = {}

    # -- discovery ---------------------------------------------------------------------------------

    def _discover(self) -> list[_Entry]:
        if self._entries is not None:
            return self._entries
        entries: list[_Entry] = []
        seen_files: set[Path] = set()

        def add_file(path: Path, origin_suffix: str = "") -> None:
            real = path.resolve()
            if real in seen_files:  # the same file reached twice (e.g. a plugin registering tasks/ again) is one task
                return
            seen_files.add(real)
            shown = _shown(path)
            try:
                entries.append(_Entry(read_task_name(path, display=shown), shown + origin_suffix, path=path))
            except GroundingEvalError as exc:
                entries.append(_Entry(None, shown + origin_suffix, path=path, error=exc))

        builtin = builtin_task_dir()
        if builtin is not None:
            for f in _yaml_files(builtin):
                add_file(f)

        plugin_tasks = self._plugin_tasks
        if plugin_tasks is None:
            plugin_tasks = plugins.registries().tasks
        for plugin, item in plugin_tasks:
            if isinstance(item, dict):
                name = item.get("task")
                origin = f"<plugin {plugin}>"
                if isinstance(name, str) and name:
                    entries.append(_Entry(name, origin, data=item))
                else:
                    err = GroundingEvalError(f"{origin}: registered a task dict without a 'task' name")
                    entries.append(_Entry(None, origin, data=item, error=err))
            elif isinstance(item, (str, os.PathLike)):
                p = Path(item)
                if not p.exists():
                    entries.append(_Entry(None, f"<plugin {plugin}>", error=GroundingEvalError(
                        f"plugin {plugin!r} registered task path {str(p)!r}, which does not exist; reinstall the plugin")))
                    continue
                for f in _yaml_files(p):
                    add_file(f, f" (plugin {plugin})")
            else:
                entries.append(_Entry(None, f"<plugin {plugin}>", error=GroundingEvalError(
                    f"plugin {plugin!r} registered a task as {type(item).__name__}; register a YAML path or a dict")))

        for root in self._include_paths:
            for f in _yaml_files(root):
                add_file(f)

        self._entries = entries
        return entries

    def _index(self) -> dict[str, _Entry]:
        """Name -> entry, refusing the same name from two places (no silent shadowing)."""
        if self._by_name is None:
            by_name: dict[str, _Entry] = {}
            for e in self._discover():
                if e.name is None:
                    continue
                if e.name in by_name:
                    first = by_name[e.name]
                    raise GroundingEvalError(
                        f"task {e.name!r} is defined twice: in {first.origin} and in {e.origin}; rename one of them"
                    )
                by_name[e.name] = e
            self._by_name = by_name
        return self._by_name

    def _broken(self) -> list[_Entry]:
        return [e for e in self._discover() if e.error is not None]

    # -- public ------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every task name, sorted. Raises on a file whose name cannot be read: listing must not hide it."""
        broken = self._broken()
        if broken:
            raise broken[0].error  # type: ignore[misc]
        return sorted(self._index())

    def _archived(self) -> dict[str, Path]:
        """`NAME@VERSION` -> its frozen file, from the shipped tasks/, plugin task folders and --include-path."""
        roots = [d for d in include_search_dirs()] + [p for p in self._include_paths if p.is_dir()]
        found: dict[str, Path] = {}
        for root in roots:
            for f in sorted(root.rglob("*@*.yaml")):
                found.setdefault(f.stem, f)
        return found

    def _get_version(self, name: str) -> TaskFile:
        """`NAME@VERSION`: the current task when it is at that version, else its archived file."""
        base, _, ver = name.partition("@")
        current = self.get(base)
        if str(current.version) == ver:
            return current
        archived = self._archived()
        path = archived.get(name)
        if path is None:
            have = sorted({str(current.version)} | {k.partition("@")[2] for k in archived if k.partition("@")[0] == base})
            raise GroundingEvalError(
                f"task {base!r} has no version {ver!r}: available {', '.join(have)} "
                f"(the current file is version {current.version})"
            )
        cfg = load_task_file(path, display=_shown(path))
        if cfg.task != base or str(cfg.version) != ver:
            raise GroundingEvalError(
                f"{_shown(path)}: an archived task file must say task: {base} and version: {ver} "
                f"(it says {cfg.task!r}, {cfg.version})"
            )
        return cfg

    def get(self, name: str) -> TaskFile:
        """The validated config of one task; `NAME@VERSION` gives that version (current or archived)."""
        if name in self._loaded:
            return self._loaded[name]
        if "@" in name:
            self._loaded[name] = self._get_version(name)
            return self._loaded[name]
        index = self._index()
        entry = index.get(name)
        if entry is None:
            near = difflib.get_close_matches(name, list(index), n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}? " if near else ""
            msg = f"unknown task {name!r}: {hint}list them with `grounding-eval tasks`"
            broken = self._broken()
            own = [e for e in broken if e.path is not None and e.path.stem == name]
            if own:  # the file named like the task could not be read: its own one-line error says why
                raise own[0].error  # type: ignore[misc]
            if broken:  # the task may be in a file that could not be read; say so rather than guess
                msg += f" (note: {len(broken)} task file(s) could not be read, first: {broken[0].error})"
            raise GroundingEvalError(msg)
        if entry.data is not None:
            cfg = task_from_dict(entry.data, source=entry.origin)
        else:
            assert entry.path is not None
            cfg = load_task_file(entry.path, display=_shown(entry.path))
        self._loaded[name] = cfg
        return cfg

    def source(self, name: str) -> str:
        """Where a task is defined: its file path, or `<plugin X>` for a registered dict."""
        self.get(name)
        return self._index()[name].origin

    def all(self) -> dict[str, TaskFile]:
        """Every task, validated; raises on the first bad file."""
        return {n: self.get(n) for n in self.names()}

    def describe(self) -> list[dict[str, Any]]:
        """One row per task for `grounding-eval tasks`: name, version, dataset, encoder, source (dataset and
        encoder "-" for a kind whose config has none: a plugin's kind need not have either)."""
        rows = []
        for name, cfg in self.all().items():
            dataset, encoder = getattr(cfg, "dataset", None), getattr(cfg, "perception_encoder", None)
            rows.append(
                {
                    "name": name,
                    "version": cfg.version,
                    "dataset": dataset.name if dataset is not None else "-",
                    "encoder": encoder.name if encoder is not None else "-",
                    "source": self._index()[name].origin,
                }
            )
        return rows
