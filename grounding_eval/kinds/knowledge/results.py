"""The knowledge kind's results file (kind: knowledge): the shared envelope, `results` and `tasks` typed here.

`tasks.<task>.items` keeps, per question, the right answer, each choice's length in characters and each
variant's log-likelihood of each choice: acc, acc_norm, chance, every interval and every paired test follow from
them (`metrics.py`), which is what `compare` pairs and the leaderboard recomputes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from grounding_eval.results import Open, PairedTest, ResultsFile, Strict


class Interval(Strict):
    """A mean over questions with its percentile-bootstrap interval."""

    mean: float
    ci: list[float] = Field(min_length=2, max_length=2)
    n: int = Field(ge=1)


class ItemRecord(Strict):
    """One question as scored: the text, the right choice, and each variant's log-likelihood of every choice."""

    id: str
    question: str
    choices: list[str] = Field(min_length=2)
    answer: int = Field(ge=0)
    type: str = ""
    loglikelihoods: dict[str, list[float]]  # variant (model, choice_only, random_init) -> one per choice


class KnowledgeResult(Strict):
    """`results.<task>`: the headline numbers."""

    main_metric: Literal["acc", "acc_norm"]
    n_items: int = Field(ge=1)
    chance: float  # mean over questions of 1 / number of choices
    scores: dict[str, dict[str, Interval]]  # variant -> metric -> interval
    tests: dict[str, dict[str, PairedTest]]  # "vs_chance", "vs_choice_only", "vs_random_init" -> metric -> test
    by_type: dict[str, dict[str, float | int]] = Field(default_factory=dict)  # question type -> {acc, acc_norm, n} of the model

    def main(self, variant: str = "model") -> Interval:
        return self.scores[variant][self.main_metric]


class KnowledgeTaskRecord(Strict):
    """`tasks.<task>`: everything needed to recompute and audit the numbers."""

    version: int
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    config: dict[str, Any]
    seed: int  # the statistics seed (bootstrap draws)
    items_fingerprint: str
    source: dict[str, Any]
    variants: dict[str, dict[str, Any]]  # variant -> the identity of the model that scored it (choice_only: the model's)
    items: list[ItemRecord] = Field(min_length=1)


class KnowledgeResults(ResultsFile):
    kind: Literal["knowledge"]
    results: dict[str, KnowledgeResult]
    tasks: dict[str, KnowledgeTaskRecord]


__all__ = ["Interval", "ItemRecord", "KnowledgeResult", "KnowledgeResults", "KnowledgeTaskRecord", "Open"]
