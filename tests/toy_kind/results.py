"""The toy kind's results file (kind: toy): the envelope every kind shares, `results` and `tasks` typed here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from grounding_eval.results import ResultsFile, Strict


class Score(Strict):
    """The mean over the items, its bootstrap standard error and the number of items."""

    mean: float
    stderr: float
    n: int = Field(ge=1)


class ToyResult(Strict):
    """`results.<task>`: the headline numbers."""

    main_metric: Literal["mean"] = "mean"
    mean: Score
    chance: float  # a model of scale 0.5 (a coin flip's worth of each item)


class ToyRecord(Strict):
    """`tasks.<task>`: everything needed to recompute and audit the numbers."""

    version: int
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    config: dict[str, Any]  # the resolved task config
    seed: int
    items: list[float] = Field(min_length=1)  # the model's score on each item, in the task's order


class ToyResults(ResultsFile):
    kind: Literal["toy"]
    results: dict[str, ToyResult]
    tasks: dict[str, ToyRecord]
