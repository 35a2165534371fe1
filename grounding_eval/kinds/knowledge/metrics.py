"""acc and acc_norm as lm-evaluation-harness defines them, chance, intervals over questions, paired tests.

For one question with log-likelihoods ll_i of its choices c_i and the right index g:
    acc      = 1 if argmax_i ll_i == g                 (np.argmax: the first of tied maxima)
    acc_norm = 1 if argmax_i ll_i / len(c_i) == g      (len: characters of the choice text, without the delimiter;
                                                        lm-eval's `completion_len`; bytes for ASCII choices)
    chance   = 1 / number of choices
Everything here is a pure function of the stored items, so the leaderboard recomputes it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from grounding_eval.stats import mean_interval, paired_t_p, sign_flip_p

METRICS = ("acc", "acc_norm")
EXACT_UP_TO = 16  # stats.sign_flip_p enumerates every sign pattern up to this many questions, draws them above
TESTS = {"vs_chance": None, "vs_choice_only": "choice_only", "vs_random_init": "random_init"}


def item_scores(lls: Sequence[float], choices: Sequence[str], answer: int) -> dict[str, float]:
    """acc and acc_norm of one question."""
    ll = np.asarray(lls, np.float64)
    lengths = np.array([float(len(c)) for c in choices])
    return {"acc": float(np.argmax(ll) == answer), "acc_norm": float(np.argmax(ll / lengths) == answer)}


def per_item(items: Sequence[Any], variant: str) -> dict[str, np.ndarray]:
    """metric -> (n,) per-question scores of one variant (items: ItemRecord-like objects or dicts)."""
    rows = [item_scores(_get(i, "loglikelihoods")[variant], _get(i, "choices"), _get(i, "answer")) for i in items]
    return {m: np.array([r[m] for r in rows]) for m in METRICS}


def chance_per_item(items: Sequence[Any]) -> np.ndarray:
    return np.array([1.0 / len(_get(i, "choices")) for i in items])


def _get(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, dict) else getattr(item, key)


def summarise(items: Sequence[Any], variants: Sequence[str], resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    """scores (variant -> metric -> interval), tests (vs chance and each control, per metric) and chance."""
    chance = chance_per_item(items)
    scores, per = {}, {}
    for v in variants:
        per[v] = per_item(items, v)
        scores[v] = {m: mean_interval(per[v][m], resamples, confidence, seed) for m in METRICS}
    tests: dict[str, dict[str, Any]] = {}
    for name, control in TESTS.items():
        if control is not None and control not in per:
            continue
        tests[name] = {m: paired(per["model"][m], chance if control is None else per[control][m], seed) for m in METRICS}
    return {"chance": float(chance.mean()), "scores": scores, "tests": tests}


def paired(system: np.ndarray, control: np.ndarray, seed: int) -> dict[str, Any]:
    """The model minus a control over the same questions, one-sided (the model higher): `stats.paired_tests`'
    record; above EXACT_UP_TO questions the sign-flip test is drawn (seeded; at most 2e7 signs in all, so that large
    sets fit in memory) and its p-value is the Monte Carlo (k + 1) / (draws + 1)."""
    d = np.asarray(system, np.float64) - np.asarray(control, np.float64)
    draws = max(2000, min(100_000, 20_000_000 // max(len(d), 1)))
    p_flip = sign_flip_p(d, max_exact=EXACT_UP_TO, draws=draws, seed=seed)
    return {"mean_difference": float(d.mean()), "n": len(d), "p_sign_flip": p_flip, "p_t_test": paired_t_p(d),
            "alternative": "greater", "method": "sign_flip", "p_value": p_flip}


def by_type(items: Sequence[Any]) -> dict[str, dict[str, float | int]]:
    """The model's acc and acc_norm per question type (membership, description, pitch, ...)."""
    out: dict[str, dict[str, float | int]] = {}
    per = per_item(items, "model")
    types = [_get(i, "type") for i in items]
    for t in sorted(set(types)):
        mask = np.array([x == t for x in types])
        out[t or "all"] = {"acc": float(per["acc"][mask].mean()), "acc_norm": float(per["acc_norm"][mask].mean()),
                           "n": int(mask.sum())}
    return out
