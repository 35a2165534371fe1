"""Retrieval metrics over a (instances x concepts) similarity matrix, each with its chance level.

A metric is a pair of functions, registered through the `register_metrics` hook:
`compute(similarity, target, **args) -> {name: value}` and `chance(n_concepts, **args) -> {name: value}`.
"""

from __future__ import annotations

import numpy as np


def true_ranks(similarity: np.ndarray, target: np.ndarray) -> np.ndarray:
    """1-based rank of each instance's true concept among all concepts.

    Ties count against the true concept, so a probe that scores everything alike gets the worst rank,
    never a lucky one.
    """
    true = similarity[np.arange(len(target)), target][:, None]
    # >= counts the true concept itself once, so this is 1 + (number of others scoring >= it).
    return (similarity >= true).sum(1)


def accuracy_at_k(similarity: np.ndarray, target: np.ndarray, k: list[int] = (1, 3, 5)) -> dict[str, float]:
    r = true_ranks(similarity, target)
    return {f"accuracy@{kk}": float(np.mean(r <= kk)) for kk in k}


def accuracy_at_k_chance(n_concepts: int, k: list[int] = (1, 3, 5)) -> dict[str, float]:
    return {f"accuracy@{kk}": min(1.0, kk / n_concepts) for kk in k}


def mrr(similarity: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"mrr": float(np.mean(1.0 / true_ranks(similarity, target)))}


def mrr_chance(n_concepts: int) -> dict[str, float]:
    return {"mrr": float(np.mean(1.0 / np.arange(1, n_concepts + 1)))}


# Scores read off one clip's rank (the generative kind stores each clip's rank, and its files, compare and
# the leaderboard recompute these from it): "mrr" and "accuracy@K", with their chance levels.

def rank_score(name: str, rank: int) -> float | None:
    """The score `name` of one item whose true concept came at `rank` (1-based); None for another name."""
    if name == "mrr":
        return 1.0 / rank
    if name.startswith("accuracy@") and name[len("accuracy@"):].isdigit():
        return float(rank <= int(name[len("accuracy@"):]))
    return None


def rank_score_chance(names: list[str], n_concepts: int) -> dict[str, float]:
    """Chance of each rank score among `names` (others are left out) over `n_concepts` concepts."""
    want: dict[str, float] = {}
    for name in names:
        if name == "mrr":
            want.update(mrr_chance(n_concepts))
        elif rank_score(name, 1) is not None:
            want.update(accuracy_at_k_chance(n_concepts, [int(name[len("accuracy@"):])]))
    return want


# Per-instance forms: the value each test instance contributes to the mean. With them the protocol can
# average over classes as well as over instances, keep per-class scores and bootstrap over clips.


def accuracy_at_k_per_instance(similarity: np.ndarray, target: np.ndarray, k: list[int] = (1, 3, 5)) -> dict[str, np.ndarray]:
    r = true_ranks(similarity, target)
    return {f"accuracy@{kk}": (r <= kk).astype(np.float64) for kk in k}


def mrr_per_instance(similarity: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    return {"mrr": 1.0 / true_ranks(similarity, target)}
