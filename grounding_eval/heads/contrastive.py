"""The contrastive linear probe of Ngo & Kim (2024), on any pair of embedding spaces.

Two linear heads map text and perception embeddings into a shared space; the loss is the paper's
    L = sum_c [ -s(t(c), a(c))/tau + log sum_{c' in N(c)} exp(s(t(c'), a(c))/tau) ]
with s the cosine similarity. Choices the paper leaves open, and ours:
- a(c) is, by `fit_on`, either each training INSTANCE (clip) of concept c, the loss averaged over
  instances so the learning rate does not depend on how many clips there are, or the MEAN of concept c's
  instances, one term per concept as the paper's sum over c is written (cost independent of clip count);
  test scoring is per instance either way;
- N(c) is every training concept, c included (the softmax form of the loss); `negatives: in_batch`
  restricts it to the concepts present in a minibatch;
- a full-batch step may be computed in chunks (`chunk_size`) with the gradient accumulated, so memory
  can be bounded without changing the numbers;
- inputs are standardised with the training instances' / training concepts' mean and std
  (probe.standardize), because backbones differ by orders of magnitude in scale.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from grounding_eval.errors import GroundingEvalError
from grounding_eval.heads.features import means_and_scored, standardise


@dataclass
class ProbeFit:
    """A trained probe: the projected, L2-normalised embeddings it scores with."""

    text_proj: np.ndarray  # (n_concepts, d) for ALL concepts
    instance_proj: np.ndarray  # (n_instances, d) for the instances it was asked to score
    epochs_run: int
    final_loss: float
    temperature: float

    def similarity(self) -> np.ndarray:
        return self.instance_proj @ self.text_proj.T


def _optimizer(name: str, params, lr: float, wd: float):
    # foreach: one multi-tensor kernel per update instead of a loop over parameters; bit-identical to the
    # default on CPU and 3.6x faster there (measured on the 128x4096 + 128x768 heads). Not `fused`, which
    # rounds differently (2e-7) and would move published numbers for no reason but speed.
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9, foreach=True)
    raise GroundingEvalError(f"probe.optimizer {name!r}: valid optimizers are adam, adamw, sgd")


@contextlib.contextmanager
def _threads_for(flops_per_step: float) -> Iterator[None]:
    """One intra-op thread for small problems: their per-op work is too short to share, and on a busy
    machine extra threads spin and wait (a 20x slowdown measured on 2 shared cores). Large problems keep
    torch's setting."""
    before = torch.get_num_threads()
    small = flops_per_step < 5e7
    if small and before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small and before != 1:
            torch.set_num_threads(before)


@dataclass
class PreparedRows:
    """The perception side of one split, ready for the heads. It does not depend on the text, so the
    protocol prepares it once per run and every text variant (probe, controls) trains on it."""

    a: torch.Tensor  # the rows the loss sees: instances or concept means, z-scored, float32
    y: torch.Tensor  # concept index of each row
    row_concept: np.ndarray  # the same, as numpy (for in-batch negatives)
    fit_rows: np.ndarray  # rows the heads are fitted on
    val_rows: np.ndarray  # rows held out for early stopping (from TRAINING concepts only)
    fit_concepts: np.ndarray
    train_concepts: np.ndarray
    a_score: torch.Tensor  # the instances to score, z-scored the same way


