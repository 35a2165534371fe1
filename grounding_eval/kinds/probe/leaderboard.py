"""The probe kind on the leaderboard: which overrides an entry may carry, the checks of its numbers against
its runs, how it is filed and ranked, its section of the page (bar chart, table, layer sweeps) and of the
README, and its model-card rows. The shared part of each is `grounding_eval.leaderboard` (`rules.py`
lists what this module provides).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any

import numpy as np

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.config import TaskConfig
from grounding_eval.kinds.probe.results import Results, Stat, TaskRecord, TaskResult
from grounding_eval.leaderboard.checks import (
    BACKBONE_WEIGHTS_KEYS,
    MODEL_WEIGHTS_KEYS,
    WEIGHT_FREE_BACKBONES,
    check_chance_levels,
    check_packages,
    close,
    weights_known,
)
from grounding_eval.leaderboard.page import BoardEntry, cell, esc, md_escape, pct
from grounding_eval.leaderboard.submit import sweep_layers
from grounding_eval.stats import CLASS_MEAN, RunSample, bootstrap_ci, mean_stderr

# Task fields a submission may have changed from the task as shipped, and why that stays comparable:
# - perception_encoder: the backbone is a leaderboard axis (one table column, one folder level);
# - seed: another set of class splits of the same protocol (the seeds are in the entry and on the page);
# - num_runs: more runs only narrow the standard error; fewer than the task's are refused.
# Anything else (--limit, --controls, probe settings, prompts) measures something else and is refused.
OVERRIDES = ("perception_encoder", "seed", "num_runs")


# -- checks ------------------------------------------------------------------------------------------

def check_size(res: Results, task: str, current: TaskConfig, source: str) -> None:
    """At least as many runs as the task asks for."""
    sub = res.tasks[task].config
    if sub.get("num_runs", 0) < current.num_runs:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config.num_runs: {sub.get('num_runs')} runs; the task "
                                 f"asks for at least {current.num_runs}")


def check_provenance(res: Results, task: str, source: str) -> None:
    """The exact weights of both models, the seeds of the runs, and the versions that made the numbers."""
    ident = res.model.identity
    if not weights_known(ident):
        raise GroundingEvalError(f"{source}: field model.identity: no {' or '.join(MODEL_WEIGHTS_KEYS)}; the model's "
                                 "exact weights must be known (rerun with the current harness)")
    t = res.tasks[task]
    pe = t.perception_encoder
    if pe.name not in WEIGHT_FREE_BACKBONES and not any(pe.identity.get(k) for k in BACKBONE_WEIGHTS_KEYS):
        raise GroundingEvalError(f"{source}: field tasks.{task}.perception_encoder.identity: no checkpoint identity "
                                 f"({', '.join(BACKBONE_WEIGHTS_KEYS)}) for backbone {pe.name!r}")
    run_seeds = [r.seed for r in t.runs]
    base = t.config.get("seed")
    if t.seeds != run_seeds or run_seeds != [base + i for i in range(len(run_seeds))] or len(run_seeds) != t.config.get("num_runs"):
        raise GroundingEvalError(f"{source}: field tasks.{task}.seeds: {t.seeds} do not match the runs {run_seeds} "
                                 f"of config seed={base}, num_runs={t.config.get('num_runs')}")
    check_packages(res, source)


def _variants(r: TaskResult) -> dict[str, dict[str, Stat]]:
    """variant -> metric -> summary: the probe, then every control."""
    return {"probe": r.probe, **r.controls}


def check_summary(res: Results, task: str, source: str) -> None:
    """The summary's mean, standard error and n for every variant and metric, recomputed from the runs."""
    runs = res.tasks[task].runs
    summary = _variants(res.results[task])
    for variant, metrics in summary.items():
        for metric, stat in metrics.items():
            field = f"results.{task}.{'probe' if variant == 'probe' else 'controls.' + variant}.{metric}"
            try:
                values = [float(run.variant(variant).scores[metric]) for run in runs]
            except (AttributeError, KeyError):
                raise GroundingEvalError(f"{source}: field {field}: has no per-run scores in tasks.{task}.runs; "
                                         "a summary must come with the runs it summarises") from None
            want = mean_stderr(values)
            if stat.n != want["n"] or not close(stat.mean, want["mean"]) or not close(stat.stderr, want["stderr"]):
                raise GroundingEvalError(
                    f"{source}: field {field}: summary {stat.mean!r} ± {stat.stderr!r} (n={stat.n}) does not match "
                    f"its {len(runs)} runs ({want['mean']!r} ± {want['stderr']!r}); submit the file as the harness wrote it")
    # Every variant measured in the runs must be summarised (no run-level variant hidden from the page).
    for i, run in enumerate(runs):
        for variant in ["probe", *(run.model_extra or {})]:
            if variant not in summary:
                raise GroundingEvalError(f"{source}: field tasks.{task}.runs.{i}.{variant}: variant missing from results.{task}")


