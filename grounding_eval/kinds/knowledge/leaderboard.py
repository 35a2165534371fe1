"""The knowledge kind on the leaderboard: every name `grounding_eval/leaderboard/rules.py` asks of a kind.

A knowledge file keeps every variant's log-likelihood of every choice of every question, so the leaderboard
recomputes everything it shows (acc, acc_norm, chance, each bootstrap interval, each paired test) exactly.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.knowledge.config import KnowledgeTaskConfig
from grounding_eval.kinds.knowledge.metrics import chance_per_item, summarise
from grounding_eval.kinds.knowledge.results import KnowledgeResults, KnowledgeTaskRecord
from grounding_eval.leaderboard.checks import check_packages, close, weights_known
from grounding_eval.leaderboard.page import BoardEntry, cell, esc, md_escape

# statistics.seed: other bootstrap draws of the same questions; statistics.resamples: more only steadies intervals.
OVERRIDES = ("statistics.seed", "statistics.resamples")
TASK_TYPE = "multiple-choice"


# -- checks ------------------------------------------------------------------------------------------

def check_size(res: KnowledgeResults, task: str, current: KnowledgeTaskConfig, source: str) -> None:
    have = res.tasks[task].config.get("statistics", {}).get("resamples", 0)
    if have < current.statistics.resamples:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config.statistics.resamples: {have}; the task asks for "
                                 f"at least {current.statistics.resamples}")


def check_provenance(res: KnowledgeResults, task: str, source: str) -> None:
    if not weights_known(res.model.identity):
        raise GroundingEvalError(f"{source}: field model.identity: no revision or weights_sha256; the model's exact "
                                 "weights must be known")
    t = res.tasks[task]
    if t.seed != t.config.get("statistics", {}).get("seed"):
        raise GroundingEvalError(f"{source}: field tasks.{task}.seed: {t.seed} is not the config's statistics.seed")
    check_packages(res, source)


def check_ranges(res: KnowledgeResults, task: str, source: str) -> None:
    r = res.results[task]
    values = {f"results.{task}.chance": r.chance}
    for v, metrics in r.scores.items():
        for m, s in metrics.items():
            values.update({f"results.{task}.scores.{v}.{m}.mean": s.mean, f"results.{task}.scores.{v}.{m}.ci": s.ci[0],
                           f"results.{task}.scores.{v}.{m}.ci.1": s.ci[1]})
    for field, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise GroundingEvalError(f"{source}: field {field}: {value!r} is not in [0, 1]")


def check_summary(res: KnowledgeResults, task: str, source: str) -> None:
    """Every score, interval and paired test recomputed from the stored log-likelihoods."""
    t, r = res.tasks[task], res.results[task]
    st = t.config.get("statistics", {})
    if r.n_items != len(t.items):
        raise GroundingEvalError(f"{source}: field results.{task}.n_items: {r.n_items} for {len(t.items)} stored questions")
    want = summarise(t.items, list(r.scores), st.get("resamples", 2000), st.get("confidence", 0.95), t.seed)
    for v, metrics in want["scores"].items():
        for m, s in metrics.items():
            got = r.scores[v][m]
            if got.n != s["n"] or not close(got.mean, s["mean"]) or not all(close(a, b) for a, b in zip(got.ci, s["ci"])):
                raise GroundingEvalError(f"{source}: field results.{task}.scores.{v}.{m}: {got.mean!r} {got.ci!r} does not "
                                         f"match its questions ({s['mean']!r} {s['ci']!r}); submit the file as the harness wrote it")
    for name, metrics in want["tests"].items():
        for m, test in metrics.items():
            got = r.tests.get(name, {}).get(m)
            if got is None or not close(got.mean_difference, test["mean_difference"]) or not close(got.p_value, test["p_value"]):
                raise GroundingEvalError(f"{source}: field results.{task}.tests.{name}.{m}: does not match its questions "
                                         f"(Δ {test['mean_difference']!r}, p {test['p_value']!r})")


def check_chance(res: KnowledgeResults, task: str, source: str) -> None:
    want = float(chance_per_item(res.tasks[task].items).mean())
    r = res.results[task]
    if not close(r.chance, want):
        raise GroundingEvalError(f"{source}: field results.{task}.chance: {r.chance!r}, but the questions' choices give {want!r}")
    if r.main_metric != res.tasks[task].config.get("main_metric"):
        raise GroundingEvalError(f"{source}: field results.{task}.main_metric: {r.main_metric!r} is not the task's "
                                 f"main_metric {res.tasks[task].config.get('main_metric')!r}")


# -- filing ------------------------------------------------------------------------------------------

def backbone(t: KnowledgeTaskRecord) -> str:
    """No encoder axis: the scoring method (loglikelihood, or pseudo_loglikelihood for a masked LM) is the folder."""
    return str(t.variants.get("model", {}).get("scoring", "loglikelihood"))


def size(t: KnowledgeTaskRecord) -> tuple[int, str]:
    return t.config.get("statistics", {}).get("resamples", 0), "resamples"


def seeds(t: KnowledgeTaskRecord) -> list[int]:
    return [t.seed]


def run_key(res: KnowledgeResults) -> tuple:
    return tuple((key, t.items_fingerprint, t.seed, t.hash) for key, t in sorted(res.tasks.items()))


# -- the page and the model card -----------------------------------------------------------------------

def rank(entries: list[BoardEntry]) -> None:
    entries.sort(key=lambda e: (-e.result.main().mean, e.model))


def _ci(s: Any) -> str:
    return "–" if s is None else f"{100 * s.mean:.1f} <small>[{100 * s.ci[0]:.1f}, {100 * s.ci[1]:.1f}]</small>"


def _p(e: BoardEntry, test: str) -> str:
    t = e.result.tests.get(test, {}).get(e.result.main_metric)
    return "–" if t is None else f"{100 * t.mean_difference:+.1f} (p={t.p_value:.2g})"


def _row(i: int, e: BoardEntry) -> str:
    r = e.result
    m = r.main_metric
    other = "acc_norm" if m == "acc" else "acc"
    co, ri = r.scores.get("choice_only", {}).get(m), r.scores.get("random_init", {}).get(m)
    return (f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{cell(str(i), i)}'
            f'{cell(esc(e.model), e.model, "model")}{cell(_ci(r.main()), r.main().mean)}'
            f"{cell(_ci(r.scores['model'][other]), r.scores['model'][other].mean)}"
            f"{cell(_ci(co), co.mean if co else -1)}{cell(_ci(ri), ri.mean if ri else -1)}"
            f"{cell(f'{100 * r.chance:.1f}', r.chance)}{cell(esc(_p(e, 'vs_chance')), _p(e, 'vs_chance'))}"
            f"{cell(esc(_p(e, 'vs_choice_only')), _p(e, 'vs_choice_only'))}"
            f'{cell(f"""<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>""", e.rel)}</tr>')


def html_section(task: str, entries: list[BoardEntry]) -> str:
    t0, r0 = entries[0].task_data, entries[0].result
    m = r0.main_metric
    other = "acc_norm" if m == "acc" else "acc"
    rows = "".join(_row(i, e) for i, e in enumerate(entries, 1))
    return (f'<section class="task knowledge"><h2>{esc(task)} <small>knowledge v{esc(t0.version)} · '
            f'{esc(t0.config["dataset"]["name"])}: {len(t0.items)} questions · hash <code>{esc(t0.hash[:12])}</code></small></h2>'
            '<p class="legend">Multiple-choice questions, each choice scored by its log-likelihood given the question '
            f"(lm-evaluation-harness's acc and acc_norm). Main metric <b>{esc(m)}</b> in %, 95 % bootstrap interval over "
            "questions; choice-only: the same model without the question; random-init: its architecture untrained; "
            "Δ: the model minus chance or choice-only, paired by question (one-sided sign-flip p).</p>"
            f'<table class="board" id="table-{esc(task)}"><thead><tr><th>#</th><th>model</th><th>{esc(m)}</th>'
            f"<th>{esc(other)}</th><th>choice-only</th><th>random-init</th><th>chance</th><th>Δ vs chance</th>"
            f"<th>Δ vs choice-only</th><th>raw</th></tr></thead><tbody>{rows}</tbody></table></section>")


def markdown_section(task: str, entries: list[BoardEntry]) -> list[str]:
    m = entries[0].result.main_metric

    def md(s: Any) -> str:
        return "–" if s is None else f"{100 * s.mean:.1f} [{100 * s.ci[0]:.1f}, {100 * s.ci[1]:.1f}]"

    lines = [f"## {md_escape(task)} (knowledge)", "",
             f"| model | {m} | choice-only | random-init | chance | Δ vs chance | Δ vs choice-only | raw |",
             "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        r = e.result
        lines.append(f"| {md_escape(e.model)} | {md(r.main())} | {md(r.scores.get('choice_only', {}).get(m))} | "
                     f"{md(r.scores.get('random_init', {}).get(m))} | {100 * r.chance:.1f} | {md_escape(_p(e, 'vs_chance'))} | "
                     f"{md_escape(_p(e, 'vs_choice_only'))} | [JSON]({urllib.parse.quote(e.rel)}) |")
    return lines + [""]


def model_index_rows(res: KnowledgeResults, key: str) -> list[dict[str, Any]]:
    """The model's main metric first (the profile reads the first row as the task's main score), then the rest."""
    t, r = res.tasks[key], res.results[key]
    order = [("model", r.main_metric)] + [(v, m) for v in r.scores for m in r.scores[v] if (v, m) != ("model", r.main_metric)]
    return [{"task_pretty_name": f"{key} (grounding-eval knowledge v{t.version})", "task_id": TASK_TYPE,
             "metrics_pretty_name": f"{m} (%), {v}, over {r.scores[v][m].n} questions", "metrics_id": m,
             "metrics_value": round(100 * r.scores[v][m].mean, 2), "metrics_config": v,
             "dataset_pretty_name": t.config["dataset"]["name"], "dataset_id": t.config["dataset"]["name"],
             "dataset_revision": t.items_fingerprint} for v, m in order]
