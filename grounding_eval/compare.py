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

Two generative results files (kind: generative) are compared clip by clip, paired by (prompt, sample): the
valid-audio rate, and the main metric (or `--metrics`: mrr, accuracy@K) with failures as silence and over
the clips valid in both (see `compare_generative`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from rich.table import Table

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.checks import first_difference
from grounding_eval.generative.outcomes import OK
from grounding_eval.results import AnyResults, GenerativeResults, Results, as_results

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
    kind: str = "probe"

    @property
    def regressed(self) -> bool:
        return any(d.verdict != "ok" for d in self.diffs)


def _runs_scores(res: Results, task: str, metric: str) -> np.ndarray:
    return np.array([float(r.probe.scores[metric]) for r in res.tasks[task].runs])


def _stat(x: np.ndarray, ci: list[float] | None = None) -> dict[str, Any]:
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None
    return {"mean": float(x.mean()), "stderr": se, "n": int(len(x)), **({"ci": ci} if ci else {})}


def _paired(old: Results, new: Results, task: str) -> bool:
    """Same seeds and the same class splits run for run: the runs can be matched."""
    ro, rn = old.tasks[task].runs, new.tasks[task].runs
    return len(ro) == len(rn) and all(a.seed == b.seed and a.train == b.train and a.test == b.test for a, b in zip(ro, rn))


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


def setup_differences(old: AnyResults | dict[str, Any], new: AnyResults | dict[str, Any], task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): what differs between the two runs of `task`, named."""
    old, new = as_results(old, "baseline"), as_results(new, "new")
    if old.kind != new.kind:
        return [f"{task}: a {old.kind} results file (baseline) vs a {new.kind} one (new)"], []
    if isinstance(old, GenerativeResults):
        return _generative_setup_differences(old, new, task)
    to, tn = old.tasks[task], new.tasks[task]
    blocking, notes = [], []
    if to.version != tn.version:
        blocking.append(f"{task}: task version {to.version} (baseline) vs {tn.version} (new)")
    where = first_difference(_scored_config(to.config), _scored_config(tn.config))
    if where:
        blocking.append(f"{task}: task config differs at {where!r}")
    po, pn = to.perception_encoder, tn.perception_encoder
    if (po.name, po.identity) != (pn.name, pn.identity):
        what = "" if po.name != pn.name else f" at identity.{first_difference(po.identity, pn.identity)}"
        blocking.append(f"{task}: backbone {po.name} (baseline) vs {pn.name} (new){what}")
    if to.dataset.fingerprint != tn.dataset.fingerprint or to.concepts != tn.concepts:
        blocking.append(f"{task}: dataset {to.dataset.name} differs (fingerprint "
                        f"{to.dataset.fingerprint[:12]} vs {tn.dataset.fingerprint[:12]})")
    if to.config.get("controls") != tn.config.get("controls"):
        notes.append(f"{task}: controls {to.config.get('controls')} (baseline) vs {tn.config.get('controls')} (new); "
                     "only the probe's scores are compared")
    if to.seeds != tn.seeds:
        notes.append(f"{task}: seeds {to.seeds} (baseline) vs {tn.seeds} (new): other class splits, "
                     "compared unpaired")
    return blocking, notes


def _common_tasks(old: AnyResults, new: AnyResults, tasks: Sequence[str] | None, notes: list[str]) -> list[str]:
    """The tasks both files hold (among `tasks` when given); what only one holds is noted."""
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


def _verdict(task: str, metric: str, xo: np.ndarray, xn: np.ndarray, paired: bool, tolerance: float | None,
             alpha: float, two_sided: bool, cis: tuple[list[float] | None, list[float] | None] = (None, None)) -> MetricDiff:
    if tolerance is not None:
        thr, method = tolerance, "fixed"
    else:
        thr, method = threshold(xo, xn, paired, alpha)
    delta = float(xn.mean() - xo.mean())
    eps = 1e-12  # equal numbers never count as a move
    verdict = "DROP" if delta < -(thr + eps) else ("RISE" if two_sided and delta > thr + eps else "ok")
    return MetricDiff(task, metric, _stat(xo, cis[0]), _stat(xn, cis[1]), delta, thr, method, verdict)


def compare(old: AnyResults | dict[str, Any], new: AnyResults | dict[str, Any], *, tolerance: float | None = None,
            alpha: float = DEFAULT_ALPHA, two_sided: bool = False, metrics: Sequence[str] | None = None,
            tasks: Sequence[str] | None = None) -> Comparison:
    """Per task in both files and per probe metric (generative: per clip score): the change, its threshold and a verdict."""
    old, new = as_results(old, "baseline"), as_results(new, "new")
    if old.kind != new.kind:
        raise GroundingEvalError(f"compare: the baseline is a {old.kind} results file and the new one a {new.kind} one; "
                                 "compare files of the same task kind")
    if isinstance(old, GenerativeResults):
        return compare_generative(old, new, tolerance=tolerance, alpha=alpha, two_sided=two_sided, metrics=metrics, tasks=tasks)
    blocking: list[str] = []
    notes: list[str] = []
    diffs: list[MetricDiff] = []
    for task in _common_tasks(old, new, tasks, notes):
        b, n = setup_differences(old, new, task)
        blocking += b
        notes += n
        paired = _paired(old, new, task)
        gated = [m for m in old.results[task].probe if m in new.results[task].probe]
        if metrics:
            unknown = [m for m in metrics if m not in gated]
            if unknown:
                raise GroundingEvalError(f"--metrics: {unknown[0]!r} is not in both files for {task}; valid: {', '.join(gated)}")
            gated = [m for m in gated if m in metrics]
        for metric in gated:
            diffs.append(_verdict(task, metric, _runs_scores(old, task, metric), _runs_scores(new, task, metric), paired,
                                  tolerance, alpha, two_sided))
    return Comparison(diffs, blocking, notes)


# -- generative results: paired over (prompt, sample) -------------------------------------------------------
# The unit is one generated clip, matched by its prompt id and sample index: both files asked the same
# prompts, so each prompt's difficulty cancels (paired t on per-clip differences, as for the probe's runs).
# Scores per clip: valid audio (0/1); the main metric from the clip's rank (accuracy@K: rank <= K; MRR:
# 1/rank), with failures as silence (every clip; a failure scores as the silent clip did), and over valid
# clips (the clips valid in BOTH files, so the two means are over the same prompts).
# Config keys that leave the scores of the system under test comparable: which controls ran, and the
# generator's settings (seed, samples, sampling: the systems' side, named as a note).
GENERATIVE_SAMPLING_KEYS = ("controls", "generator")
VALID_AUDIO = "valid audio"


def _generative_scored_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a generative task config that decides how a clip is scored."""
    return {k: v for k, v in config.items() if k not in GENERATIVE_SAMPLING_KEYS}


def _generative_setup_differences(old: GenerativeResults, new: GenerativeResults, task: str) -> tuple[list[str], list[str]]:
    to, tn = old.tasks[task], new.tasks[task]
    blocking, notes = [], []
    if to.version != tn.version:
        blocking.append(f"{task}: task version {to.version} (baseline) vs {tn.version} (new)")
    where = first_difference(_generative_scored_config(to.config), _generative_scored_config(tn.config))
    if where:
        blocking.append(f"{task}: task config differs at {where!r}")
    eo, en = to.embedder, tn.embedder
    if (eo.name, eo.identity) != (en.name, en.identity):
        what = "" if eo.name != en.name else f" at identity.{first_difference(eo.identity, en.identity)}"
        blocking.append(f"{task}: embedder {eo.name} (baseline) vs {en.name} (new){what}")
    if (to.judge_text_encoder.name, to.judge_text_encoder.identity) != (tn.judge_text_encoder.name, tn.judge_text_encoder.identity):
        blocking.append(f"{task}: judge text encoder {to.judge_text_encoder.name} (baseline) vs {tn.judge_text_encoder.name} (new)")
    if to.dataset.fingerprint != tn.dataset.fingerprint or to.concepts != tn.concepts:
        blocking.append(f"{task}: dataset {to.dataset.name} differs (fingerprint "
                        f"{to.dataset.fingerprint[:12]} vs {tn.dataset.fingerprint[:12]})")
    if [p.get("text") for p in to.prompts] != [p.get("text") for p in tn.prompts]:
        blocking.append(f"{task}: the prompts differ")
    go, gn = to.config.get("generator", {}), tn.config.get("generator", {})
    if go != gn:
        notes.append(f"{task}: generator settings differ at {first_difference(go, gn)!r} (the systems' side; "
                     "clips are paired by prompt and sample)")
    return blocking, notes


def clip_scores(res: GenerativeResults, task: str, metric: str, system: str | None = None) -> dict[tuple[str, int], tuple[bool, float]]:
    """(prompt id, sample) -> (valid audio, the clip's `metric` from its rank) for one system (default: the main one)."""
    r, t = res.results[task], res.tasks[task]
    system = system or r.main_system
    out = {}
    for i, ex in enumerate(t.executions.get(system, [])):
        if ex.rank is None:
            raise GroundingEvalError(f"field tasks.{task}.executions.{system}.{i}.rank: missing; per-clip ranks are "
                                     "written since grounding-eval's generative compare: rerun (a re-score is cached)")
        out[(ex.prompt_id, ex.sample)] = (ex.kind == OK, clip_metric(metric, ex.rank))
    return out


def clip_metric(metric: str, rank: int) -> float:
    """A per-clip text-audio score from the clip's rank: accuracy@K or MRR."""
    if metric == "mrr":
        return 1.0 / rank
    if metric.startswith("accuracy@") and metric[len("accuracy@"):].isdigit():
        return float(rank <= int(metric[len("accuracy@"):]))
    raise GroundingEvalError(f"--metrics: {metric!r} is not a per-clip score; valid: mrr, accuracy@K")


def compare_generative(old: GenerativeResults, new: GenerativeResults, *, tolerance: float | None = None,
                       alpha: float = DEFAULT_ALPHA, two_sided: bool = False, metrics: Sequence[str] | None = None,
                       tasks: Sequence[str] | None = None) -> Comparison:
    """Per task: valid-audio rate, and each score with failures as silence and over valid clips, paired by clip."""
    blocking: list[str] = []
    notes: list[str] = []
    diffs: list[MetricDiff] = []
    for task in _common_tasks(old, new, tasks, notes):
        b, n = setup_differences(old, new, task)
        blocking += b
        notes += n
        ro, rn = old.results[task], new.results[task]
        if ro.main_metric != rn.main_metric:
            blocking.append(f"{task}: main metric {ro.main_metric} (baseline) vs {rn.main_metric} (new)")
        scores = list(metrics) if metrics else [ro.main_metric]
        per_old = {m: clip_scores(old, task, m) for m in scores}
        per_new = {m: clip_scores(new, task, m) for m in scores}
        first = scores[0]
        keys = [k for k in per_old[first] if k in per_new[first]]
        if len(keys) < len(per_old[first]) or len(keys) < len(per_new[first]):
            notes.append(f"{task}: {len(keys)} (prompt, sample) clips in both files ({len(per_old[first])} in the baseline, "
                         f"{len(per_new[first])} in the new); only those are compared")
        if not keys:
            raise GroundingEvalError(f"compare: {task}: the two files share no (prompt, sample) clip")
        so, sn = ro.results.systems[ro.main_system], rn.results.systems[rn.main_system]
        if ro.main_system != rn.main_system:
            notes.append(f"{task}: system {ro.main_system} (baseline) vs {rn.main_system} (new), {len(keys)} clips paired by "
                         "prompt and sample")
        valid_o = np.array([per_old[first][k][0] for k in keys], float)
        valid_n = np.array([per_new[first][k][0] for k in keys], float)
        diffs.append(_verdict(task, VALID_AUDIO, valid_o, valid_n, True, tolerance, alpha, two_sided,
                              (so.outcomes.valid_rate_interval, sn.outcomes.valid_rate_interval)))
        both_valid = [k for k in keys if per_old[first][k][0] and per_new[first][k][0]]
        for m in scores:
            xo, xn = (np.array([per[m][k][1] for k in keys]) for per in (per_old, per_new))
            cis = tuple(getattr(s.failures_as_silence.metric(m), "ci", None) for s in (so, sn))
            diffs.append(_verdict(task, f"{m} (failures as silence)", xo, xn, True, tolerance, alpha, two_sided, cis))
            if len(both_valid) >= 2:
                xo, xn = (np.array([per[m][k][1] for k in both_valid]) for per in (per_old, per_new))
                diffs.append(_verdict(task, f"{m} (clips valid in both)", xo, xn, True, tolerance, alpha, two_sided))
            else:
                notes.append(f"{task}: {len(both_valid)} clip(s) valid in both files: {m} over valid clips not compared")
    return Comparison(diffs, blocking, notes, kind="generative")


def _pct(stat: dict[str, Any]) -> str:
    if stat.get("ci"):
        lo, hi = stat["ci"]
        return f"{100 * stat['mean']:.2f} [{100 * lo:.1f}, {100 * hi:.1f}]"
    se = stat["stderr"]
    return f"{100 * stat['mean']:.2f} ± {100 * se:.2f}" if se is not None else f"{100 * stat['mean']:.2f}"


GENERATIVE_CAPTION = ("% over clips paired by (prompt, sample), with the file's 95 % interval where it has one (valid "
                      "audio: Wilson; scores: bootstrap over clips); Δ = new − baseline; test: paired t over clips")


def diff_table(cmp: Comparison, title: str) -> Table:
    caption = (GENERATIVE_CAPTION if cmp.kind == "generative"
               else "% of the probe's scores, mean ± standard error over runs; Δ = new − baseline")
    table = Table(title=title, caption=caption)
    for col in ("task", "metric", "baseline", "new", "Δ", "tolerance", "test", "verdict"):
        table.add_column(col, justify="left" if col in ("task", "metric", "test") else "right")
    for d in cmp.diffs:
        style = "bold red" if d.verdict != "ok" else "green"
        table.add_row(d.task, d.metric, _pct(d.old), _pct(d.new), f"{100 * d.delta:+.2f}", f"{100 * d.threshold:.2f}",
                      d.method, f"[{style}]{d.verdict}[/]")
    return table