def check_units(res: Results, task: str, source: str) -> None:
    """What the leaderboard recomputes beyond the summary (after `check_summary`): each run's scores from its
    per-class values (`check_runs`), each interval against the runs (`check_intervals`)."""
    check_runs(res, task, source)
    check_intervals(res, task, source)


def _clip_mean_metrics(res: Results, task: str) -> set[str]:
    """The score keys that are a mean over test clips (metrics with per-clip values: accuracy@K, MRR); their
    keys are those of the metric's chance levels."""
    t = res.tasks[task]
    out: set[str] = set()
    for metric, margs in t.config.get("metrics", {}).items():
        entry = plugins.registries().metrics.get(metric)
        if entry.extra.get("per_instance") is not None:
            out.update(entry.extra["chance"](t.dataset.n_concepts, **(margs or {})))
    return out


def check_runs(res: Results, task: str, source: str) -> None:
    """Each run's scores follow from the per-class values the file also holds (as `protocol.score_similarity`
    writes them): `<m>_class_mean` is the plain mean of the classes' values of m, a clip-mean metric the mean
    weighted by each class's clips, and the clips add up to the run's test instances over its test classes.
    An edited run score (the summary recomputed from it) is refused here."""
    clip_means = _clip_mean_metrics(res, task)
    for i, run in enumerate(res.tasks[task].runs):
        for variant, rec in [("probe", run.probe), *(run.model_extra or {}).items()]:
            where = f"tasks.{task}.runs.{i}.{variant}"
            pc = rec.per_class
            if not pc or not set(pc) <= set(run.test):
                raise GroundingEvalError(f"{source}: field {where}.per_class: {len(pc)} classes, "
                                         f"{len(set(pc) - set(run.test))} not among the run's test classes; the run's "
                                         "scores must come with their per-class values (submit the file as the harness wrote it)")
            n = [float(c.get("n_instances", 0)) for c in pc.values()]
            if sum(n) != rec.n_test_instances or min(n) <= 0:
                raise GroundingEvalError(f"{source}: field {where}.n_test_instances: {rec.n_test_instances}, but its "
                                         f"per-class counts add up to {sum(n):g}")
            for metric, value in rec.scores.items():
                base = metric.removesuffix(CLASS_MEAN)
                try:
                    vals = [float(c[base]) for c in pc.values()]
                except KeyError:
                    raise GroundingEvalError(f"{source}: field {where}.per_class: no per-class {base!r} for the "
                                             f"run's score {metric!r}") from None
                if metric.endswith(CLASS_MEAN):
                    want = sum(vals) / len(vals)
                elif metric in clip_means:
                    want = sum(v * k for v, k in zip(vals, n)) / sum(n)
                else:
                    continue  # not a mean over clips: its class mean is checked
                if not close(value, want):
                    raise GroundingEvalError(
                        f"{source}: field {where}.scores.{metric}: {value!r}, but its per-class values give {want!r}; "
                        "submit the file as the harness wrote it")


