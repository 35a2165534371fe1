"""Tasks: one YAML file each, validated strictly against the schema in `config`, found by `TaskManager`."""

from __future__ import annotations

from grounding_eval.tasks.config import (
    DatasetConfig,
    EncoderConfig,
    ProbeConfig,
    SplitConfig,
    TaskConfig,
    load_task_file,
    task_from_dict,
)
from grounding_eval.tasks.manager import TaskManager, builtin_task_dir

__all__ = [
    "DatasetConfig",
    "EncoderConfig",
    "ProbeConfig",
    "SplitConfig",
    "TaskConfig",
    "TaskManager",
    "builtin_task_dir",
    "load_task_file",
    "task_from_dict",
]
