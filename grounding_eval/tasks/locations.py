"""Where task files live: the shipped tasks/ folder and the folders plugins registered.

Shared by the loader (`include:` lookups) and the manager (discovery), which is why it is its own module.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import grounding_eval
from grounding_eval import plugins


def builtin_task_dir() -> Path | None:
    """The repo's tasks/ (source checkout, editable install), else the copy packaged as grounding_eval/task_yaml."""
    repo = Path(grounding_eval.__file__).resolve().parent.parent / "tasks"
    if repo.is_dir():
        return repo
    packaged = importlib.resources.files("grounding_eval") / "task_yaml"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return None


def include_search_dirs() -> list[Path]:
    """Folders in which `include: NAME.yaml` is looked up when NAME.yaml is not next to the including file:
    the harness's tasks/, then each folder of task files a plugin registered (so a user's one-file task
    can build on a plugin's task as on a shipped one)."""
    dirs = [d for d in [builtin_task_dir()] if d is not None]
    for _plugin, item in plugins.registries().tasks:
        if isinstance(item, (str, os.PathLike)):
            folder = Path(item) if Path(item).is_dir() else Path(item).parent
            if folder.is_dir() and folder not in dirs:
                dirs.append(folder)
    return dirs
