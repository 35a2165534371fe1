"""`grounding-eval compare NEW.json --baseline OLD.json`: did a metric drop? An exit code for CI.

    exit 0  no probe metric dropped by more than the tolerance
    exit 1  at least one did (a regression; with --two-sided, also a rise: "the numbers moved")
    exit 2  bad input, or the two files do not measure the same thing (named; --allow-mismatch compares anyway)

The tolerance, per task and metric, unless `--tolerance` fixes it by hand, is a one-sided test at level
`--alpha` (default 0.05) on the difference of the means, with the per-run scores as the sample:
- paired, when both files ran the same seeds on the same class splits: the differences d_i of the runs,
  threshold = t(1 - alpha, n - 1) * sd(d) / sqrt(n). Each split's difficulty cancels, which is what makes
  a real drop visible on a small task;
- otherwise unpaired (other seeds, hence other splits): threshold = t(1 - alpha, df) * sqrt(se_new² + se_old²),
  df from Welch-Satterthwaite. With five runs t is ~2.1, so this needs a drop of about three standard
  errors of one run set: two seeds of the same model pass, a model with its knowledge removed does not
  (where the task can tell at all).
Scores come from the runs, not the summary (`leaderboard.checks.check_summary` refuses a mismatch).
What is compared and what differs (task version or config, backbone, dataset, seeds, model) is printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from rich.table import Table

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.checks import first_difference

DEFAULT_ALPHA = 0.05
# Config keys that may differ between two comparable results: other seeds or more runs of the same protocol,
# and which controls ran besides the probe (each variant trains with its own seeded generator, so the
# probe's scores do not depend on them; a CI job may skip the controls to save time).
SAMPLING_KEYS = ("seed", "num_runs", "controls")
# Config keys that cannot change the probe's scores: how its uncertainty is reported, the Procrustes
# baseline beside it, and the memory chunking of a full-batch step. Results written before these keys
# existed stay comparable.
SCORE_NEUTRAL_KEYS = ("statistics", "procrustes")
SCORE_NEUTRAL_PROBE_KEYS = ("chunk_size",)
# Probe keys added later, with the value that reproduces the behaviour from before they existed.
PROBE_KEY_DEFAULTS = {"negatives": "all_train", "fit_on": "instances"}


def _scored_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a task config that can change the probe's scores, older configs filled in."""
    out = {k: v for k, v in config.items() if k not in SAMPLING_KEYS + SCORE_NEUTRAL_KEYS + ("perception_encoder",)}
    if isinstance(out.get("probe"), dict):
        probe = {**PROBE_KEY_DEFAULTS, **out["probe"]}
        out["probe"] = {k: v for k, v in probe.items() if k not in SCORE_NEUTRAL_PROBE_KEYS}
    return out


@dataclass
class MetricDiff:
    task: str
    metric: str
    old: dict[str, Any]  # mean, stderr, n (from the runs)
    new: dict[str, Any]
    delta: float  # new - old
    threshold: float
    method: str  # "paired t", "Welch t", "fixed"
    verdict: str  # "ok", "DROP", "RISE"


@dataclass
class Comparison:
    diffs: list[MetricDiff]
    blocking: list[str]  # differences that make the two not comparable
    notes: list[str]  # differences that are named but do not stop the comparison

    @property
    def regressed(self) -> bool:
        return any(d.verdict != "ok" for d in self.diffs)


def _runs_scores(res: dict[str, Any], task: str, metric: str) -> np.ndarray:
    return np.array([float(r["probe"]["scores"][metric]) for r in res["tasks"][task]["runs"]])


def _stat(x: np.ndarray) -> dict[str, Any]:
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None
    return {"mean": float(x.mean()), "stderr": se, "n": int(len(x))}


def _paired(old: dict[str, Any], new: dict[str, Any], task: str) -> bool:
    """Same seeds and the same class splits run for run: the runs can be matched."""
    ro, rn = old["tasks"][task]["runs"], new["tasks"][task]["runs"]
    return len(ro) == len(rn) and all(a["seed"] == b["seed"] and a["train"] == b["train"] and a["test"] == b["test"]
                                      for a, b in zip(ro, rn))


def threshold(old: np.ndarray, new: np.ndarray, paired: bool, alpha: float) -> tuple[float, str]:
    """The drop a one-sided t-test at level alpha would call real (see module docstring)."""
    from scipy import stats  # scipy.stats takes ~0.5 s to import: only a comparison that needs a threshold pays

    if paired:
        if len(old) < 2:
            raise GroundingEvalError("compare: a single run has no standard error; give --tolerance")
        d = new - old
        return float(stats.t.ppf(1 - alpha, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))), "paired t"
    if len(old) < 2 or len(new) < 2:
        raise GroundingEvalError("compare: a single run has no standard error; give --tolerance")
    vo, vn = old.var(ddof=1) / len(old), new.var(ddof=1) / len(new)
    se = math.sqrt(vo + vn)
    if se == 0.0:
        return 0.0, "Welch t"
    df = (vo + vn) ** 2 / ((vo**2 / (len(old) - 1) if vo else 0.0) + (vn**2 / (len(new) - 1) if vn else 0.0))
    return float(stats.t.ppf(1 - alpha, df) * se), "Welch t"


