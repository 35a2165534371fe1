"""Task kinds in one table: what a task file's `kind:` (and a results file's `kind`) selects.

A kind is one row here (or one `register_kinds` hook of a plugin) plus its own package under `kinds/`,
which owns the kind's whole data flow: its task file's model, its run, its typed results, its comparison
and its leaderboard rules and section. The shared core (everything outside `kinds/<kind>/`) asks the row,
never branches on the kind, and imports no kind package: each part is named by import path and imported
when a task or results file of that kind is met (the probe's parts load torch; `grounding-eval tasks` must
not). docs/plugins.md, "A new task kind", says what each part must provide.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError


@dataclass(frozen=True)
class TaskKind:
    """One kind of task; each part is `module:attribute`, or `module` for a part that is a whole module."""

    name: str
    config: str  # the task file's model: a tasks.config.TaskFile subclass
    run: str  # run(args, console) -> exit code: `grounding-eval --task T` for tasks of this kind
    results: str  # the results file's model: a results.ResultsFile subclass
    compare: str  # module with CAPTION, setup_differences and compare_task (grounding_eval/compare.py says what each is)
    leaderboard: str  # module with the kind's leaderboard rules (leaderboard/rules.py lists them)
    commands: dict[str, str] = field(default_factory=dict)  # subcommands of its own: name -> module with cmd(argv, console)
    schemas: dict[str, str] = field(default_factory=dict)  # more `grounding-eval schema` names -> pydantic model

    def load(self, part: str) -> Any:
        """The object one part names (imported now)."""
        return resolve(getattr(self, part))

    def results_schema(self) -> dict[str, Any]:
        """The JSON Schema of this kind's results file (`grounding-eval schema`)."""
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **self.load("results").model_json_schema()}


def resolve(spec: str) -> Any:
    """The object `module:attribute` names, or the module `module` (imported now)."""
    module, _, attr = spec.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


_PROBE = "grounding_eval.kinds.probe"
_GENERATIVE = "grounding_eval.kinds.generative"
_KNOWLEDGE = "grounding_eval.kinds.knowledge"
KINDS: dict[str, TaskKind] = {
    "probe": TaskKind("probe", f"{_PROBE}.config:TaskConfig", f"{_PROBE}.command:run", f"{_PROBE}.results:Results",
                      f"{_PROBE}.compare", f"{_PROBE}.leaderboard",
                      commands={"grid": f"{_PROBE}.grid_command"}, schemas={"grid": f"{_PROBE}.grid:Grid"}),
    "generative": TaskKind("generative", f"{_GENERATIVE}.config:GenerativeTaskConfig", f"{_GENERATIVE}.command:run",
                           f"{_GENERATIVE}.results:GenerativeResults", f"{_GENERATIVE}.compare",
                           f"{_GENERATIVE}.leaderboard"),
    "knowledge": TaskKind("knowledge", f"{_KNOWLEDGE}.config:KnowledgeTaskConfig", f"{_KNOWLEDGE}.command:run",
                          f"{_KNOWLEDGE}.results:KnowledgeResults", f"{_KNOWLEDGE}.compare", f"{_KNOWLEDGE}.leaderboard"),
}


# A task or results file without a `kind` key is of this kind: the first, whose files predate kinds.
DEFAULT_KIND = "probe"


def all_kinds() -> dict[str, TaskKind]:
    """The built-in kinds, then those plugins register (`register_kinds`), in that order."""
    return {**KINDS, **{k.name: k for k in plugins.registries().kinds if k.name not in KINDS}}


def get_kind(name: str) -> TaskKind:
    """The kind called `name`; plugins are asked only for a name the built-ins do not have."""
    if name in KINDS:
        return KINDS[name]
    kinds = all_kinds()
    if name not in kinds:
        raise GroundingEvalError(f"{name!r} is not a task kind; valid: {', '.join(kinds)}")
    return kinds[name]


def is_kind(name: Any) -> bool:
    """Whether `name` (as read from a file: any JSON value) names a kind."""
    return isinstance(name, str) and (name in KINDS or name in all_kinds())
