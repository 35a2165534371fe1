"""The toy kind on the leaderboard: every name `grounding_eval/leaderboard/rules.py` asks of a kind."""

from __future__ import annotations

import urllib.parse
from typing import Any

import numpy as np

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.checks import check_packages, close, weights_known
from grounding_eval.leaderboard.page import BoardEntry, cell, esc, md_escape
from toy_kind.config import ToyTaskConfig
from toy_kind.results import Score, ToyRecord, ToyResults
from toy_kind.run import bootstrap_stderr, chance

# seed: another bootstrap draw of the same items; bootstrap_resamples: more only steadies the error.
OVERRIDES = ("seed", "bootstrap_resamples")


# -- checks ------------------------------------------------------------------------------------------

def check_size(res: ToyResults, task: str, current: ToyTaskConfig, source: str) -> None:
    have = res.tasks[task].config.get("bootstrap_resamples", 0)
    if have < current.bootstrap_resamples:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config.bootstrap_resamples: {have}; the task asks for "
                                 f"at least {current.bootstrap_resamples}")


def check_provenance(res: ToyResults, task: str, source: str) -> None:
    if not weights_known(res.model.identity):
        raise GroundingEvalError(f"{source}: field model.identity: no revision or weights_sha256")
    t = res.tasks[task]
    if t.seed != t.config.get("seed"):
        raise GroundingEvalError(f"{source}: field tasks.{task}.seed: {t.seed} is not the config's seed {t.config.get('seed')}")
    check_packages(res, source)


def check_ranges(res: ToyResults, task: str, source: str) -> None:
    r = res.results[task]
    values = {f"results.{task}.mean.mean": r.mean.mean, f"results.{task}.chance": r.chance,
              **{f"tasks.{task}.items.{i}": x for i, x in enumerate(res.tasks[task].items)}}
    for field, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise GroundingEvalError(f"{source}: field {field}: {value!r} is not in [0, 1]")


def check_summary(res: ToyResults, task: str, source: str) -> None:
    """The mean and its bootstrap error recomputed from the items, the seed and the resamples."""
    t, stat = res.tasks[task], res.results[task].mean
    want = Score(mean=float(np.mean(t.items)), stderr=bootstrap_stderr(t.items, t.seed, t.config["bootstrap_resamples"]),
                 n=len(t.items))
    if stat.n != want.n or not close(stat.mean, want.mean) or not close(stat.stderr, want.stderr):
        raise GroundingEvalError(f"{source}: field results.{task}.mean: {stat.mean!r} ± {stat.stderr!r} (n={stat.n}) "
                                 f"does not match its items ({want.mean!r} ± {want.stderr!r}, n={want.n})")


def check_chance(res: ToyResults, task: str, source: str) -> None:
    want = chance(ToyTaskConfig.model_validate(res.tasks[task].config))
    if not close(res.results[task].chance, want):
        raise GroundingEvalError(f"{source}: field results.{task}.chance: {res.results[task].chance!r}, but the items give {want!r}")


# -- filing ------------------------------------------------------------------------------------------

def backbone(t: ToyRecord) -> str:
    return "no-encoder"  # the toy kind has no encoder axis: one folder level, one column, for every entry


def size(t: ToyRecord) -> tuple[int, str]:
    return t.config["bootstrap_resamples"], "resamples"


def seeds(t: ToyRecord) -> list[int]:
    return [t.seed]


def run_key(res: ToyResults) -> tuple:
    return tuple((key, t.seed, tuple(t.items)) for key, t in sorted(res.tasks.items()))


# -- the page and the model card -----------------------------------------------------------------------

def rank(entries: list[BoardEntry]) -> None:
    entries.sort(key=lambda e: (-e.result.mean.mean, e.model))


def _score(s: Score) -> str:
    return f"{100 * s.mean:.1f} ± {100 * s.stderr:.1f}"


def html_section(task: str, entries: list[BoardEntry]) -> str:
    rows = "".join(
        f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{cell(str(i), i)}{cell(esc(e.model), e.model, "model")}'
        f"{cell(_score(e.result.mean), e.result.mean.mean)}{cell(f'{100 * e.result.chance:.1f}', e.result.chance)}"
        f'{cell(f"""<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>""", e.rel)}</tr>'
        for i, e in enumerate(entries, 1))
    return (f'<section class="task toy"><h2>{esc(task)} <small>toy kind · v{esc(entries[0].task_data.version)} · '
            f'{len(entries[0].task_data.items)} items</small></h2><table class="board" id="table-{esc(task)}"><thead><tr>'
            '<th>#</th><th>model</th><th>mean (%)</th><th>chance</th><th>raw</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


def markdown_section(task: str, entries: list[BoardEntry]) -> list[str]:
    lines = [f"## {md_escape(task)} (toy)", "", "| model | mean | chance | raw |", "|---|---|---|---|"]
    lines += [f"| {md_escape(e.model)} | {_score(e.result.mean)} | {100 * e.result.chance:.1f} | "
              f"[JSON]({urllib.parse.quote(e.rel)}) |" for e in entries]
    return lines + [""]


def model_index_rows(res: ToyResults, key: str) -> list[dict[str, Any]]:
    t, r = res.tasks[key], res.results[key]
    return [dict(task_pretty_name=f"{key} (grounding-eval v{t.version})", task_id="toy", metrics_id="mean",
                 metrics_pretty_name=f"mean (%) over {r.mean.n} items", metrics_value=round(100 * r.mean.mean, 2),
                 dataset_pretty_name=key, dataset_id=key)]
