"""The golden check (`.ci/golden-check`): a fresh run of the offline default against the committed result.

Every number the run reports is compared, for the probe AND every control and baseline (permuted text,
random init, Procrustes): each run's scores, each run's per-class scores, the per-class scores pooled over
runs, the summary (mean, standard error, bootstrap interval) and the paired tests. Same seeds on the same
kind of machine give identical numbers; the only harmless difference is another CPU's float rounding
flipping a near-tie between two candidates' similarities. Each tolerance is therefore what ONE such flip
can move that number by, derived from the result itself (its split sizes), never a fixed constant:

  flip size f   what one clip's value can change by when one near-tie flips: accuracy@k 1 (the clip
                crosses the top-k boundary), mrr 1/2 (true rank 1 <-> 2), any other score in [0, 1]: 1
  run score     clip mean  f / n        (n = the run's test clips)
                class mean f / (C * m)  (C = the run's test classes, m = fewest clips in one of them)
  per class     f / n_c in a run (n_c = that class's test clips), f / N_c pooled over runs
  summary       the largest change of the statistic (mean, standard error, paired-test difference and
                p-values) when one run's score moves by its own tolerance, recomputed exactly;
                interval ends: one run's tolerance (a bootstrap replicate's mean moves by one run's
                tolerance / runs on average; a percentile of shifted replicates moves by at most the
                largest shift, bounded here by one run's whole tolerance)

So one flip of one clip (or of one one-clip class) in one run passes; two clips, or a run-level change
anywhere, fails. What must be identical: task version, hash and config, the dataset's fingerprint and
concepts, the encoders' identities, seeds, class splits, test clip counts, chance, Procrustes dimension,
epochs run. The training loss may differ by float rounding only (relative 1e-3; two runs on this machine
differed by up to 1.9e-5 relative, the thread count varying with load; a loss does not flip).

    python -m grounding_eval.kinds.probe.golden NEW.json GOLDEN.json
    exit 0  nothing moved beyond its tolerance
    exit 1  a number moved (each listed with its field, golden, new, difference and tolerance)
    exit 2  the two runs do not measure the same thing (task version/config, dataset, encoders), or bad input
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Sequence

import numpy as np

from grounding_eval.golden import Check, GoldenComparison, golden_main, report, same
from grounding_eval.kinds.probe.protocol import CLASS_MEAN, mean_stderr
from grounding_eval.stats import paired_t_p, sign_flip_p
from grounding_eval.validation import first_difference

__all__ = ["Check", "compare_golden", "flip_size", "main", "report", "run_tolerance", "setup_differences",
           "statistic_tolerance"]

# What one clip's value of a metric can change by when one near-tie flips (see the module docstring).
FLIP_SIZE = {"accuracy@": 1.0, "mrr": 0.5}
LOSS_REL_TOL = 1e-3  # training loss: float rounding only (1.9e-5 relative measured between two runs here)


def flip_size(metric: str) -> float:
    base = metric.removesuffix(CLASS_MEAN)
    for prefix, size in FLIP_SIZE.items():
        if base.startswith(prefix):
            return size
    return 1.0  # any per-clip score in [0, 1]


def run_tolerance(rec: dict[str, Any], metric: str) -> float:
    """One flip's worth for a run-level score of one variant in one run (clip or class mean)."""
    f = flip_size(metric)
    if metric.endswith(CLASS_MEAN):
        counts = [int(v["n_instances"]) for v in rec["per_class"].values()]
        return f / (len(counts) * min(counts))
    return f / int(rec["n_test_instances"])


def statistic_tolerance(values: Sequence[float], tolerances: Sequence[float], stat: Callable[[np.ndarray], float | None]) -> float:
    """The largest change of `stat(values)` when any ONE value moves by its own tolerance, up or down."""
    x = np.asarray(values, dtype=np.float64)
    base = stat(x)
    if base is None:
        return 0.0
    worst = 0.0
    for i, t in enumerate(tolerances):
        for sign in (-1.0, 1.0):
            y = x.copy()
            y[i] += sign * t
            moved = stat(y)
            worst = max(worst, abs(moved - base) if moved is not None else math.inf)
    return worst


