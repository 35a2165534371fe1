"""`grounding-eval compare NEW.json --baseline OLD.json`: did a metric drop? An exit code for CI.

    exit 0  no metric dropped by more than the tolerance
    exit 1  at least one did (a regression; with --two-sided, also a rise: "the numbers moved")
    exit 2  bad input, or the two files do not measure the same thing (named; --allow-mismatch compares anyway)

What every kind shares lives here: the loop over the tasks both files hold, the verdict on one metric
(`Rule`: a one-sided t-test threshold at level `--alpha`, or a fixed `--tolerance`), the setup checks every
kind makes (task version, scored config, encoder identity, dataset), and the table. What is compared, and
over which unit (the probe's runs, the generative kind's clips), is the kind's own `compare` module, named in
the kinds table: `CAPTION`, `setup_differences(old, new, task) -> (blocking, notes)` and
`compare_task(old, new, task, metrics, rule, blocking, notes) -> [MetricDiff]`. Scores come from the units, not the summary (`leaderboard.checks.check_summary` refuses a mismatch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Sequence

import numpy as np
from rich.table import Table

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import get_kind
from grounding_eval.results import ResultsFile, as_results
from grounding_eval.validation import first_difference

DEFAULT_ALPHA = 0.05


@dataclass
class MetricDiff:
    task: str
    metric: str
    old: dict[str, Any]  # mean, stderr, n (from the runs; generative: from the clips) and, when the file has one, ci
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
    caption: str  # what was compared over which unit (the kind's CAPTION)

    @property
    def regressed(self) -> bool:
        return any(d.verdict != "ok" for d in self.diffs)


@dataclass(frozen=True)
class Setup:
    """What must match for two runs of one task to measure the same thing; each kind says where its file
    holds each part."""

    version: int
    scored_config: dict[str, Any]  # the part of the task config that can change the scores
    encoder_role: str  # what the encoder is called in a message: "backbone", "embedder"
    encoder: tuple[str, dict[str, Any]]  # name, identity
    dataset: tuple[str, str, list[str]]  # name, fingerprint, concepts


def setup_blocking(task: str, old: Setup, new: Setup) -> list[str]:
    """The differences that make two runs of `task` not comparable, named."""
    blocking = []
    if old.version != new.version:
        blocking.append(f"{task}: task version {old.version} (baseline) vs {new.version} (new)")
    where = first_difference(old.scored_config, new.scored_config)
    if where:
        blocking.append(f"{task}: task config differs at {where!r}")
    (eo, io), (en, in_) = old.encoder, new.encoder
    if (eo, io) != (en, in_):
        what = "" if eo != en else f" at identity.{first_difference(io, in_)}"
        blocking.append(f"{task}: {old.encoder_role} {eo} (baseline) vs {en} (new){what}")
    if old.dataset[1:] != new.dataset[1:]:
        blocking.append(f"{task}: dataset {old.dataset[0]} differs (fingerprint {old.dataset[1][:12]} vs {new.dataset[1][:12]})")
    return blocking


def stat(x: np.ndarray, ci: list[float] | None = None) -> dict[str, Any]:
    """Mean, standard error and n of per-unit scores (the interval the file gives, when it has one)."""
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None
    return {"mean": float(x.mean()), "stderr": se, "n": int(len(x)), **({"ci": ci} if ci else {})}


def threshold(old: np.ndarray, new: np.ndarray, paired: bool, alpha: float) -> tuple[float, str]:
    """The drop a one-sided t-test at level alpha would call real: paired on per-unit differences when the
    units match, else Welch's (the probe kind's module docstring has the reasoning)."""
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


@dataclass(frozen=True)
class Rule:
    """How one metric's change is judged: against a fixed `tolerance`, else against the drop a one-sided t-test at
    level `alpha` would call real (`threshold`); with `two_sided`, a rise beyond it fails too."""

    tolerance: float | None = None
    alpha: float = DEFAULT_ALPHA
    two_sided: bool = False

    def judge(self, task: str, metric: str, xo: np.ndarray, xn: np.ndarray, paired: bool,
              cis: tuple[list[float] | None, list[float] | None] = (None, None)) -> MetricDiff:
        """The change between per-unit scores `xo` (baseline) and `xn` (new), its threshold and verdict."""
        if self.tolerance is not None:
            thr, method = self.tolerance, "fixed"
        else:
            thr, method = threshold(xo, xn, paired, self.alpha)
        delta = float(xn.mean() - xo.mean())
        eps = 1e-12  # equal numbers never count as a move
        verdict = "DROP" if delta < -(thr + eps) else ("RISE" if self.two_sided and delta > thr + eps else "ok")
        return MetricDiff(task, metric, stat(xo, cis[0]), stat(xn, cis[1]), delta, thr, method, verdict)


def common_tasks(old: ResultsFile, new: ResultsFile, tasks: Sequence[str] | None, notes: list[str]) -> list[str]:
    """The tasks both files hold (among `tasks` when given); what only one holds, and another model, is noted."""
    if old.model.identity != new.model.identity:
        where = first_difference(old.model.identity, new.model.identity)
        notes.append(f"model: {old.model.name} (baseline) vs {new.model.name} (new), identity differs at {where!r}")
    only_old = sorted(set(old.results) - set(new.results))
    only_new = sorted(set(new.results) - set(old.results))
    if only_old:
        notes.append(f"only in the baseline, not compared: {', '.join(only_old)}")
    if only_new:
        notes.append(f"only in the new file, not compared: {', '.join(only_new)}")
    common = [t for t in old.results if t in new.results and (not tasks or t in tasks)]
    if not common:
        raise GroundingEvalError("compare: the two files share no task" + (f" among {', '.join(tasks)}" if tasks else "")
                                 + f"; baseline has {', '.join(old.results)}, new has {', '.join(new.results)}")
    return common


def _same_kind(old: ResultsFile | dict[str, Any], new: ResultsFile | dict[str, Any]) -> tuple[ResultsFile, ResultsFile, ModuleType]:
    old, new = as_results(old, "baseline"), as_results(new, "new")
    if old.kind != new.kind:
        raise GroundingEvalError(f"compare: the baseline is a {old.kind} results file and the new one a {new.kind} one; "
                                 "compare files of the same task kind")
    return old, new, get_kind(old.kind).load("compare")


def setup_differences(old: ResultsFile | dict[str, Any], new: ResultsFile | dict[str, Any], task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): what differs between the two runs of `task`, named (the kind's rules)."""
    old, new = as_results(old, "baseline"), as_results(new, "new")
    if old.kind != new.kind:
        return [f"{task}: a {old.kind} results file (baseline) vs a {new.kind} one (new)"], []
    return get_kind(old.kind).load("compare").setup_differences(old, new, task)


