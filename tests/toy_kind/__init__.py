"""A third task kind that lives outside grounding_eval: this package and the one plugin object below.

The toy kind scores a model on a list of numbers in [0, 1] (the items): a model of `--model-args scale=S`
(default 1) earns `S * x` on item x, and the score is the mean over the items with a standard error from a
seeded bootstrap over them. Its parts are named by import path in the `TaskKind` row `PLUGIN` registers,
exactly as the built-in kinds' rows name theirs; tests/test_new_kind.py drives it through the real CLI.
"""

from __future__ import annotations

from pathlib import Path

from grounding_eval.hookspecs import hookimpl
from grounding_eval.kinds import TaskKind

TASKS = Path(__file__).resolve().parent / "tasks"
KIND = TaskKind("toy", config="toy_kind.config:ToyTaskConfig", run="toy_kind.run:run",
                results="toy_kind.results:ToyResults", compare="toy_kind.compare", leaderboard="toy_kind.leaderboard")


class ToyKindPlugin:
    """The one registration: the kind's row and its task folder."""

    @hookimpl
    def register_kinds(self, register):
        register(KIND)

    @hookimpl
    def register_tasks(self, register):
        register(str(TASKS))


PLUGIN = ToyKindPlugin()