def setup_differences(golden: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes the two runs measure different things (exit 2): named by field."""
    out: list[str] = []
    if set(golden["results"]) != set(new["results"]):
        return [f"results: tasks {sorted(golden['results'])} (golden) vs {sorted(new['results'])} (new)"]
    gi, ni = golden["model"].get("identity"), new["model"].get("identity")
    if gi != ni:
        out.append(f"model.identity.{first_difference(gi, ni)}: the text model differs")
    for task in golden["results"]:
        gt, nt = golden["tasks"][task], new["tasks"][task]
        for key in ("version", "hash"):
            same(out, f"tasks.{task}.{key}", gt[key], nt[key])
        where = first_difference(gt["config"], nt["config"])
        if where:
            out.append(f"tasks.{task}.config.{where}: the task config differs")
        for key in ("fingerprint", "n_concepts", "n_instances"):
            same(out, f"tasks.{task}.dataset.{key}", gt["dataset"][key], nt["dataset"][key])
        same(out, f"tasks.{task}.concepts", gt["concepts"], nt["concepts"])
        for enc in ("perception_encoder", "text_encoder"):
            same(out, f"tasks.{task}.{enc}.cache_key", gt[enc].get("cache_key"), nt[enc].get("cache_key"))
    return out


def compare_golden(golden: dict[str, Any], new: dict[str, Any]) -> tuple[list[Check], list[str]]:
    """(every number compared with its tolerance, every field that must be identical and is not)."""
    return _Comparison().compare(golden, new)


class _Comparison(GoldenComparison):
    """Collects the checks of one golden comparison, part by part."""


    def task(self, task: str, golden: dict[str, Any], new: dict[str, Any]) -> None:
        gt, nt = golden["tasks"][task], new["tasks"][task]
        gr, nr = golden["results"][task], new["results"][task]
        self.same(f"tasks.{task}.seeds", gt["seeds"], nt["seeds"])
        for key in ("main_metric", "chance", "bootstrap"):
            self.same(f"results.{task}.{key}", gr.get(key), nr.get(key))
        if len(gt["runs"]) != len(nt["runs"]):
            self.exact.append(f"tasks.{task}.runs: {len(gt['runs'])} runs (golden) vs {len(nt['runs'])} (new)")
            return
        summary_g = {"probe": gr["probe"], **gr.get("controls", {})}
        summary_n = {"probe": nr["probe"], **nr.get("controls", {})}
        self.same(f"results.{task}: variants", sorted(summary_g), sorted(summary_n))
        variants = [v for v in summary_g if v in summary_n]
        # every run-level score and its tolerance: [variant][metric] -> one per run
        values: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
        tol: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
        for i, (rg, rn) in enumerate(zip(gt["runs"], nt["runs"])):
            where = f"tasks.{task}.runs.{i}"
            for key in ("seed", "train", "test"):
                self.same(f"{where}.{key}", rg[key], rn[key])
            for variant in variants:
                self.run(f"{where}.{variant}", variant, rg[variant], rn[variant], values[variant], tol[variant])
        self.pooled(task, gt.get("per_class", {}), nt.get("per_class", {}))
        for variant in variants:
            part = "probe" if variant == "probe" else f"controls.{variant}"
            self.summary(f"results.{task}.{part}", variant, summary_g[variant], summary_n[variant], values[variant],
                         tol[variant])
        self.paired(f"results.{task}.paired_tests", gr.get("paired_tests", {}), nr.get("paired_tests", {}), values, tol)

    def run(self, w: str, variant: str, g: dict[str, Any], n: dict[str, Any], values: dict[str, list[float]],
            tol: dict[str, list[float]]) -> None:
        """One variant in one run: its counts, training, scores and per-class scores."""
        for key in ("n_test_instances", "epochs_run", "dim"):
            self.same(f"{w}.{key}", g.get(key), n.get(key))
        for key in ("final_loss", "temperature"):
            if key in g:
                self.checks.append(Check(f"{w}.{key}", f"{variant}: training", g[key], n[key], LOSS_REL_TOL * abs(g[key])))
        self.same(f"{w}.scores: metrics", sorted(g["scores"]), sorted(n["scores"]))
        for metric, value in g["scores"].items():
            t = run_tolerance(g, metric)
            tol.setdefault(metric, []).append(t)
            values.setdefault(metric, []).append(value)
            if metric in n["scores"]:
                self.checks.append(Check(f"{w}.scores.{metric}", f"{variant}: run scores", value, n["scores"][metric], t))
        self.same(f"{w}.per_class: classes", sorted(g["per_class"]), sorted(n["per_class"]))
        for concept, vals in g["per_class"].items():
            other = n["per_class"].get(concept)
            if other is not None:
                self.same(f"{w}.per_class.{concept}.n_instances", vals["n_instances"], other["n_instances"])
                self.per_class(f"{w}.per_class.{concept}", f"{variant}: per-class scores in runs", vals, other)

    def per_class(self, where: str, group: str, g: dict[str, Any], n: dict[str, Any]) -> None:
        for metric, v in g.items():
            if metric not in ("n_runs", "n_instances") and metric in n:
                self.checks.append(Check(f"{where}.{metric}", group, v, n[metric], flip_size(metric) / int(g["n_instances"])))

    def pooled(self, task: str, golden: dict[str, Any], new: dict[str, Any]) -> None:
        """Per class, pooled over the runs."""
        for variant, by_concept in golden.items():
            for concept, vals in by_concept.items():
                other = new.get(variant, {}).get(concept)
                where = f"tasks.{task}.per_class.{variant}.{concept}"
                if other is None:
                    self.exact.append(f"{where}: missing in the new run")
                    continue
                for key in ("n_runs", "n_instances"):
                    self.same(f"{where}.{key}", vals[key], other.get(key))
                self.per_class(where, f"{variant}: per-class scores pooled", vals, other)

    def summary(self, where_part: str, variant: str, golden: dict[str, Any], new: dict[str, Any],
                values: dict[str, list[float]], tol: dict[str, list[float]]) -> None:
        """Mean, standard error and interval of each metric over the runs."""
        for metric, sg in golden.items():
            sn = new.get(metric)
            where = f"{where_part}.{metric}"
            if sn is None:
                self.exact.append(f"{where}: missing in the new run")
                continue
            x, t = values[metric], tol[metric]
            self.same(f"{where}.n", sg["n"], sn["n"])
            self.same(f"{where}.ci_level", sg.get("ci_level"), sn.get("ci_level"))
            group = f"{variant}: summary mean and stderr"
            self.checks.append(Check(f"{where}.mean", group, sg["mean"], sn["mean"],
                                     statistic_tolerance(x, t, lambda a: float(a.mean()))))
            if sg["stderr"] is not None and sn["stderr"] is not None:
                self.checks.append(Check(f"{where}.stderr", group, sg["stderr"], sn["stderr"],
                                         statistic_tolerance(x, t, lambda a: mean_stderr(list(a))["stderr"])))
            else:
                self.same(f"{where}.stderr", sg["stderr"], sn["stderr"])
            if "ci" in sg and "ci" in sn:
                for end, name in ((0, "low"), (1, "high")):
                    self.checks.append(Check(f"{where}.ci.{name}", f"{variant}: bootstrap intervals", sg["ci"][end],
                                             sn["ci"][end], max(t)))
            elif ("ci" in sg) != ("ci" in sn):
                self.exact.append(f"{where}.ci: in one run only")

    def paired(self, where_part: str, golden: dict[str, Any], new: dict[str, Any],
               values: dict[str, dict[str, list[float]]], tol: dict[str, dict[str, list[float]]]) -> None:
        """The paired tests: probe minus each control, run by run."""
        for control, by_metric in golden.items():
            for metric, pg in by_metric.items():
                pn = new.get(control, {}).get(metric)
                where = f"{where_part}.{control}.{metric}"
                if pn is None:
                    self.exact.append(f"{where}: missing in the new run")
                    continue
                for key in ("n", "method", "alternative"):
                    self.same(f"{where}.{key}", pg.get(key), pn.get(key))
                d = np.asarray(values["probe"][metric]) - np.asarray(values[control][metric])
                td = [a + b for a, b in zip(tol["probe"][metric], tol[control][metric])]
                stats: dict[str, Callable[[np.ndarray], float | None]] = {
                    "mean_difference": lambda a: float(a.mean()), "p_sign_flip": sign_flip_p, "p_t_test": paired_t_p}
                stats["p_value"] = stats["p_sign_flip" if pg.get("method") == "sign_flip" else "p_t_test"]
                for key, fn in stats.items():
                    if pg.get(key) is None or pn.get(key) is None:
                        self.same(f"{where}.{key}", pg.get(key), pn.get(key))
                    else:
                        self.checks.append(Check(f"{where}.{key}", f"paired tests: probe vs {control}", pg[key], pn[key],
                                                 statistic_tolerance(d, td, fn)))


def main(argv: Sequence[str] | None = None) -> int:
    return golden_main(argv, "grounding_eval.kinds.probe.golden", setup_differences, compare_golden)


if __name__ == "__main__":
    sys.exit(main())