def check_intervals(res: Results, task: str, source: str) -> None:
    """Each bootstrap interval given: the task's confidence level, the bootstrap the task's statistics ask
    for, its mean inside it; recomputed exactly where the file holds every draw's input (unit "runs", or a
    metric without per-clip values: the runs' scores and the task's seed, as `protocol._statistics` draws it).
    A runs_and_clips interval of a per-clip metric needs the per-clip values, which the file does not keep."""
    t, r = res.tasks[task], res.results[task]
    st = t.config.get("statistics") or {}
    want_boot = {"resamples": st.get("bootstrap_resamples"), "unit": st.get("bootstrap_unit"), "confidence": st.get("confidence")}
    given = {k: r.bootstrap.get(k) for k in want_boot}
    if r.bootstrap and given != want_boot:
        raise GroundingEvalError(f"{source}: field results.{task}.bootstrap: {given}, but the task's statistics "
                                 f"give {want_boot}")
    summary = _variants(r)
    if not any(stat.ci is not None for metrics in summary.values() for stat in metrics.values()):
        return
    exact = _exact_intervals(res, task, summary, st)
    for variant, metrics in summary.items():
        for metric, stat in metrics.items():
            if stat.ci is None:
                continue
            field = f"results.{task}.{'probe' if variant == 'probe' else 'controls.' + variant}.{metric}"
            if not close(stat.ci_level, st.get("confidence")):
                raise GroundingEvalError(f"{source}: field {field}.ci_level: {stat.ci_level!r}, but the task's "
                                         f"bootstrap confidence is {st.get('confidence')!r}")
            lo, hi = stat.ci
            if not (lo - 1e-9 <= stat.mean <= hi + 1e-9):
                raise GroundingEvalError(f"{source}: field {field}.ci: [{lo!r}, {hi!r}] does not hold its mean "
                                         f"{stat.mean!r}; submit the file as the harness wrote it")
            want = exact.get(variant, {}).get(metric)
            if want is not None and not (close(lo, want[0]) and close(hi, want[1])):
                raise GroundingEvalError(f"{source}: field {field}.ci: [{lo!r}, {hi!r}], but its {len(t.runs)} runs give "
                                         f"{want} (seed {t.config.get('seed')}, unit {st.get('bootstrap_unit')})")


def _exact_intervals(res: Results, task: str, summary: dict[str, dict[str, Stat]], st: dict[str, Any]) -> dict:
    """variant -> metric -> the interval the harness draws, for the metrics whose draws the file determines."""
    t = res.tasks[task]
    clip_means = _clip_mean_metrics(res, task)
    unit = st.get("bootstrap_unit")
    keep = {(v, m) for v, metrics in summary.items() for m in metrics
            if unit == "runs" or m.removesuffix(CLASS_MEAN) not in clip_means}
    if not keep or not st.get("bootstrap_resamples") or not st.get("confidence"):
        return {}
    # The run draws come first from the bootstrap's generator and are shared by every variant and metric, so
    # a metric without per-clip values gets the harness's interval from the run scores alone.
    samples = {v: [RunSample({m: float(run.variant(v).scores[m]) for m in metrics}, {}, np.zeros(0, int)) for run in t.runs]
               for v, metrics in summary.items()}
    cis = bootstrap_ci(samples, resamples=int(st["bootstrap_resamples"]), confidence=float(st["confidence"]),
                       unit="runs", seed=int(t.config.get("seed", 0)))
    return {v: {m: ci for m, ci in by.items() if (v, m) in keep} for v, by in cis.items()}


