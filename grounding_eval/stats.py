"""Uncertainty and significance beyond the paper's mean ± standard error over runs.

- `bootstrap_ci`: a percentile bootstrap interval. With unit "runs_and_clips" each replicate draws runs
  with replacement and, within each run, its test clips with replacement (a run drawn twice reuses one
  clip resample per replicate, which keeps it one matrix product per run); metrics without per-clip
  values vary only through the runs. The same draws serve every variant, so probe and controls are
  resampled alike.
- `paired_tests`: probe vs a control over the SAME splits, one-sided (H1: the probe scores higher).
  The exact sign-flip permutation test enumerates every sign pattern of the per-run differences: no
  normality assumption, but with n runs its smallest p-value is 2^-n (1/32 = 0.031 for 5 runs). The
  paired t-test assumes roughly normal differences and can go lower. Both are reported.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grounding_eval.errors import GroundingEvalError


@dataclass
class RunSample:
    """One variant (probe, a control) in one run: run-level scores and, where known, per-clip values."""

    scores: dict[str, float]
    per_instance: dict[str, np.ndarray]  # metric -> value per test clip (clip-mean metrics)
    classes: np.ndarray  # the concept index of each test clip


CLASS_MEAN = "_class_mean"


@dataclass
class _ClipDraws:
    """One run's clip resamples: counts (B, n) of each clip per replicate, columns grouped by class."""

    counts: np.ndarray  # (B, n), clips in `order`
    order: np.ndarray  # clip permutation that puts each class's clips side by side
    bounds: list[tuple[int, int]]  # column range of each class in that order
    n_per_class: np.ndarray  # (B, C)

    @classmethod
    def draw(cls, rng: np.random.Generator, classes: np.ndarray, resamples: int) -> "_ClipDraws":
        n = len(classes)
        idx = rng.integers(0, n, size=(resamples, n))
        counts = np.bincount((idx + n * np.arange(resamples)[:, None]).ravel(), minlength=resamples * n)
        counts = counts.reshape(resamples, n).astype(np.float64)
        _, inv = np.unique(classes, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        edges = np.r_[np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0]), n]
        counts = counts[:, order]
        bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
        return cls(counts, order, bounds, np.stack([counts[:, i:j].sum(1) for i, j in bounds], 1))

    def clip_means(self, values: np.ndarray) -> np.ndarray:
        """(n, K) per-clip values of K metrics -> (B, K) clip-averaged values per replicate."""
        return (self.counts @ values[self.order]) / len(values)

    def class_means(self, values: np.ndarray) -> np.ndarray:
        """(n, K) -> (B, K): per replicate, the mean over the classes drawn of each class's mean value.

        One small product per class (its clips' counts by its clips' values): O(B n K) in all, where a
        product with a clip-to-class one-hot matrix would be O(B n C K)."""
        v = values[self.order]
        sums = np.stack([self.counts[:, i:j] @ v[i:j] for i, j in self.bounds], 1)  # (B, C, K)
        present = self.n_per_class > 0
        means = np.where(present[:, :, None], sums / np.maximum(self.n_per_class, 1)[:, :, None], 0.0)
        return means.sum(1) / np.maximum(present.sum(1), 1)[:, None]


def bootstrap_ci(
    samples: dict[str, list[RunSample]],
    *,
    resamples: int,
    confidence: float,
    unit: str,
    seed: int,
) -> dict[str, dict[str, list[float]]]:
    """variant -> metric -> [low, high] percentile interval of the mean over runs."""
    rng = np.random.default_rng([seed, 0xB0075])
    n_runs = len(next(iter(samples.values())))
    run_draws = rng.integers(0, n_runs, size=(resamples, n_runs))
    # replicate[variant, metric][r]: the metric of run r in each replicate, the runs' clip draws shared by
    # every variant and metric (all of a run's per-clip values go through its draws in one pass).
    replicate: dict[tuple[str, str], np.ndarray] = {
        (variant, metric): np.empty((n_runs, resamples)) for variant, runs in samples.items() for metric in runs[0].scores
    }
    for r in range(n_runs):
        classes = next(iter(samples.values()))[r].classes
        d = _ClipDraws.draw(rng, classes, resamples) if unit == "runs_and_clips" and len(classes) > 0 else None
        cols = [(v, base) for v, runs in samples.items() for base in runs[r].per_instance] if d is not None else []
        col = {key: k for k, key in enumerate(cols)}
        if cols:
            values = np.stack([samples[v][r].per_instance[base] for v, base in cols], 1).astype(np.float64)
            by_clip, by_class = d.clip_means(values), d.class_means(values)
        for (variant, metric), rows in replicate.items():
            base = metric.removesuffix(CLASS_MEAN)
            if (variant, base) in col:
                rows[r] = (by_class if metric.endswith(CLASS_MEAN) else by_clip)[:, col[variant, base]]
            else:  # no per-clip values (or unit "runs"): the run's score itself
                rows[r] = samples[variant][r].scores[metric]
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    out: dict[str, dict[str, list[float]]] = {}
    for (variant, metric), per_run in replicate.items():
        stat = per_run[run_draws, np.arange(resamples)[:, None]].mean(1)
        out.setdefault(variant, {})[metric] = [float(np.percentile(stat, lo_q)), float(np.percentile(stat, hi_q))]
    return out