def prepare_rows(instances, instance_concept, train_concepts, score_instances, n_concepts: int, cfg, seed: int) -> PreparedRows:
    """Split the training concepts into fitting and validation ones (seeded), build the rows the loss
    sees (`probe.fit_on`) and z-score them and the instances to score with the fitting rows' statistics."""
    train_concepts = np.asarray(sorted(train_concepts))
    instance_concept = np.asarray(instance_concept)
    if not np.isin(instance_concept, train_concepts).any():
        raise GroundingEvalError("the training split has no instances; lower probe.val_fraction or add data")
    val_concepts = np.array([], dtype=int)
    if getattr(cfg, "val_fraction", 0.0) > 0:
        n_val = max(1, int(round(cfg.val_fraction * len(train_concepts))))
        val_concepts = np.sort(np.random.default_rng(seed).choice(train_concepts, size=n_val, replace=False))
    fit_concepts = np.setdiff1d(train_concepts, val_concepts)
    fit_rows = np.flatnonzero(np.isin(instance_concept, fit_concepts))
    val_rows = np.flatnonzero(np.isin(instance_concept, val_concepts))
    score_instances = np.asarray(score_instances)
    standardize = getattr(cfg, "standardize", True)
    if getattr(cfg, "fit_on", "instances") == "concept_means":
        # One mean per fitting (and validation) concept replaces its instances; from here on a "row" is a
        # concept, so the training loop (full batch, minibatch, validation) runs unchanged on the means.
        # Only the means and the instances to score are z-scored: at FSD50K scale a float64 copy of every
        # clip cost more than the whole class-level fit.
        keep = np.concatenate([fit_concepts, val_concepts])
        means, scored = means_and_scored(instances, instance_concept, n_concepts, np.concatenate([fit_rows, val_rows]),
                                         fit_rows, score_instances, standardize)
        means = means[keep]
        return PreparedRows(torch.from_numpy(np.asarray(means, dtype=np.float32)), torch.from_numpy(keep.astype(np.int64)),
                            keep, np.arange(len(fit_concepts)), len(fit_concepts) + np.arange(len(val_concepts)),
                            fit_concepts, train_concepts, torch.from_numpy(np.asarray(scored, dtype=np.float32)))
    if standardize:
        instances = standardise(instances.astype(np.float64), fit_rows)
    a = torch.from_numpy(np.asarray(instances, dtype=np.float32))
    return PreparedRows(a, torch.from_numpy(instance_concept.astype(np.int64)), instance_concept, fit_rows, val_rows,
                        fit_concepts, train_concepts, a[torch.from_numpy(score_instances)])


def fit_probe(
    text: np.ndarray,
    instances: np.ndarray,
    instance_concept: np.ndarray,
    train_concepts: np.ndarray,
    score_instances: np.ndarray,
    cfg: Any,
    seed: int,
    rows: PreparedRows | None = None,
) -> ProbeFit:
    """Train on the instances of `train_concepts`; project all concepts and the `score_instances` rows.

    `text` is (n_concepts, dt), `instances` (n_instances, da), `instance_concept` the concept index of
    each instance. `rows`, from `prepare_rows` with the same arguments, skips preparing them again.
    Deterministic for a given seed on CPU.
    """
    if rows is None:
        rows = prepare_rows(instances, instance_concept, train_concepts, score_instances, len(text), cfg, seed)
    flops = 6.0 * cfg.projection_dim * (len(rows.fit_rows) * rows.a.shape[1] + len(train_concepts) * np.shape(text)[1])
    with _threads_for(flops):
        return _fit_probe(text, rows, cfg, seed)


def _heads(text_dim: int, inst_dim: int, cfg: Any, gen: torch.Generator):
    """The two linear heads (initialised from `gen`, not the global RNG), the log temperature, and the
    parameters the optimiser trains."""
    d = int(cfg.projection_dim)
    text_head = torch.nn.Linear(text_dim, d)
    inst_head = torch.nn.Linear(inst_dim, d)
    for head in (text_head, inst_head):
        bound = 1.0 / np.sqrt(head.in_features)
        with torch.no_grad():
            head.weight.uniform_(-bound, bound, generator=gen)
            head.bias.uniform_(-bound, bound, generator=gen)
    log_tau = torch.nn.Parameter(torch.tensor(float(np.log(cfg.temperature))), requires_grad=bool(cfg.learn_temperature))
    params = list(text_head.parameters()) + list(inst_head.parameters())
    if cfg.learn_temperature:
        params.append(log_tau)
    return text_head, inst_head, log_tau, params


def _full_batch_gradient(logits, tz: torch.Tensor, a_fit: torch.Tensor, y_fit: torch.Tensor, chunk: int) -> float:
    """Accumulate the gradient of the mean loss over ALL fitting rows, chunk by chunk; returns the loss."""
    n = len(a_fit)
    if chunk >= n:
        loss = F.cross_entropy(logits(a_fit, tz), y_fit)
        loss.backward()
        return float(loss.detach())
    # Chunked: the text side is shared by every chunk, so its graph is kept until the last one.
    total = 0.0
    for start in range(0, n, chunk):
        part = F.cross_entropy(logits(a_fit[start : start + chunk], tz), y_fit[start : start + chunk],
                               reduction="sum") / n
        part.backward(retain_graph=start + chunk < n)
        total += float(part.detach())
    return total