def check_ranges(res: Results, task: str, source: str) -> None:
    """Scores are fractions: every mean, per-run score and chance in [0, 1], standard errors >= 0."""
    r = res.results[task]
    for variant, metrics in {"probe": r.probe, **{f"controls.{k}": v for k, v in r.controls.items()}}.items():
        for metric, stat in metrics.items():
            if not (0.0 <= stat.mean <= 1.0) or (stat.stderr is not None and not (0.0 <= stat.stderr <= 1.0)):
                raise GroundingEvalError(f"{source}: field results.{task}.{variant}.{metric}: mean {stat.mean!r}, "
                                         f"stderr {stat.stderr!r}; scores are fractions in [0, 1]")
    for metric, value in r.chance.items():
        if not 0.0 <= value <= 1.0:
            raise GroundingEvalError(f"{source}: field results.{task}.chance.{metric}: {value!r} is not in [0, 1]")
    for i, run in enumerate(res.tasks[task].runs):
        for variant, rec in [("probe", run.probe), *(run.model_extra or {}).items()]:
            for metric, value in rec.scores.items():
                if not 0.0 <= value <= 1.0:
                    raise GroundingEvalError(f"{source}: field tasks.{task}.runs.{i}.{variant}.scores.{metric}: "
                                             f"{value!r} is not in [0, 1]")


def check_chance(res: Results, task: str, source: str) -> None:
    """Chance recomputed from the task's metrics (each metric's own chance function) and the concept count."""
    want: dict[str, float] = {}
    for metric, margs in res.tasks[task].config.get("metrics", {}).items():
        want.update(plugins.registries().metrics.get(metric).extra["chance"](res.tasks[task].dataset.n_concepts, **(margs or {})))
    check_chance_levels(res, task, source, want)


# -- filing -------------------------------------------------------------------------------------------

def backbone(t: TaskRecord) -> str:
    """The backbone axis of an entry: the perception encoder."""
    return t.perception_encoder.name


def size(t: TaskRecord) -> tuple[int, str]:
    """How much was measured, with the word for it."""
    return len(t.runs), "runs"


def seeds(t: TaskRecord) -> list[int]:
    return t.seeds


def run_key(res: Results) -> tuple:
    """What was measured, run by run."""
    return tuple((key, r.seed, json.dumps(r.model_dump(), sort_keys=True)) for key in sorted(res.tasks) for r in res.tasks[key].runs)


def rank(entries: list[BoardEntry]) -> None:
    """Highest probe score on the main metric first."""
    main = entries[0].result.main_metric
    entries.sort(key=lambda e: (-e.result.probe[main].mean, e.model, e.backbone))


# -- the page ------------------------------------------------------------------------------------------

def _metrics(entries: list[BoardEntry]) -> list[str]:
    seen: list[str] = []
    for e in entries:
        for m in e.result.probe:
            if m not in seen:
                seen.append(m)
    return seen


def _controls(entries: list[BoardEntry]) -> list[str]:
    return sorted({c for e in entries for c in e.result.controls})


# -- the bar chart (SVG, in the style of the paper's Figure 3) -------------------------------------------

