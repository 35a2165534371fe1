"""The generative kind on the leaderboard: which overrides an entry may carry, the checks of its headline
numbers against what the file says happened to each program, how it is filed and ranked, its table on the
page and in the README, and its model-card rows. The shared part of each is `grounding_eval.leaderboard`
(`rules.py` lists what this module provides).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative.config import GenerativeTaskConfig
from grounding_eval.kinds.generative.outcomes import (  # outcomes loads scipy only when an interval is drawn
    OK,
    count_outcomes,
)
from grounding_eval.kinds.generative.results import GenerativeResults, GenerativeTaskRecord, Interval
from grounding_eval.leaderboard.checks import (
    BACKBONE_WEIGHTS_KEYS,
    MODEL_WEIGHTS_KEYS,
    WEIGHT_FREE_BACKBONES,
    check_chance_levels,
    check_packages,
    close,
    weights_known,
)
from grounding_eval.leaderboard.page import BoardEntry, cell, esc, md_escape, pct_ci
from grounding_eval.metrics import rank_score, rank_score_chance
from grounding_eval.stats import mean_interval

# Generative entries: the embedder is the backbone axis (as perception_encoder is for probes), another seed
# draws other samples of the same prompts, more samples per prompt only narrow the intervals (fewer are refused).
OVERRIDES = ("scoring.embedder", "generator.seed", "generator.n_samples")
# A generator without weights: the template baseline (a fixed program filled from the prompt's fields).
WEIGHT_FREE_GENERATORS = ("template",)


# -- checks ------------------------------------------------------------------------------------------
# The same questions as for a probe entry: is it the task as shipped (hash, version, OVERRIDES),
# are the weights and versions known, and do the headline numbers follow from what the file says happened
# to each program (its kind and its clip's rank): a changed rate or score without its clips is refused.

def check_provenance(res: GenerativeResults, task: str, source: str) -> None:
    """The generator's weights (or: a weight-free generator, or replayed generations of known weights), the
    embedder's checkpoint, the seed, and the versions."""
    t = res.tasks[task]
    gen = res.model.identity
    name = gen.get("generator")
    replayed = gen.get("source") if name == "replay" and isinstance(gen.get("source"), dict) else {}
    if name not in WEIGHT_FREE_GENERATORS and not weights_known(gen) and not weights_known(replayed):
        raise GroundingEvalError(f"{source}: field model.identity: no {' or '.join(MODEL_WEIGHTS_KEYS)} for generator "
                                 f"{name!r}; the model's exact weights must be known (rerun with the current harness)")
    e = t.embedder
    if e.name not in WEIGHT_FREE_BACKBONES and not any(e.identity.get(k) for k in BACKBONE_WEIGHTS_KEYS):
        raise GroundingEvalError(f"{source}: field tasks.{task}.embedder.identity: no checkpoint identity "
                                 f"({', '.join(BACKBONE_WEIGHTS_KEYS)}) for embedder {e.name!r}")
    gcfg = t.config.get("generator") or {}
    if t.seed != gcfg.get("seed") or t.n_samples != gcfg.get("n_samples"):
        raise GroundingEvalError(f"{source}: field tasks.{task}.seed: seed {t.seed}, n_samples {t.n_samples} are not the "
                                 f"config's generator.seed={gcfg.get('seed')}, generator.n_samples={gcfg.get('n_samples')}")
    check_packages(res, source)


