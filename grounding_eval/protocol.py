"""The probing protocol on embeddings already computed: splits x seeds -> probe -> metrics -> statistics.

Nothing here knows about audio, text models or files: it takes a concept-by-dimension text matrix, an
instance-by-dimension perception matrix and the concept of each instance. That keeps it fast to test on
planted structure and fast to rerun on cached embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from grounding_eval.probe.contrastive import fit_probe

MetricFn = Callable[[np.ndarray, np.ndarray], dict[str, float]]


@dataclass
class Split:
    seed: int
    train: np.ndarray  # concept indices
    test: np.ndarray


def class_split(n_concepts: int, train_fraction: float, seed: int) -> Split:
    """A random split of the CONCEPTS (not the instances): test concepts are never seen in training."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_concepts)
    n_train = min(n_concepts - 1, max(1, int(round(train_fraction * n_concepts))))
    return Split(seed, np.sort(order[:n_train]), np.sort(order[n_train:]))


def permuted(text: np.ndarray, seed: int) -> np.ndarray:
    """The paper's control: text vectors shuffled among concepts, so the concept-instance link is gone."""
    rng = np.random.default_rng([seed, 0x5EED])  # its own stream: the split must not depend on it
    return text[rng.permutation(len(text))]


def score(
    text: np.ndarray,
    instances: np.ndarray,
    instance_concept: np.ndarray,
    split: Split,
    probe_cfg: Any,
    metric_fns: list[MetricFn],
    seed: int,
) -> dict[str, Any]:
    """Train on the split's train concepts; retrieve among ALL concepts for the test concepts' instances."""
    test_rows = np.flatnonzero(np.isin(instance_concept, split.test))
    fit = fit_probe(text, instances, instance_concept, split.train, test_rows, probe_cfg, seed)
    sim = fit.similarity()
    target = instance_concept[test_rows]
    scores: dict[str, float] = {}
    for fn in metric_fns:
        scores.update(fn(sim, target))
    return {"scores": scores, "n_test_instances": int(len(test_rows)), "epochs_run": fit.epochs_run,
            "final_loss": fit.final_loss, "temperature": fit.temperature}


def mean_stderr(values: list[float]) -> dict[str, float | None]:
    """Mean and standard error of the mean over runs (None for a single run)."""
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else None
    return {"mean": float(arr.mean()), "stderr": se, "n": int(len(arr))}


def run_protocol(
    text_variants: dict[str, np.ndarray],
    instances: np.ndarray,
    instance_concept: np.ndarray,
    *,
    train_fraction: float,
    num_runs: int,
    seed: int,
    probe_cfg: Any,
    metric_fns: list[MetricFn],
    permuted_control: bool,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Every run: a new class split (seed + run), the probe on each text variant, and the permuted control.

    `text_variants` maps a name ("probe", "random_init", ...) to a (n_concepts, dim) text matrix; the
    permuted control shuffles the "probe" matrix. Returns per-run records and per-variant statistics.
    """
    n_concepts = len(next(iter(text_variants.values())))
    runs = []
    for r in range(num_runs):
        run_seed = seed + r
        split = class_split(n_concepts, train_fraction, run_seed)
        record: dict[str, Any] = {"seed": run_seed, "train": split.train.tolist(), "test": split.test.tolist()}
        variants = dict(text_variants)
        if permuted_control:
            variants["permuted_text"] = permuted(text_variants["probe"], run_seed)
        for name, text in variants.items():
            record[name] = score(text, instances, instance_concept, split, probe_cfg, metric_fns, run_seed)
            if on_step:
                on_step()
        runs.append(record)
    summary: dict[str, dict[str, Any]] = {}
    for name in runs[0]:
        if name in ("seed", "train", "test"):
            continue
        keys = runs[0][name]["scores"].keys()
        summary[name] = {k: mean_stderr([run[name]["scores"][k] for run in runs]) for k in keys}
    return {"runs": runs, "summary": summary}
