"""grounding-eval: an evaluation harness for multimodal grounding of language models."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate"]


def evaluate(*args, **kwargs):
    """Run tasks and return the results as data; see `grounding_eval.runner.evaluate`."""
    from grounding_eval.runner import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
