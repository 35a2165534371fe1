"""grounding-eval: an evaluation harness for multimodal grounding of language models."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate"]


def evaluate(*args, **kwargs):
    """Run tasks and return the results as data; see `grounding_eval.kinds.probe.runner.evaluate`."""
    # The runner imports torch (seconds): `import grounding_eval` (plugins, the CLI's light commands) must not.
    from grounding_eval.kinds.probe.runner import evaluate as run

    return run(*args, **kwargs)
