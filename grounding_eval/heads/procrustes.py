"""The closed-form baseline: an orthogonal map between class-mean text and perception embeddings.

No training loop and no hyperparameter beyond how the two sides reach a common dimension, so it shows
how much of the probe's score a rigid rotation of one space onto the other already gives.

    1. standardise each side with the training classes' statistics (as the probe does);
    2. audio side: the mean of each training class's clips; text side: the class vectors;
    3. centre both on the training classes and bring them to a common dimension k:
       "pca"      - a PCA per side fitted on the training classes, k = min(d_text, d_audio, n_train - 1)
                    unless given (n_train - 1 is the rank of the centred training means);
       "zero_pad" - pad the smaller side with zeros to the larger dimension (nothing is thrown away,
                    but most of the rotation is then unconstrained by the data);
    4. R = argmin_{R orthogonal} ||T R - A||_F = U V^T where U S V^T = svd(T^T A);
    5. test: every clip (reduced the same way) ranks ALL concepts' mapped text vectors by cosine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grounding_eval.errors import GroundingEvalError
from grounding_eval.heads.features import means_and_scored, standardise


@dataclass
class ProcrustesFit:
    """Reduced, aligned representations: text mapped by R into the reduced perception space."""

    text_aligned: np.ndarray  # (n_concepts, k) all concepts, R applied
    instances: np.ndarray  # (n_score, k) the clips to score, reduced
    rotation: np.ndarray  # (k, k)
    dim: int

    def similarity(self) -> np.ndarray:
        t = self.text_aligned / np.maximum(np.linalg.norm(self.text_aligned, axis=1, keepdims=True), 1e-12)
        a = self.instances / np.maximum(np.linalg.norm(self.instances, axis=1, keepdims=True), 1e-12)
        return a @ t.T


def _pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """The top-k principal directions (columns) of the rows of x (already centred)."""
    if x.shape[0] < x.shape[1]:
        # Few rows (classes), many columns (a 4096-d LM): the eigenvectors of the small Gram matrix give
        # the same directions as an SVD of x, several times faster.
        vals, u = np.linalg.eigh(x @ x.T)
        order = np.argsort(vals)[::-1][:k]
        sv = np.sqrt(np.maximum(vals[order], 0.0))
        keep = sv > 1e-9 * max(sv.max(initial=0.0), 1e-300)
        return (x.T @ u[:, order[keep]]) / sv[keep]
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return vt[:k].T


def orthogonal_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R orthogonal minimising ||source R - target||_F (Schönemann's solution)."""
    u, _, vt = np.linalg.svd(source.T @ target)
    return u @ vt


def fit_procrustes(
    text: np.ndarray,
    instances: np.ndarray,
    instance_concept: np.ndarray,
    train_concepts: np.ndarray,
    score_instances: np.ndarray,
    cfg: Any,
    standardize: bool = True,
) -> ProcrustesFit:
    """Fit R on the training concepts' class means; return what scoring `score_instances` needs."""
    text = np.asarray(text, dtype=np.float64)
    train_concepts = np.sort(np.asarray(train_concepts))
    if len(train_concepts) < 2:
        raise GroundingEvalError("procrustes needs at least 2 training concepts; raise split.train_fraction")
    train_rows = np.flatnonzero(np.isin(instance_concept, train_concepts))
    # Only two things are needed on the perception side: the training classes' means and the clips to score.
    means, score = means_and_scored(np.asarray(instances), np.asarray(instance_concept), len(text), train_rows,
                                    train_rows, np.asarray(score_instances), standardize)
    means = means[train_concepts]
    if standardize:
        text = standardise(text, train_concepts)
    t_mu = text[train_concepts].mean(0)
    a_mu = means.mean(0)
    t_c = text - t_mu
    t_train, a_train, a_score_c = t_c[train_concepts], means - a_mu, score - a_mu

    if cfg.reduce == "pca":
        k = cfg.dim or min(text.shape[1], score.shape[1], len(train_concepts) - 1)
        k = min(k, text.shape[1], score.shape[1], len(train_concepts))
        pt, pa = _pca_basis(t_train, k), _pca_basis(a_train, k)
        k = min(pt.shape[1], pa.shape[1])  # a side of lower rank than k keeps only its real directions
        pt, pa = pt[:, :k], pa[:, :k]
        t_all, a_train_r, a_score = t_c @ pt, a_train @ pa, a_score_c @ pa
        t_train_r = t_train @ pt
    else:  # zero_pad
        k = max(text.shape[1], score.shape[1])

        def pad(x: np.ndarray) -> np.ndarray:
            return np.pad(x, ((0, 0), (0, k - x.shape[1])))

        t_all, t_train_r, a_train_r, a_score = pad(t_c), pad(t_train), pad(a_train), pad(a_score_c)
    r = orthogonal_map(t_train_r, a_train_r)
    return ProcrustesFit(t_all @ r, a_score, r, int(k))