def check_summary(res: GenerativeResults, task: str, source: str) -> None:
    """Outcome counts, valid-audio rate and its interval, and every per-clip score recomputed from the executions."""
    r, t = res.results[task], res.tasks[task]
    n_expected = len(t.prompts) * t.n_samples
    for name, system in r.results.systems.items():
        field = f"results.{task}.results.systems.{name}"
        clips = t.executions.get(name)
        if clips is None or len(clips) != n_expected:
            raise GroundingEvalError(f"{source}: field tasks.{task}.executions.{name}: {len(clips or [])} programs for "
                                     f"{len(t.prompts)} prompts x {t.n_samples} samples; a summary must come with its clips")
        want = count_outcomes([c.kind for c in clips], float(t.config.get("scoring", {}).get("confidence", 0.95)))
        got = system.outcomes
        got_counts = {k: v for k, v in got.counts.items() if v}  # a kind newer than the file counts 0 there
        if (got.n, got_counts) != (want["n"], {k: v for k, v in want["counts"].items() if v}) or not close(got.valid_rate, want["valid_rate"]) or \
                not all(close(a, b) for a, b in zip(got.valid_rate_interval, want["valid_rate_interval"])):
            raise GroundingEvalError(f"{source}: field {field}.outcomes: valid rate {got.valid_rate!r} of {got.n} does not "
                                     f"match its {want['n']} programs ({want['valid_rate']!r}); submit the file as the harness wrote it")
        ranks = [c.rank for c in clips]
        if any(rank is None for rank in ranks):
            i = ranks.index(None)
            raise GroundingEvalError(f"{source}: field tasks.{task}.executions.{name}.{i}.rank: missing; rerun with the "
                                     "current harness (a re-score is cached)")
        valid = [c.rank for c in clips if c.kind == OK]
        for scored_on, pool in (("failures_as_silence", ranks), ("valid_only", valid)):
            scores = getattr(system, scored_on)
            for metric in rank_score_chance(list(r.chance), 1):  # the per-clip scores: mrr, accuracy@K
                stat = scores.metric(metric)
                if stat is None and not pool:
                    continue
                from_clips = [rank_score(metric, k) for k in pool]
                mean = sum(from_clips) / len(from_clips) if from_clips else None
                if stat is None or stat.n != len(pool) or not close(stat.mean, mean):
                    raise GroundingEvalError(
                        f"{source}: field {field}.{scored_on}.{metric}: {getattr(stat, 'mean', None)!r} (n={getattr(stat, 'n', 0)}) "
                        f"does not match its {len(pool)} clips ({mean!r}); submit the file as the harness wrote it")


def check_units(res: GenerativeResults, task: str, source: str) -> None:
    """What the leaderboard recomputes beyond the summary (after `check_summary`): the interval of every
    per-clip score of every system, from its clips' ranks (`check_clip_interval`)."""
    r, t = res.results[task], res.tasks[task]
    for name, system in r.results.systems.items():
        clips = t.executions[name]
        pools = (("failures_as_silence", [c.rank for c in clips]), ("valid_only", [c.rank for c in clips if c.kind == OK]))
        for scored_on, pool in pools:
            for metric in rank_score_chance(list(r.chance), 1):
                stat = getattr(system, scored_on).metric(metric)
                if stat is not None:
                    check_clip_interval(stat, [rank_score(metric, k) for k in pool], t,
                                        f"results.{task}.results.systems.{name}.{scored_on}.{metric}", source)


def check_clip_interval(stat: Interval, values: list[float], t: GenerativeTaskRecord, field: str, source: str) -> None:
    """A per-clip score's interval, where given, is the one its clips give (seed: generator.seed; resamples and
    confidence: the task's scoring section)."""
    if stat.ci is None or not values:
        return
    sc = t.config.get("scoring") or {}
    want = mean_interval(values, int(sc.get("bootstrap_resamples", 0)) or 1, float(sc.get("confidence", 0.95)), t.seed)["ci"]
    if not all(close(a, b) for a, b in zip(stat.ci, want)):
        raise GroundingEvalError(f"{source}: field {field}.ci: {stat.ci!r}, but its {len(values)} clips give {want!r} "
                                 f"(seed {t.seed}); submit the file as the harness wrote it")


