"""Built-in generators, executors and scorers of the generative task kind."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl
from grounding_eval.registry import lazy


@hookimpl
def register_executors(register):
    register("python_guarded", lazy("grounding_eval.kinds.generative.executor", "GuardedPythonExecutor"),
             description="each program in its own guarded `python -I` process (bubblewrap when installed); "
                         "a guard, not a security boundary")


@hookimpl
def register_generators(register):
    register("hf", lazy("grounding_eval.kinds.generative.generators", "HFCausalLMGenerator"),
             description="any Hugging Face causal LM (chat template when present, batched, sampling settings)")
    register("replay", lazy("grounding_eval.kinds.generative.generators", "ReplayGenerator"),
             description="saved generations from a JSONL file (--load-generations)")
    register("template", lazy("grounding_eval.kinds.generative.generators", "TemplateGenerator"),
             description="no LM: a fixed program filled from the prompt's fields (the baseline every LM must beat)")
