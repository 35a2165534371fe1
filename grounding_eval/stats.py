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

import numpy as np


@dataclass
class RunSample:
    """One variant (probe, a control) in one run: run-level scores and, where known, per-clip values."""

    scores: dict[str, float]
    per_instance: dict[str, np.ndarray]  # metric -> value per test clip (clip-mean metrics)
    classes: np.ndarray  # the concept index of each test clip


CLASS_MEAN = "_class_mean"


@dataclass
class _ClipDraws:
    """One run's clip resamples: counts (B, n) of each clip per replicate, and per-class totals."""

    counts: np.ndarray
    onehot: np.ndarray  # (n, C) test clip -> its class
    n_per_class: np.ndarray  # (B, C)

    @classmethod
    def draw(cls, rng: np.random.Generator, classes: np.ndarray, resamples: int) -> "_ClipDraws":
        n = len(classes)
        idx = rng.integers(0, n, size=(resamples, n))
        counts = np.bincount((idx + n * np.arange(resamples)[:, None]).ravel(), minlength=resamples * n)
        counts = counts.reshape(resamples, n).astype(np.float64)
        _, inv = np.unique(classes, return_inverse=True)
        onehot = np.zeros((n, int(inv.max()) + 1))
        onehot[np.arange(n), inv] = 1.0
        return cls(counts, onehot, counts @ onehot)

    def clip_mean(self, values: np.ndarray) -> np.ndarray:
        return (self.counts @ values) / len(values)

    def class_mean(self, values: np.ndarray) -> np.ndarray:
        """Per replicate: the mean over the classes drawn of each class's mean value."""
        sums = self.counts @ (self.onehot * values[:, None])
        present = self.n_per_class > 0
        means = np.where(present, sums / np.maximum(self.n_per_class, 1), 0.0)
        return means.sum(1) / np.maximum(present.sum(1), 1)


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
    # draws[r]: how often each test clip of run r is drawn in each replicate (shared by every variant).
    draws: list[_ClipDraws | None] = []
    for r in range(n_runs):
        classes = next(iter(samples.values()))[r].classes
        use = unit == "runs_and_clips" and len(classes) > 0
        draws.append(_ClipDraws.draw(rng, classes, resamples) if use else None)
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    out: dict[str, dict[str, list[float]]] = {}
    for variant, runs in samples.items():
        out[variant] = {}
        for metric in runs[0].scores:
            per_run = np.empty((n_runs, resamples))
            for r, s in enumerate(runs):
                base = metric.removesuffix(CLASS_MEAN)
                d = draws[r]
                if d is not None and base in s.per_instance:
                    vals = s.per_instance[base]
                    per_run[r] = d.class_mean(vals) if metric.endswith(CLASS_MEAN) else d.clip_mean(vals)
                else:
                    per_run[r] = s.scores[metric]
            stat = per_run[run_draws, np.arange(resamples)[:, None]].mean(1)
            out[variant][metric] = [float(np.percentile(stat, lo_q)), float(np.percentile(stat, hi_q))]
    return out


def sign_flip_p(diffs: np.ndarray, max_exact: int = 16, draws: int = 100_000, seed: int = 0) -> float:
    """One-sided p-value of mean(diffs) > 0 under random sign flips (exact up to `max_exact` runs)."""
    d = np.asarray(diffs, dtype=np.float64)
    observed = d.mean()
    if len(d) <= max_exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, len(d)))
    null = (signs * d).mean(1)
    return float(np.mean(null >= observed - 1e-12))


def paired_t_p(diffs: np.ndarray) -> float | None:
    """One-sided paired t-test p-value of mean(diffs) > 0; None when it is undefined (n < 2)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    if len(d) < 2:
        return None
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() > 0 else 1.0
    t = d.mean() / (sd / math.sqrt(len(d)))
    return float(stats.t.sf(t, df=len(d) - 1))


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