def check_ranges(res: GenerativeResults, task: str, source: str) -> None:
    """Rates and text-audio scores are fractions in [0, 1], chance too."""
    r = res.results[task]
    fractions = [m for m in r.chance]
    sets = {f"controls.{k}": v for k, v in r.results.controls.items()}
    for name, s in r.results.systems.items():
        if not 0.0 <= s.outcomes.valid_rate <= 1.0:
            raise GroundingEvalError(f"{source}: field results.{task}.results.systems.{name}.outcomes.valid_rate: "
                                     f"{s.outcomes.valid_rate!r} is not in [0, 1]")
        sets.update({f"systems.{name}.{k}": getattr(s, k) for k in ("valid_only", "failures_as_silence", "shuffled_prompts")
                     if getattr(s, k) is not None})
    for where, scores in sets.items():
        for metric in fractions:
            stat = scores.metric(metric)
            if stat is not None and stat.mean is not None and not 0.0 <= stat.mean <= 1.0:
                raise GroundingEvalError(f"{source}: field results.{task}.results.{where}.{metric}: mean {stat.mean!r}; "
                                         "scores are fractions in [0, 1]")
    for metric, value in r.chance.items():
        if not 0.0 <= value <= 1.0:
            raise GroundingEvalError(f"{source}: field results.{task}.chance.{metric}: {value!r} is not in [0, 1]")


def check_size(res: GenerativeResults, task: str, current: GenerativeTaskConfig, source: str) -> None:
    """At least as many samples per prompt as the task asks for."""
    t = res.tasks[task]
    if t.n_samples < current.generator.n_samples:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config.generator.n_samples: {t.n_samples} samples per "
                                 f"prompt; the task asks for at least {current.generator.n_samples}")


def check_chance(res: GenerativeResults, task: str, source: str) -> None:
    """accuracy@K by chance is K / n; MRR by chance the mean of 1/rank over ranks 1..n."""
    check_chance_levels(res, task, source, rank_score_chance(list(res.results[task].chance), res.tasks[task].dataset.n_concepts))


# -- filing -------------------------------------------------------------------------------------------

def backbone(t: GenerativeTaskRecord) -> str:
    """The backbone axis of an entry: the embedder of the scores."""
    return t.embedder.name


def size(t: GenerativeTaskRecord) -> tuple[int, str]:
    """How much was measured, with the word for it."""
    return t.n_samples, "samples per prompt"


def seeds(t: GenerativeTaskRecord) -> list[int]:
    return [t.seed]


def run_key(res: GenerativeResults) -> tuple:
    """What was measured, program by program, and the scores."""
    return tuple((key, json.dumps(t.model_dump(include={"executions"}), sort_keys=True),
                  json.dumps(res.results[key].model_dump(), sort_keys=True)) for key, t in sorted(res.tasks.items()))


def rank(entries: list[BoardEntry]) -> None:
    """Ranked by the main metric with failures counted as silence."""
    entries.sort(key=lambda e: (-_mean(e.result.main()), e.model, e.backbone))


def _mean(stat: Any) -> float:
    return stat.mean if stat is not None and stat.mean is not None else -1.0


# -- the page: one table per task ---------------------------------------------------------------------------

GENERATIVE_CONTROLS = ("silence", "white_noise", "split_half")
# What the leaderboard cannot recompute from a generative file (it keeps each system program's rank, nothing per
# clip for the shuffled prompts and the controls, no embeddings): marked on the page, not shown as checked.
AS_SUBMITTED_MARK = "†"
AS_SUBMITTED_NOTE = (f"{AS_SUBMITTED_MARK} as submitted: the shuffled-prompts and control columns are not recomputed "
                     "(the file keeps no per-clip ranks for them); the outcomes, scores and intervals of every system are. "
                     "KAD and FAD are not shown: they are in the JSON as submitted (no per-concept KAD or embeddings "
                     "are stored to recompute them from).")


def columns(entries: list[BoardEntry]) -> tuple[str, list[str]]:
    """The main metric, and the controls any entry ran (shuffled prompts first: it is per system)."""
    main = entries[0].result.main_metric
    ran = {c for e in entries for c in e.result.results.controls}
    shuffled = any(s.shuffled_prompts for e in entries for s in e.result.results.systems.values())
    return main, (["shuffled prompts"] if shuffled else []) + [c for c in GENERATIVE_CONTROLS if c in ran]