def bar_chart(task: str, entries: list[BoardEntry]) -> str:
    """Probe vs permuted control per (model, backbone), ± standard error, chance as a dashed line."""
    main = entries[0].result.main_metric
    chance = entries[0].result.chance.get(main, 0.0)
    groups = []
    for e in entries:
        ctrl = e.result.controls.get("permuted_text", {}).get(main)
        groups.append((f"{e.model} · {e.backbone}", e.result.probe[main], ctrl))
    top = max([chance] + [s.mean + (s.stderr or 0) for _, p, c in groups for s in (p, c) if s]) or 1.0
    top = min(1.0, math.ceil(top * 10 + 0.5) / 10)
    bw, gap, left, h, bottom, right = 16, 34, 48, 220, 220, 110  # narrow bars: 16 rows still fit 1280 px
    width = left + len(groups) * (2 * bw + gap) + right
    y = lambda v: 10 + h * (1 - v / top)  # noqa: E731 - a local scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart bars" style="max-width:{width}px" '
             f'viewBox="0 0 {width} {h + bottom}"><title>{esc(task)}: {esc(main)}, probe vs permuted control</title>']
    for i in range(6):  # y grid
        v = top * i / 5
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{100 * v:.0f}</text>')
    parts.append(f'<text x="12" y="{10 + h / 2}" transform="rotate(-90 12 {10 + h / 2})" text-anchor="middle">{esc(main)} (%)</text>')
    for g, (label, probe, ctrl) in enumerate(groups):
        x0 = left + gap + g * (2 * bw + gap)
        for j, (stat, cls) in enumerate(((probe, "probe"), (ctrl, "control"))):
            if not stat:
                continue
            x = x0 + j * bw
            parts.append(f'<rect class="{cls}" x="{x}" y="{y(stat.mean):.1f}" width="{bw - 2}" '
                         f'height="{max(0.0, y(0) - y(stat.mean)):.1f}"><title>{esc(label)} {cls}: {pct(stat)} %</title></rect>')
            if stat.stderr:
                cx, lo, hi = x + (bw - 2) / 2, y(max(0.0, stat.mean - stat.stderr)), y(min(top, stat.mean + stat.stderr))
                parts.append(f'<path class="err" d="M{cx:.1f},{lo:.1f}V{hi:.1f}M{cx - 5:.1f},{lo:.1f}h10M{cx - 5:.1f},{hi:.1f}h10"/>')
        tx = x0 + bw
        parts.append(f'<text class="label" x="{tx}" y="{y(0) + 12:.1f}" transform="rotate(50 {tx} {y(0) + 12:.1f})">{esc(label if len(label) <= 44 else label[:43] + "…")}</text>')
    parts.append(f'<line class="chance" x1="{left}" x2="{width - right}" y1="{y(chance):.1f}" y2="{y(chance):.1f}"/>'
                 f'<text class="chance-label" x="{width - right + 8}" y="{y(chance) + 4:.1f}">chance {100 * chance:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the layer-sweep chart (one per swept model and backbone) -------------------------------------------

def sweep_chart(e: BoardEntry) -> str:
    """Main metric per hidden layer (x): probe and permuted control with ± standard error bands, chance dashed."""
    layers = sweep_layers(e.data)
    main = e.result.main_metric
    chance = e.result.chance.get(main, 0.0)
    series = {"probe": [], "control": []}
    for layer, key in layers:
        r = e.data.results[key]
        series["probe"].append((layer, r.probe[main]))
        ctrl = r.controls.get("permuted_text", {}).get(main)
        if ctrl:
            series["control"].append((layer, ctrl))
    top = max([chance] + [st.mean + (st.stderr or 0) for pts in series.values() for _, st in pts]) or 1.0
    top = min(1.0, math.ceil(top * 10 + 0.5) / 10)
    w, h, left, right, pad_top, bottom = 560, 220, 48, 96, 10, 40
    lo_l, hi_l = layers[0][0], max(layers[-1][0], layers[0][0] + 1)
    x = lambda layer: left + (w - left - right) * (layer - lo_l) / (hi_l - lo_l)  # noqa: E731 - local scales
    y = lambda v: pad_top + h * (1 - v / top)  # noqa: E731
    title = f"{e.model} · {e.backbone}: {main} per layer"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart sweep" data-layers="{len(layers)}" '
             f'viewBox="0 0 {w} {h + pad_top + bottom}"><title>{esc(title)}</title>']
    for i in range(6):
        v = top * i / 5
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{100 * v:.0f}</text>')
    step = max(1, round((hi_l - lo_l) / 10))
    for layer in range(lo_l, hi_l + 1, step):
        parts.append(f'<text x="{x(layer):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{layer}</text>')
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{y(0) + 34:.1f}" text-anchor="middle">layer (0 = embeddings)</text>'
                 f'<text x="12" y="{pad_top + h / 2}" transform="rotate(-90 12 {pad_top + h / 2})" text-anchor="middle">{esc(main)} (%)</text>')
    for cls, pts in series.items():
        if not pts:
            continue
        band = [(x(layer), y(min(top, st.mean + (st.stderr or 0)))) for layer, st in pts]
        band += [(x(layer), y(max(0.0, st.mean - (st.stderr or 0)))) for layer, st in reversed(pts)]
        parts.append(f'<polygon class="band {cls}" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in band)}"/>')
        line = " ".join(f"{x(layer):.1f},{y(st.mean):.1f}" for layer, st in pts)
        parts.append(f'<polyline class="line {cls}" points="{line}"/>')
        for layer, st in pts:
            parts.append(f'<circle class="pt {cls}" cx="{x(layer):.1f}" cy="{y(st.mean):.1f}" r="2.5">'
                         f'<title>layer {layer} {"probe" if cls == "probe" else "permuted control"}: {pct(st)} %</title></circle>')
    parts.append(f'<line class="chance" x1="{left}" x2="{w - right}" y1="{y(chance):.1f}" y2="{y(chance):.1f}"/>'
                 f'<text class="chance-label" x="{w - right + 6}" y="{y(chance) + 4:.1f}">chance {100 * chance:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sweep_section(task: str, sweeps: list[BoardEntry]) -> str:
    out = ['<h3>Layer sweeps <small>(one forward, every hidden layer; the last layer is the table row above)</small></h3>'
           '<div class="sweeps">']
    for e in sweeps:
        main = e.result.main_metric
        best_layer, best_key = max(sweep_layers(e.data), key=lambda lk: e.data.results[lk[1]].probe[main].mean)
        out.append(f'<figure class="sweep" data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{sweep_chart(e)}'
                   f'<figcaption><b>{esc(e.model)}</b> · {esc(e.backbone)} · <code>{esc(e.revision)}</code> · '
                   f'{len(e.task_data.runs)} runs per layer · highest probe at layer {best_layer}: '
                   f'{pct(e.data.results[best_key].probe[main])} (picked on test classes: descriptive, not a '
                   f'held-out choice) · <a href="{esc(urllib.parse.quote(e.rel))}">JSON</a></figcaption></figure>')
    out.append("</div>")
    return "".join(out)


def task_table(task: str, entries: list[BoardEntry]) -> str:
    main = entries[0].result.main_metric
    metrics = [main] + [m for m in _metrics(entries) if m != main]
    controls = _controls(entries)
    # At most ~12 narrow columns, so the table fits 1280 px without scrolling: the other metrics share one
    # cell, and hardware shares one with the date.
    head = ["#", "model", "family", "revision", "backbone", f"{main} (probe)"]
    head += [f"{main} ({c})" for c in controls] + [f"chance {main}"]
    head += (["other metrics (probe)"] if metrics[1:] else []) + ["runs", "seeds", "date · hardware", "raw"]
    out = [f'<table class="board" id="table-{esc(task)}"><thead><tr>']
    for i, h in enumerate(head):
        kind = "num" if h in ("#", "runs") or ("(" in h and not h.startswith("other")) or h.startswith("chance") else "text"
        out.append(f'<th data-col="{i}" data-kind="{kind}" tabindex="0" title="click to sort">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for rank, e in enumerate(entries, 1):
        r, t = e.result, e.task_data
        cells = [cell(str(rank), rank), cell(esc(e.model), e.model, "model"), cell(esc(e.family), e.family, "wrap"),
                 cell(f"<code>{esc(e.revision)}</code>", e.revision, "wrap"), cell(esc(e.backbone), e.backbone),
                 cell(f"<b>{pct(r.probe.get(main))}</b>", r.probe[main].mean)]
        for c in controls:
            stat = r.controls.get(c, {}).get(main)
            cells.append(cell(pct(stat), stat.mean if stat else -1))
        cells.append(cell(f"{100 * r.chance.get(main, float('nan')):.1f}", r.chance.get(main, -1)))
        if metrics[1:]:
            lines = "<br>".join(f"{esc(m)} {pct(r.probe.get(m))}" for m in metrics[1:])
            others = f"<details><summary>{len(metrics) - 1} more</summary>{lines}</details>"  # folded: keeps rows short
            first = r.probe.get(metrics[1])
            cells.append(cell(others, first.mean if first else -1, "others"))
        seeds = t.seeds
        cells += [cell(str(len(t.runs)), len(t.runs)),
                  cell(esc(f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else seeds[0]), seeds[0]),
                  cell(f'{esc(e.data.date[:10])}<br><small>{esc(e.hardware)}</small>', e.data.date, "when"),
                  cell(f'<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>', e.rel)]
        out.append(f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def html_section(task: str, entries: list[BoardEntry]) -> str:
    """The task's section: bar chart and table of single-layer entries, then the layer sweeps."""
    rows, sweeps = [e for e in entries if not e.sweep], [e for e in entries if e.sweep]
    t0 = (rows or sweeps)[0].task_data  # the header describes the table's top entry
    return (f'<section class="task"><h2>{esc(task)} <small>v{esc(t0.version)} · {esc(t0.dataset.name)}: '
            f'{esc(t0.dataset.n_concepts)} concepts, {esc(t0.dataset.n_instances)} instances · '
            f'hash <code>{esc(t0.hash[:12])}</code></small></h2>'
            + (f"{bar_chart(task, rows)}"
               f'<p class="legend"><span class="key probe"></span> probe <span class="key control"></span> permuted-text '
               f"control, bars ± standard error over runs; dashed: chance. Click a column header to sort.</p>"
               f"{task_table(task, rows)}" if rows else "")
            + (sweep_section(task, sweeps) if sweeps else "") + "</section>")


def markdown_section(task: str, entries: list[BoardEntry]) -> list[str]:
    """The task's table in the README, then one line per layer sweep."""
    rows, sweeps = [e for e in entries if not e.sweep], [e for e in entries if e.sweep]
    main = (rows or sweeps)[0].result.main_metric
    controls = _controls(rows)
    lines = [f"## {md_escape(task)}", "",
             "| model | revision | backbone | " + f"{md_escape(main)} probe | "
             + "".join(f"{md_escape(c)} | " for c in controls) + "chance | runs | hardware | raw |",
             "|" + "---|" * (8 + len(controls))]
    for e in rows:
        r = e.result
        ctrl = "".join(f"{pct(r.controls.get(c, {}).get(main))} | " for c in controls)
        lines.append(f"| {md_escape(e.model)} | {md_escape(e.revision)} | {md_escape(e.backbone)} | "
                     f"{pct(r.probe[main])} | {ctrl}{100 * r.chance[main]:.1f} | {len(e.task_data.runs)} | "
                     f"{md_escape(e.hardware)} | [JSON]({urllib.parse.quote(e.rel)}) |")
    for e in sweeps:
        main = e.result.main_metric
        curve = ", ".join(f"{layer}: {100 * e.data.results[k].probe[main].mean:.1f}" for layer, k in sweep_layers(e.data))
        lines.append(f"Layer sweep, {md_escape(e.model)} · {md_escape(e.backbone)} ({md_escape(main)} probe % by layer): "
                     f"{curve}. [JSON]({urllib.parse.quote(e.rel)})")
        lines.append("")
    return lines + [""]


# -- the model card -------------------------------------------------------------------------------------

TASK_TYPE = "feature-extraction"  # the hub task closest to "probe a model's text representations"


def model_index_rows(res: Results, key: str) -> list[dict[str, Any]]:
    """huggingface_hub.metadata_eval_result's arguments (but the model's name), one per variant and metric:
    the probe's and each control's mean, in percent, with the dataset and the backbone."""
    t, r = res.tasks[key], res.results[key]
    out = []
    for variant, metrics in {"probe": r.probe, **{f"{c} control": v for c, v in r.controls.items()}}.items():
        for metric, stat in metrics.items():
            out.append(dict(task_pretty_name=f"{key} (grounding-eval v{t.version})", task_id=TASK_TYPE,
                            metrics_pretty_name=f"{metric} (%), {variant}, mean of {stat.n} runs", metrics_id=metric,
                            metrics_value=round(100 * stat.mean, 2), metrics_config=variant,
                            dataset_pretty_name=t.dataset.name, dataset_id=t.dataset.name,
                            dataset_config=t.perception_encoder.name, dataset_split="held-out concepts",
                            dataset_revision=t.dataset.fingerprint))
    return out
