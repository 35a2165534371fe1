"""The toy kind's task file: the items, the seed and the resamples of the bootstrap (`kind: toy`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from grounding_eval.tasks.config import Float, TaskFile
from grounding_eval.validation import Valid


def _fractions(numbers: list[float]) -> list[float]:
    if not all(0.0 <= x <= 1.0 for x in numbers):
        raise PydanticCustomError("fraction", "not in [0, 1]")
    return numbers


class ToyTaskConfig(TaskFile):
    """A toy task: a list of numbers in [0, 1] (one item each), scored as a mean with a bootstrap error."""

    task: Annotated[str, Field(pattern=r"^[a-z0-9_]+$"), Valid("lowercase letters, digits and _")]
    version: Annotated[int, Field(ge=0), Valid("an integer >= 0")]
    kind: Annotated[Literal["toy"], Valid("toy")] = "toy"
    description: str = ""
    # The range is checked on the whole list (as the built-in kinds do): a message names the list's Valid text.
    numbers: Annotated[list[Float], Field(min_length=2), AfterValidator(_fractions),
                       Valid("a list of at least two numbers in [0, 1]")]
    """the items: a model of scale S scores S * x on item x"""
    seed: int = 0
    """seed of the bootstrap over items"""
    bootstrap_resamples: Annotated[int, Field(ge=10), Valid("an integer >= 10")] = 200
    """bootstrap resamples of the mean; the leaderboard accepts more than the task asks, never fewer"""
