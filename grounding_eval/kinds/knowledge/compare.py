"""Two knowledge results files (kind: knowledge), compared question by question: acc and acc_norm of the model
(or `--metrics`), paired by question id when both scored the same items (the same item set, its fingerprint);
the verdict, the threshold and the table are the shared `grounding_eval.compare`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from grounding_eval.compare import MetricDiff, Rule, Setup, setup_blocking
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.knowledge.metrics import METRICS, per_item
from grounding_eval.kinds.knowledge.results import KnowledgeResults

CAPTION = ("% over questions paired by id, with the file's 95 % bootstrap interval; Δ = new − baseline; "
           "test: paired t over questions")
# Config keys that leave the model's per-question scores as they are: which controls ran, and the statistics
# (bootstrap seed, resamples, level), which change intervals and p-values only.
SAMPLING_KEYS = ("controls", "statistics")


def setup(res: KnowledgeResults, task: str) -> Setup:
    t = res.tasks[task]
    scored = {k: v for k, v in t.config.items() if k not in SAMPLING_KEYS}
    ids = [i.id for i in t.items]
    return Setup(t.version, scored, "scorer", ("language model", {}), (t.config["dataset"]["name"], t.items_fingerprint, ids))


def setup_differences(old: KnowledgeResults, new: KnowledgeResults, task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): another version, prompt or item set blocks; other controls or statistics are noted."""
    notes = []
    for key in SAMPLING_KEYS:
        if old.tasks[task].config.get(key) != new.tasks[task].config.get(key):
            notes.append(f"{task}: {key} differ (the model's per-question scores do not depend on them)")
    return setup_blocking(task, setup(old, task), setup(new, task)), notes


def compare_task(old: KnowledgeResults, new: KnowledgeResults, task: str, metrics: Sequence[str] | None, rule: Rule,
                 blocking: list[str], notes: list[str]) -> list[MetricDiff]:
    """The model's change in each metric, paired over the questions both files scored."""
    wanted = list(metrics) if metrics else [old.results[task].main_metric]
    bad = [m for m in wanted if m not in METRICS]
    if bad:
        raise GroundingEvalError(f"--metrics: {bad[0]!r} is not a knowledge metric; valid: {', '.join(METRICS)}")
    io, in_ = old.tasks[task].items, new.tasks[task].items
    shared = [k for k in {i.id for i in io} & {i.id for i in in_}]
    if not shared:
        raise GroundingEvalError(f"compare: {task}: the two files share no question")
    keep_o = sorted((i for i in io if i.id in shared), key=lambda i: i.id)
    keep_n = sorted((i for i in in_ if i.id in shared), key=lambda i: i.id)
    if len(shared) < max(len(io), len(in_)):
        notes.append(f"{task}: {len(shared)} questions in both files ({len(io)} in the baseline, {len(in_)} in the new); "
                     "only those are compared")
    so, sn = per_item(keep_o, "model"), per_item(keep_n, "model")
    diffs = []
    for m in wanted:
        cis: tuple[Any, Any] = (old.results[task].scores["model"][m].ci, new.results[task].scores["model"][m].ci)
        diffs.append(rule.judge(task, m, np.asarray(so[m]), np.asarray(sn[m]), True, cis))
    return diffs