def row_scores(e: BoardEntry, main: str, controls: list[str]) -> list[tuple[Interval | None, str]]:
    """(score, how it reads) per column after the revision: the system, the template baseline beside it, the controls."""
    r = e.result
    system = r.results.systems[r.main_system]
    template = r.results.systems.get("template")
    out = [(r.main(), "main"), (r.main(scored_on="valid_only"), "valid"),
           (template.failures_as_silence.metric(main) if template else None, "template")]
    for c in controls:
        scores = system.shuffled_prompts if c == "shuffled prompts" else r.results.controls.get(c)
        out.append((scores.metric(main) if scores else None, c))
    return out


def valid_rate(e: BoardEntry) -> str:
    o = e.result.results.systems[e.result.main_system].outcomes
    lo, hi = o.valid_rate_interval
    return f"{100 * o.valid_rate:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def task_table(task: str, entries: list[BoardEntry]) -> str:
    """Main metric with failures as silence (the ranking) and over valid clips, valid-audio rate, the template
    baseline and the controls beside, chance; percentages with 95 % intervals (bootstrap over clips; Wilson)."""
    main, controls = columns(entries)
    # Narrow columns (the metric is named once, above the table; intervals on a second line; the family only as
    # the row's filter attribute): fits 1280 px.
    head = ["#", "model", "revision", "embedder", "failures as silence", "valid clips", "valid audio %",
            "template baseline", *[f'{c.replace("_", " ")} {AS_SUBMITTED_MARK}' for c in controls], "chance", "prompts × samples · seed",
            "date · hardware", "raw"]
    out = [f'<table class="board generative" id="table-{esc(task)}"><thead><tr>']
    for i, h in enumerate(head):
        kind = "text" if h in ("model", "revision", "embedder", "date · hardware", "raw") else "num"
        out.append(f'<th data-col="{i}" data-kind="{kind}" tabindex="0" title="click to sort">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for rank, e in enumerate(entries, 1):
        r, t = e.result, e.task_data
        o = r.results.systems[r.main_system].outcomes
        cells = [cell(str(rank), rank), cell(esc(e.model), e.model, "model"),
                 cell(f"<code>{esc(e.revision)}</code>", e.revision, "wrap"), cell(esc(e.backbone), e.backbone)]
        for i, (stat, _) in enumerate(row_scores(e, main, controls)):
            text = two_lines(pct_ci(stat))
            cells.append(cell(f"<b>{text}</b>" if i == 0 else text, _mean(stat)))
            if i == 1:
                cells.append(cell(two_lines(valid_rate(e)), o.valid_rate))
        mark = f'<br><small class="unboxed">{esc(unboxed(t))}</small>' if unboxed(t) else ""
        cells += [cell(f"{100 * r.chance.get(main, float('nan')):.1f}", r.chance.get(main, -1)),
                  cell(f"{len(t.prompts)} × {t.n_samples}<br><small>seed {esc(t.seed)}</small>", len(t.prompts) * t.n_samples),
                  cell(f'{esc(e.data.date[:10])}<br><small>{esc(e.hardware)}</small>{mark}', e.data.date, "when"),
                  cell(f'<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>', e.rel)]
        out.append(f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def unboxed(t: GenerativeTaskRecord) -> str:
    """`programs ran guard-only: no sandbox` when the programs ran without bubblewrap (`sandbox: guard-only`,
    named by the user; older files say `none`), else "": the audit hook alone is not a boundary (numpy's
    ctypes passes it), and a reader of the row should know."""
    sandbox = t.protections.get("sandbox")
    return "" if sandbox in (None, "bubblewrap") else f"programs ran {sandbox}: no sandbox"


def two_lines(text: str) -> str:
    """`12.0 [6.0, 19.0]` as the score over its interval (keeps the columns narrow)."""
    mean, _, ci = text.partition(" ")
    return f"{mean}<br><small>{ci}</small>" if ci else mean


def html_section(task: str, entries: list[BoardEntry]) -> str:
    t0 = entries[0].task_data
    main = entries[0].result.main_metric
    return (f'<section class="task generative"><h2>{esc(task)} <small>generative v{esc(t0.version)} · {esc(t0.dataset.name)}: '
            f'{esc(t0.dataset.n_concepts)} concepts, {esc(t0.dataset.n_references)} references · '
            f'hash <code>{esc(t0.hash[:12])}</code></small></h2>'
            '<p class="legend">The model writes a program per prompt; its clip is ranked among all concepts by the '
            f"harness's judge. Scores are <b>{esc(main)}</b> in %, with every failed program counted as a silent clip "
            "(the ranking) and over valid clips only; the template baseline, shuffled prompts and the controls beside. "
            "95 % intervals below each number (bootstrap over clips; valid audio: Wilson). Click a column header to sort. "
            f"{esc(AS_SUBMITTED_NOTE)}</p>"
            f"{task_table(task, entries)}</section>")


def markdown_section(task: str, entries: list[BoardEntry]) -> list[str]:
    main, controls = columns(entries)
    lines = [f"## {md_escape(task)} (generative)", "",
             f"| model | revision | embedder | {md_escape(main)} failures as silence | {md_escape(main)} valid clips | "
             f"valid audio | template baseline | " + "".join(f"{md_escape(c)} {AS_SUBMITTED_MARK} | " for c in controls)
             + "chance | raw |",
             "|" + "---|" * (9 + len(controls))]
    for e in entries:
        cells = [pct_ci(stat) for stat, _ in row_scores(e, main, controls)]
        cells.insert(2, valid_rate(e))
        model = e.model + (f" ({unboxed(e.task_data)})" if unboxed(e.task_data) else "")
        lines.append(f"| {md_escape(model)} | {md_escape(e.revision)} | {md_escape(e.backbone)} | " + " | ".join(cells)
                     + f" | {100 * e.result.chance.get(main, float('nan')):.1f} | [JSON]({urllib.parse.quote(e.rel)}) |")
    return lines + ["", md_escape(AS_SUBMITTED_NOTE), ""]




# -- the model card -------------------------------------------------------------------------------------

TASK_TYPE = "text-generation"  # the model writes the program that makes the sound


def model_index_rows(res: GenerativeResults, key: str) -> list[dict[str, Any]]:
    """huggingface_hub.metadata_eval_result's arguments (but the model's name): the system's scores with failures
    as silence and over valid clips (with the valid-audio rate), and each control's, per clip-level metric."""
    t, r = res.tasks[key], res.results[key]
    main = r.results.systems[r.main_system]
    sets = {"failures as silence": main.failures_as_silence, "valid clips": main.valid_only,
            **{f"{c} control": v for c, v in r.results.controls.items()}}
    variants = {name: {m: stat for m in r.chance if (stat := scores.metric(m)) is not None and stat.mean is not None}
                for name, scores in sets.items()}
    rate = main.outcomes
    variants["valid clips"]["valid_audio_rate"] = Interval(mean=rate.valid_rate, ci=rate.valid_rate_interval, n=rate.n)
    out = []
    for variant, metrics in variants.items():
        for metric, stat in metrics.items():
            out.append(dict(task_pretty_name=f"{key} (grounding-eval generative v{t.version})", task_id=TASK_TYPE,
                            metrics_pretty_name=f"{metric} (%), {variant}, over {stat.n} clips", metrics_id=metric,
                            metrics_value=round(100 * stat.mean, 2), metrics_config=variant,
                            dataset_pretty_name=t.dataset.name, dataset_id=t.dataset.name, dataset_config=t.embedder.name,
                            dataset_split=f"{t.dataset.n_references} references", dataset_revision=t.dataset.fingerprint))
    return out