def setup_differences(old: dict[str, Any], new: dict[str, Any], task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): what differs between the two runs of `task`, named."""
    to, tn = old["tasks"][task], new["tasks"][task]
    blocking, notes = [], []
    if to["version"] != tn["version"]:
        blocking.append(f"{task}: task version {to['version']} (baseline) vs {tn['version']} (new)")
    co, cn = _scored_config(to["config"]), _scored_config(tn["config"])
    where = first_difference(co, cn)
    if where:
        blocking.append(f"{task}: task config differs at {where!r}")
    po, pn = to["perception_encoder"], tn["perception_encoder"]
    if (po["name"], po.get("identity")) != (pn["name"], pn.get("identity")):
        what = "" if po["name"] != pn["name"] else f" at identity.{first_difference(po.get('identity'), pn.get('identity'))}"
        blocking.append(f"{task}: backbone {po['name']} (baseline) vs {pn['name']} (new){what}")
    if to["dataset"]["fingerprint"] != tn["dataset"]["fingerprint"] or to["concepts"] != tn["concepts"]:
        blocking.append(f"{task}: dataset {to['dataset']['name']} differs (fingerprint "
                        f"{str(to['dataset']['fingerprint'])[:12]} vs {str(tn['dataset']['fingerprint'])[:12]})")
    if to["config"].get("controls") != tn["config"].get("controls"):
        notes.append(f"{task}: controls {to['config'].get('controls')} (baseline) vs {tn['config'].get('controls')} (new); "
                     "only the probe's scores are compared")
    if to["seeds"] != tn["seeds"]:
        notes.append(f"{task}: seeds {to['seeds']} (baseline) vs {tn['seeds']} (new): other class splits, "
                     "compared unpaired")
    return blocking, notes


def compare(old: dict[str, Any], new: dict[str, Any], *, tolerance: float | None = None, alpha: float = DEFAULT_ALPHA,
            two_sided: bool = False, metrics: Sequence[str] | None = None, tasks: Sequence[str] | None = None) -> Comparison:
    """Per task in both files and per probe metric: the change, its threshold and a verdict."""
    blocking: list[str] = []
    notes: list[str] = []
    if old["model"].get("identity") != new["model"].get("identity"):
        where = first_difference(old["model"].get("identity"), new["model"].get("identity"))
        notes.append(f"model: {old['model']['name']} (baseline) vs {new['model']['name']} (new), identity differs at {where!r}")
    only_old = sorted(set(old["results"]) - set(new["results"]))
    only_new = sorted(set(new["results"]) - set(old["results"]))
    if only_old:
        notes.append(f"only in the baseline, not compared: {', '.join(only_old)}")
    if only_new:
        notes.append(f"only in the new file, not compared: {', '.join(only_new)}")
    common = [t for t in old["results"] if t in new["results"] and (not tasks or t in tasks)]
    if not common:
        raise GroundingEvalError("compare: the two files share no task" + (f" among {', '.join(tasks)}" if tasks else "")
                                 + f"; baseline has {', '.join(old['results'])}, new has {', '.join(new['results'])}")
    diffs: list[MetricDiff] = []
    for task in common:
        b, n = setup_differences(old, new, task)
        blocking += b
        notes += n
        paired = _paired(old, new, task)
        gated = [m for m in old["results"][task]["probe"] if m in new["results"][task]["probe"]]
        if metrics:
            unknown = [m for m in metrics if m not in gated]
            if unknown:
                raise GroundingEvalError(f"--metrics: {unknown[0]!r} is not in both files for {task}; valid: {', '.join(gated)}")
            gated = [m for m in gated if m in metrics]
        for metric in gated:
            xo, xn = _runs_scores(old, task, metric), _runs_scores(new, task, metric)
            if tolerance is not None:
                thr, method = tolerance, "fixed"
            else:
                thr, method = threshold(xo, xn, paired, alpha)
            delta = float(xn.mean() - xo.mean())
            eps = 1e-12  # equal numbers never count as a move
            verdict = "DROP" if delta < -(thr + eps) else ("RISE" if two_sided and delta > thr + eps else "ok")
            diffs.append(MetricDiff(task, metric, _stat(xo), _stat(xn), delta, thr, method, verdict))
    return Comparison(diffs, blocking, notes)


def _pct(stat: dict[str, Any]) -> str:
    se = stat["stderr"]
    return f"{100 * stat['mean']:.2f} ± {100 * se:.2f}" if se is not None else f"{100 * stat['mean']:.2f}"


def diff_table(cmp: Comparison, title: str) -> Table:
    table = Table(title=title, caption="% of the probe's scores, mean ± standard error over runs; Δ = new − baseline")
    for col in ("task", "metric", "baseline", "new", "Δ", "tolerance", "test", "verdict"):
        table.add_column(col, justify="left" if col in ("task", "metric", "test") else "right")
    for d in cmp.diffs:
        style = "bold red" if d.verdict != "ok" else "green"
        table.add_row(d.task, d.metric, _pct(d.old), _pct(d.new), f"{100 * d.delta:+.2f}", f"{100 * d.threshold:.2f}",
                      d.method, f"[{style}]{d.verdict}[/]")
    return table