def sign_flip_p(diffs: np.ndarray, max_exact: int = 16, draws: int = 100_000, seed: int = 0) -> float:
    """One-sided p-value of mean(diffs) > 0 under random sign flips: exact (every sign pattern, the observed
    one among them) up to `max_exact` values; above, `draws` seeded patterns and the Monte Carlo p-value
    (k + 1) / (draws + 1), which counts the observed pattern as one of the draws. k / draws would print p = 0
    when no draw reaches the observed mean: a p-value no permutation test can give."""
    d = np.asarray(diffs, dtype=np.float64)
    if not np.isfinite(d).all():  # no sign pattern reaches a NaN mean: the count would be 0 and p = 0
        raise GroundingEvalError(f"paired test: {int((~np.isfinite(d)).sum())} of {len(d)} differences are not finite "
                                 "(a score was NaN or infinite); a p-value over them would mean nothing")
    observed = d.mean()
    if len(d) <= max_exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        return float(np.mean((signs * d).mean(1) >= observed - 1e-12))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, len(d)))
    k = int(np.sum((signs * d).mean(1) >= observed - 1e-12))
    return (k + 1) / (draws + 1)


def paired_t_p(diffs: np.ndarray) -> float | None:
    """One-sided paired t-test p-value of mean(diffs) > 0; None when it is undefined (n < 2)."""
    from scipy.special import stdtr  # not scipy.stats: a third of its import time

    d = np.asarray(diffs, dtype=np.float64)
    if len(d) < 2:
        return None
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() > 0 else 1.0
    t = d.mean() / (sd / math.sqrt(len(d)))
    return float(stdtr(len(d) - 1, -t))  # upper tail P(T >= t)


def paired_tests(probe: list[float], control: list[float], headline: str) -> dict[str, float | int | str | None]:
    """Probe minus control over the same splits: mean difference, both p-values, the headline one."""
    d = np.asarray(probe, dtype=np.float64) - np.asarray(control, dtype=np.float64)
    out: dict[str, float | int | str | None] = {
        "mean_difference": float(d.mean()),
        "n": int(len(d)),
        "p_sign_flip": sign_flip_p(d),
        "p_t_test": paired_t_p(d),
        "alternative": "greater",
        "method": headline,
    }
    out["p_value"] = out["p_sign_flip"] if headline == "sign_flip" else out["p_t_test"]
    return out


def mean_stderr(values: list[float]) -> dict[str, float | None]:
    """Mean and standard error of the mean over runs (None for a single run)."""
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else None
    return {"mean": float(arr.mean()), "stderr": se, "n": int(len(arr))}


def mean_interval(values: Any, resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    """Mean, percentile bootstrap interval and n of per-unit values (the generative kind's clips, concepts),
    None and non-finite values left out; the draws are seeded ([seed, 0x6E4]), so a reader recomputes the
    interval exactly from the stored units (the leaderboard does)."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if values.size == 0:
        return {"mean": None, "ci": None, "n": 0}
    rng = np.random.default_rng([seed, 0x6E4])
    boots = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(1)
    lo, hi = np.percentile(boots, [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2])
    return {"mean": float(values.mean()), "ci": [float(lo), float(hi)], "n": int(values.size)}