def compare(old: ResultsFile | dict[str, Any], new: ResultsFile | dict[str, Any], *, tolerance: float | None = None,
            alpha: float = DEFAULT_ALPHA, two_sided: bool = False, metrics: Sequence[str] | None = None,
            tasks: Sequence[str] | None = None) -> Comparison:
    """Per task in both files: what differs (the kind's `setup_differences`), then per metric the change, its
    threshold and a verdict (the kind's `compare_task` says which metrics, over which unit)."""
    old, new, kind = _same_kind(old, new)
    rule = Rule(tolerance, alpha, two_sided)
    blocking: list[str] = []
    notes: list[str] = []
    diffs: list[MetricDiff] = []
    for task in common_tasks(old, new, tasks, notes):
        b, n = kind.setup_differences(old, new, task)
        blocking += b
        notes += n
        diffs += kind.compare_task(old, new, task, metrics, rule, blocking, notes)
    return Comparison(diffs, blocking, notes, kind.CAPTION)


def _pct(stat: dict[str, Any]) -> str:
    if stat.get("ci"):
        lo, hi = stat["ci"]
        return f"{100 * stat['mean']:.2f} [{100 * lo:.1f}, {100 * hi:.1f}]"
    se = stat["stderr"]
    return f"{100 * stat['mean']:.2f} ± {100 * se:.2f}" if se is not None else f"{100 * stat['mean']:.2f}"


def diff_table(cmp: Comparison, title: str) -> Table:
    table = Table(title=title, caption=cmp.caption)
    for col in ("task", "metric", "baseline", "new", "Δ", "tolerance", "test", "verdict"):
        table.add_column(col, justify="left" if col in ("task", "metric", "test") else "right")
    for d in cmp.diffs:
        style = "bold red" if d.verdict != "ok" else "green"
        table.add_row(d.task, d.metric, _pct(d.old), _pct(d.new), f"{100 * d.delta:+.2f}", f"{100 * d.threshold:.2f}",
                      d.method, f"[{style}]{d.verdict}[/]")
    return table