def _fit_probe(text, rows: PreparedRows, cfg, seed) -> ProbeFit:
    gen = torch.Generator().manual_seed(int(seed))
    if getattr(cfg, "standardize", True):
        text = standardise(text.astype(np.float64), rows.fit_concepts)
    t = torch.from_numpy(np.asarray(text, dtype=np.float32))
    a, y, instance_concept, a_score = rows.a, rows.y, rows.row_concept, rows.a_score
    fit_rows, val_rows, fit_concepts, train_concepts = rows.fit_rows, rows.val_rows, rows.fit_concepts, rows.train_concepts

    text_head, inst_head, log_tau, params = _heads(t.shape[1], a.shape[1], cfg, gen)
    opt = _optimizer(cfg.optimizer, params, float(cfg.learning_rate), float(cfg.weight_decay))

    # Everything the loop reuses is gathered once: the fitting rows' inputs and their class positions.
    fit_idx = torch.from_numpy(fit_concepts)  # the candidates N(c) while training (all_train)
    a_fit = a[torch.from_numpy(fit_rows)].contiguous()
    t_fit = t[fit_idx].contiguous()
    pos_in_fit = torch.full((len(text),), -1, dtype=torch.long)
    pos_in_fit[fit_idx] = torch.arange(len(fit_idx))
    y_fit = pos_in_fit[y[torch.from_numpy(fit_rows)]]

    def logits(a_rows: torch.Tensor, tz: torch.Tensor) -> torch.Tensor:
        return F.normalize(inst_head(a_rows), dim=1) @ tz.T / log_tau.exp()

    def loss_on(rows: np.ndarray, candidates: torch.Tensor) -> torch.Tensor:
        tz = F.normalize(text_head(t[candidates]), dim=1)
        cmap = torch.full((len(text),), -1, dtype=torch.long)
        cmap[candidates] = torch.arange(len(candidates))
        return F.cross_entropy(logits(a[rows], tz), cmap[y[rows]])

    in_batch = getattr(cfg, "negatives", "all_train") == "in_batch"
    batch = cfg.batch_size or len(fit_rows)
    best_state, best_val, bad, epochs_run, last = None, np.inf, 0, 0, float("nan")
    all_train = torch.from_numpy(train_concepts)
    for epoch in range(int(cfg.epochs)):
        if batch >= len(fit_rows):
            opt.zero_grad()
            last = _full_batch_gradient(logits, F.normalize(text_head(t_fit), dim=1), a_fit, y_fit,
                                        int(getattr(cfg, "chunk_size", None) or len(fit_rows)))
            opt.step()
        else:
            order = fit_rows[torch.randperm(len(fit_rows), generator=gen).numpy()]
            for start in range(0, len(order), batch):
                batch_rows = order[start : start + batch]
                # in_batch: N(c) is the classes present in this batch (CLIP-style); else every fitting class.
                cands = torch.from_numpy(np.unique(instance_concept[batch_rows])) if in_batch else fit_idx
                opt.zero_grad()
                loss = loss_on(batch_rows, cands)
                loss.backward()
                opt.step()
                last = float(loss.detach())
        epochs_run = epoch + 1
        if len(val_rows):
            # Early stopping on held-out TRAINING concepts only: test concepts are never looked at.
            with torch.no_grad():
                v = float(loss_on(val_rows, all_train))
            if v < best_val - 1e-6:
                best_val, bad = v, 0
                best_state = [p.detach().clone() for p in params]
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
    if best_state is not None:  # early stopping: back to the epoch with the best validation loss
        with torch.no_grad():
            for p, s in zip(params, best_state):
                p.copy_(s)
    with torch.no_grad():
        tz = F.normalize(text_head(t), dim=1).numpy()
        az = F.normalize(inst_head(a_score), dim=1).numpy()
    return ProbeFit(tz, az, epochs_run, last, float(log_tau.detach().exp()))
