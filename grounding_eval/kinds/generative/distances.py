"""Set-level distances between generated and reference instances, on any embedding (modality-free).

- FAD (Fréchet distance between Gaussians fitted to the two sets; Kilgour et al. 2019). It is biased by
  sample size (Gui et al. 2023): we report it at the set's N with N stated, and FAD-inf, the intercept of
  FAD against 1/N over subsets of the generated set (fadtk's extrapolation). With fewer clips than
  embedding dimensions the covariances are rank-deficient; the trace of the matrix square root is taken
  through a symmetric eigen-decomposition, which stays real and finite there.
- KAD (kernel audio distance; Chung et al. 2025): the unbiased MMD² with a Gaussian kernel whose bandwidth
  is the median pairwise distance within the REFERENCE set (so it is fixed by the references, the same for
  every model), times 1000 as in the KAD paper. Unbiased, so usable at small N, and it can go slightly
  below 0 when the sets match.
"""

from __future__ import annotations

import math

import numpy as np


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def reference_stats(ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, S_r^½, Tr S_r) of a reference set: computed once, reused for every generated subset."""
    ref = np.asarray(ref, np.float64)
    s_r = np.cov(ref, rowvar=False)
    return ref.mean(0), _sqrt_psd(s_r), float(np.trace(s_r))


def frechet_distance(gen: np.ndarray, ref: np.ndarray, stats: tuple | None = None) -> float:
    """||mu_g - mu_r||² + Tr(S_g + S_r - 2 (S_r^½ S_g S_r^½)^½), float64.

    S_g = YᵀY with Y the centred generated rows / sqrt(n-1), so the eigenvalues of S_r^½ S_g S_r^½ are those
    of the small n x n matrix (Y S_r^½)(Y S_r^½)ᵀ: the same number, far cheaper when n < dim."""
    gen = np.asarray(gen, np.float64)
    if len(gen) < 2 or len(ref) < 2:
        return float("nan")
    mu_r, root_r, tr_r = stats or reference_stats(ref)
    y = (gen - gen.mean(0)) / np.sqrt(len(gen) - 1)
    z = y @ root_r
    small = z @ z.T if len(gen) < z.shape[1] else z.T @ z
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((small + small.T) / 2), 0, None)).sum()
    mu = gen.mean(0) - mu_r
    return float(mu @ mu + (y * y).sum() + tr_r - 2 * cross)


def fad_inf(gen: np.ndarray, ref: np.ndarray, seed: int = 0, steps: int = 5, draws: int = 4) -> dict[str, float | None]:
    """FAD at the full N, and FAD-inf: FAD of `draws` random subsets of the generated set at `steps` sizes
    from N/2 to N, fitted as a + b/N; `a` is the estimate for an infinite generated set. None where it is
    undefined (FAD under 2 clips, FAD-inf under 8)."""
    n = len(gen)
    stats = reference_stats(ref) if len(ref) >= 2 else None
    full = frechet_distance(gen, ref, stats)
    if not math.isfinite(full):  # under 2 clips on a side: no covariance, no FAD (None: JSON has no NaN)
        return {"fad": None, "fad_inf": None, "n_generated": n, "n_reference": len(ref)}
    if n < 8:  # too few sizes to extrapolate from
        return {"fad": full, "fad_inf": None, "n_generated": n, "n_reference": len(ref)}
    rng = np.random.default_rng(seed)
    sizes = np.unique(np.linspace(max(4, n // 2), n, steps).astype(int))
    xs, ys = [], []
    for size in sizes:
        for _ in range(draws if size < n else 1):
            pick = rng.choice(n, size=size, replace=False)
            xs.append(1.0 / size)
            ys.append(frechet_distance(gen[pick], ref, stats))
    slope, intercept = np.polyfit(np.array(xs), np.array(ys), 1)
    return {"fad": full, "fad_inf": float(intercept), "n_generated": n, "n_reference": len(ref)}


def median_bandwidth(ref: np.ndarray) -> float:
    """Median pairwise Euclidean distance within the reference set (the KAD kernel's bandwidth)."""
    ref = np.asarray(ref, np.float64)
    d = np.sqrt(np.clip(_sq_dists(ref, ref), 0, None))
    upper = d[np.triu_indices(len(ref), 1)]
    return float(np.median(upper)) if upper.size else 1.0


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T


def kad(gen: np.ndarray, ref: np.ndarray, bandwidth: float, scale: float = 1000.0) -> float:
    """Unbiased MMD² (Gaussian kernel, `bandwidth`) between the two sets, times `scale`; NaN under 2 per set."""
    gen, ref = np.asarray(gen, np.float64), np.asarray(ref, np.float64)
    m, n = len(gen), len(ref)
    if m < 2 or n < 2:
        return float("nan")
    g = 2 * bandwidth * bandwidth
    k_gg = np.exp(-_sq_dists(gen, gen) / g)
    k_rr = np.exp(-_sq_dists(ref, ref) / g)
    k_gr = np.exp(-_sq_dists(gen, ref) / g)
    term_gg = (k_gg.sum() - np.trace(k_gg)) / (m * (m - 1))
    term_rr = (k_rr.sum() - np.trace(k_rr)) / (n * (n - 1))
    return float(scale * (term_gg + term_rr - 2 * k_gr.mean()))


def per_class_kad(gen: np.ndarray, gen_class: np.ndarray, ref: np.ndarray, ref_class: np.ndarray,
                  pairing: dict[int, int] | None = None) -> dict[int, float]:
    """KAD of each class's generated set against the references of the same class (or of `pairing[c]`,
    the shuffled-prompt control), with one bandwidth from the whole reference set."""
    bw = median_bandwidth(ref)
    out = {}
    for c in np.unique(gen_class):
        target = c if pairing is None else pairing[int(c)]
        out[int(c)] = kad(gen[gen_class == c], ref[ref_class == target], bw)
    return out
