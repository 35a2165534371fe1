"""Task kinds in one table: what a task file's `kind:` (and a results file's `kind`) selects.

Each kind names its config model (the task file's schema), the function that runs its tasks from the
command line, and its results model (validation and `grounding-eval schema`). They are named by import
path, resolved when a task or results file of that kind is met: the kinds' modules build on the probe
kind's config and load torch, so importing them here would be a cycle and would make every command slow.
A new kind adds one row here and its own package (docs/plugins.md, "A new task kind").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskKind:
    """One kind of task; each part is `module:attribute`."""

    name: str
    config: str  # the task file's model, a tasks.config.TaskFile subclass
    run: str  # run(args, console) -> exit code: `grounding-eval --task T` for tasks of this kind
    results: str  # the results file's pydantic model

    def load(self, part: str) -> Any:
        """The object one part names (imported now)."""
        module, attr = getattr(self, part).split(":")
        return getattr(importlib.import_module(module), attr)

    def results_schema(self) -> dict[str, Any]:
        """The JSON Schema of this kind's results file (`grounding-eval schema`)."""
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **self.load("results").model_json_schema()}


KINDS: dict[str, TaskKind] = {
    "probe": TaskKind("probe", "grounding_eval.tasks.config:TaskConfig", "grounding_eval.cli.evaluate:run_probe",
                      "grounding_eval.results:Results"),
    "generative": TaskKind("generative", "grounding_eval.generative.config:GenerativeTaskConfig",
                           "grounding_eval.generative.command:run_cli", "grounding_eval.results:GenerativeResults"),
}
