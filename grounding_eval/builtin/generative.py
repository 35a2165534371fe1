"""Built-in generators, executors and scorers of the generative task kind."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl
from grounding_eval.registry import lazy


@hookimpl
def register_executors(register):
    register("python_guarded", lazy("grounding_eval.generative.executor", "GuardedPythonExecutor"),
             description="each program in its own guarded `python -I` process (bubblewrap when installed); "
                         "a guard, not a security boundary")
