"""Two toy results files: did the mean over the items drop? Paired over the items when both scored the same
ones (the shared `grounding_eval.compare` gives the threshold, the verdict and the table)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from grounding_eval.compare import MetricDiff, Rule, Setup, setup_blocking
from grounding_eval.errors import GroundingEvalError
from toy_kind.results import ToyResults

CAPTION = "% of the toy score, mean ± standard error over items; Δ = new − baseline"
# Neither changes an item's score: the bootstrap's seed and resamples only change the reported error.
SAMPLING_KEYS = ("seed", "bootstrap_resamples")


def setup(res: ToyResults, task: str) -> Setup:
    t = res.tasks[task]
    scored = {k: v for k, v in t.config.items() if k not in SAMPLING_KEYS}
    numbers = [str(x) for x in t.config.get("numbers", [])]
    return Setup(t.version, scored, "scorer", ("toy", {}), ("numbers", ",".join(numbers), numbers))


def setup_differences(old: ToyResults, new: ToyResults, task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): another version or other items block; another bootstrap seed is only noted."""
    notes = []
    if old.tasks[task].seed != new.tasks[task].seed:
        notes.append(f"{task}: bootstrap seed {old.tasks[task].seed} (baseline) vs {new.tasks[task].seed} (new)")
    return setup_blocking(task, setup(old, task), setup(new, task)), notes


def compare_task(old: ToyResults, new: ToyResults, task: str, metrics: Sequence[str] | None, rule: Rule,
                 blocking: list[str], notes: list[str]) -> list[MetricDiff]:
    """The change of the mean over the items, paired over the items when both scored as many."""
    if metrics and list(metrics) != ["mean"]:
        raise GroundingEvalError(f"--metrics: the toy kind has one metric, 'mean', not {', '.join(metrics)}")
    xo, xn = np.array(old.tasks[task].items), np.array(new.tasks[task].items)
    return [rule.judge(task, "mean", xo, xn, len(xo) == len(xn))]
