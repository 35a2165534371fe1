"""The probing protocol on embeddings already computed: splits x seeds -> probe -> metrics -> statistics.

Nothing here knows about audio, text models or files: it takes a concept-by-dimension text matrix, an
instance-by-dimension perception matrix and the concept of each instance. That keeps it fast to test on
planted structure and fast to rerun on cached embeddings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from grounding_eval.heads.contrastive import PreparedRows, fit_probe, prepare_rows
from grounding_eval.heads.procrustes import fit_procrustes
from grounding_eval.stats import RunSample, bootstrap_ci, mean_stderr, paired_tests

MetricFn = Callable[[np.ndarray, np.ndarray], dict[str, float]]
PerInstanceFn = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
CLASS_MEAN = "_class_mean"  # suffix of the average over classes (each test class weighs the same)


@dataclass
class Metric:
    """A metric's run-level form and, when it is a mean over instances, its per-instance form."""

    compute: MetricFn
    per_instance: PerInstanceFn | None = None

    def __call__(self, similarity: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """Callable like a plain metric function, for code that takes those."""
        return self.compute(similarity, target)


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


def score_similarity(sim: np.ndarray, target: np.ndarray, metrics: list[Metric]) -> tuple[dict[str, Any], RunSample]:
    """Every metric averaged over instances and over classes, plus per-class values, for one variant.

    Returns the JSON-able record part (scores, per_class keyed by concept index) and the RunSample the
    bootstrap needs (per-clip values stay out of the JSON).
    """
    scores: dict[str, float] = {}
    per_inst: dict[str, np.ndarray] = {}
    classes, inverse, counts = np.unique(target, return_inverse=True, return_counts=True)
    per_class: dict[int, dict[str, float]] = {int(c): {"n_instances": int(n)} for c, n in zip(classes, counts)}
    for m in metrics:
        if m.per_instance is not None:
            vals = m.per_instance(sim, target)
            per_inst.update(vals)
            for key, v in vals.items():
                scores[key] = float(v.mean())
                class_vals = np.bincount(inverse, weights=v, minlength=len(classes)) / counts
                scores[key + CLASS_MEAN] = float(class_vals.mean())
                for c, cv in zip(classes, class_vals):
                    per_class[int(c)][key] = float(cv)
        else:  # a metric that is not a mean over instances: the class mean calls it per class
            whole = m.compute(sim, target)
            scores.update(whole)
            by_class = [m.compute(sim[target == c], target[target == c]) for c in classes]
            for key in whole:
                scores[key + CLASS_MEAN] = float(np.mean([bc[key] for bc in by_class]))
                for c, bc in zip(classes, by_class):
                    per_class[int(c)][key] = float(bc[key])
    return {"scores": scores, "per_class": per_class}, RunSample(scores, per_inst, np.asarray(target))


def score(
    text: np.ndarray,
    instances: np.ndarray,
    instance_concept: np.ndarray,
    split: Split,
    probe_cfg: Any,
    metric_fns: list[MetricFn | Metric],
    seed: int,
) -> dict[str, Any]:
    """Train on the split's train concepts; retrieve among ALL concepts for the test concepts' instances."""
    record, _ = _score(text, instances, instance_concept, split, probe_cfg, _as_metrics(metric_fns), seed)
    return record


def _as_metrics(fns: list[MetricFn | Metric]) -> list[Metric]:
    return [f if isinstance(f, Metric) else Metric(f) for f in fns]


def _score(text, instances, instance_concept, split, probe_cfg, metrics, seed,
           rows: PreparedRows | None = None) -> tuple[dict[str, Any], RunSample]:
    test_rows = np.flatnonzero(np.isin(instance_concept, split.test))
    fit = fit_probe(text, instances, instance_concept, split.train, test_rows, probe_cfg, seed, rows)
    record, sample = score_similarity(fit.similarity(), instance_concept[test_rows], metrics)
    record.update({"n_test_instances": int(len(test_rows)), "epochs_run": fit.epochs_run,
                   "final_loss": fit.final_loss, "temperature": fit.temperature})
    return record, sample


def _score_procrustes(text, instances, instance_concept, split, probe_cfg, procrustes_cfg, metrics):
    test_rows = np.flatnonzero(np.isin(instance_concept, split.test))
    fit = fit_procrustes(text, instances, instance_concept, split.train, test_rows, procrustes_cfg,
                         standardize=getattr(probe_cfg, "standardize", True))
    record, sample = score_similarity(fit.similarity(), instance_concept[test_rows], metrics)
    record.update({"n_test_instances": int(len(test_rows)), "dim": fit.dim})
    return record, sample


def run_protocol(
    text_variants: dict[str, np.ndarray],
    instances: np.ndarray,
    instance_concept: np.ndarray,
    *,
    train_fraction: float,
    num_runs: int,
    seed: int,
    probe_cfg: Any,
    metric_fns: list[MetricFn | Metric],
    permuted_control: bool,
    procrustes_cfg: Any | None = None,
    stats_cfg: Any | None = None,
    on_step: Callable[[], None] | None = None,
    prepared: dict[int, PreparedRows] | None = None,
    store: Any | None = None,
) -> dict[str, Any]:
    """Every run: a new class split (seed + run), the probe on each text variant, and the controls.

    `text_variants` maps a name ("probe", "random_init", ...) to a (n_concepts, dim) text matrix; the
    permuted control shuffles the "probe" matrix; `procrustes_cfg` adds the closed-form Procrustes
    baseline on the "probe" matrix. `stats_cfg` (a StatisticsConfig) adds the bootstrap interval to
    every summary statistic and the paired tests of the probe against each other variant.
    `prepared` (run seed -> PreparedRows) lets several calls on the same instances (a per-layer sweep)
    share each split's perception side. `store` (load(run_seed) -> (record, samples) or None; save(run_seed,
    record, samples)) keeps each finished run, so an interrupted call resumes with the same numbers. Returns
    per-run records, per-variant statistics, paired tests and pooled per-class scores.
    """
    metrics = _as_metrics(metric_fns)
    timing = {"probe_fits": 0.0, "procrustes": 0.0, "statistics": 0.0}
    n_concepts = len(next(iter(text_variants.values())))
    runs: list[dict[str, Any]] = []
    samples: dict[str, list[RunSample]] = {}
    for r in range(num_runs):
        run_seed = seed + r
        done = store.load(run_seed) if store is not None else None  # a run finished before an interruption
        if done is None:
            done = _one_run(text_variants, instances, instance_concept, n_concepts, train_fraction, run_seed,
                            probe_cfg, metrics, permuted_control, procrustes_cfg, on_step, prepared, timing)
            if store is not None:
                store.save(run_seed, *done)
        elif on_step:
            for _ in range(sum(1 for name in done[1] if name != "procrustes")):
                on_step()
        record, run_samples = done
        for name, sample in run_samples.items():
            samples.setdefault(name, []).append(sample)
        runs.append(record)

    summary: dict[str, dict[str, Any]] = {}
    for name, runs_of in samples.items():
        summary[name] = {k: mean_stderr([s.scores[k] for s in runs_of]) for k in runs_of[0].scores}
    out: dict[str, Any] = {"runs": runs, "summary": summary, "per_class": pooled_per_class(runs, list(samples)),
                           "timing_seconds": timing}
    if stats_cfg is not None:
        t0 = time.perf_counter()
        out.update(_statistics(summary, samples, stats_cfg, seed))
        timing["statistics"] = time.perf_counter() - t0
    return out


def _one_run(text_variants, instances, instance_concept, n_concepts, train_fraction, run_seed, probe_cfg, metrics,
             permuted_control, procrustes_cfg, on_step, prepared, timing) -> tuple[dict[str, Any], dict[str, RunSample]]:
    """One run of `run_protocol`: its record and each variant's RunSample (in the order they are reported)."""
    split = class_split(n_concepts, train_fraction, run_seed)
    record: dict[str, Any] = {"seed": run_seed, "train": split.train.tolist(), "test": split.test.tolist()}
    run_samples: dict[str, RunSample] = {}
    variants = dict(text_variants)
    if permuted_control:
        variants["permuted_text"] = permuted(text_variants["probe"], run_seed)
    t0 = time.perf_counter()
    # The perception side of this split is the same for every text variant: prepared once.
    rows = prepared.get(run_seed) if prepared is not None else None
    if rows is None:
        rows = prepare_rows(instances, instance_concept, split.train,
                            np.flatnonzero(np.isin(instance_concept, split.test)), n_concepts, probe_cfg, run_seed)
        if prepared is not None:
            prepared[run_seed] = rows
    timing["probe_fits"] += time.perf_counter() - t0
    for name, text in variants.items():
        t0 = time.perf_counter()
        record[name], run_samples[name] = _score(text, instances, instance_concept, split, probe_cfg, metrics,
                                                 run_seed, rows)
        timing["probe_fits"] += time.perf_counter() - t0
        if on_step:
            on_step()
    if procrustes_cfg is not None:
        t0 = time.perf_counter()
        record["procrustes"], run_samples["procrustes"] = _score_procrustes(
            text_variants["probe"], instances, instance_concept, split, probe_cfg, procrustes_cfg, metrics)
        timing["procrustes"] += time.perf_counter() - t0
    return record, run_samples


def _statistics(summary: dict[str, dict[str, Any]], samples: dict[str, list[RunSample]], stats_cfg: Any,
                seed: int) -> dict[str, Any]:
    """Bootstrap intervals (added to `summary` in place) and the paired tests of the probe against each control."""
    cis = bootstrap_ci(samples, resamples=stats_cfg.bootstrap_resamples, confidence=stats_cfg.confidence,
                       unit=stats_cfg.bootstrap_unit, seed=seed)
    for name, by_metric in cis.items():
        for k, ci in by_metric.items():
            summary[name][k]["ci"] = ci
            summary[name][k]["ci_level"] = stats_cfg.confidence
    return {
        "bootstrap": {"resamples": stats_cfg.bootstrap_resamples, "unit": stats_cfg.bootstrap_unit,
                      "confidence": stats_cfg.confidence},
        "paired_tests": {
            name: {k: paired_tests([s.scores[k] for s in samples["probe"]], [s.scores[k] for s in runs_of],
                                   stats_cfg.paired_test)
                   for k in runs_of[0].scores}
            for name, runs_of in samples.items() if name != "probe"
        },
    }


def pooled_per_class(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, dict[int, dict[str, float]]]:
    """Per variant and concept: each metric pooled over every test clip of that concept in every run."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for name in variants:
        acc: dict[int, dict[str, float]] = {}
        for run in runs:
            for c, vals in run[name]["per_class"].items():
                slot = acc.setdefault(c, {"n_runs": 0, "n_instances": 0})
                n = vals["n_instances"]
                slot["n_runs"] += 1
                slot["n_instances"] += n
                for k, v in vals.items():
                    if k != "n_instances":
                        slot[k] = slot.get(k, 0.0) + v * n  # clip-weighted, divided below
        for slot in acc.values():
            for k in list(slot):
                if k not in ("n_runs", "n_instances"):
                    slot[k] /= slot["n_instances"]
        out[name] = dict(sorted(acc.items()))
    return out
