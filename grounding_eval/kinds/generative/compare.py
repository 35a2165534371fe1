"""Two generative results files (kind: generative), compared clip by clip, paired by (prompt, sample): the
valid-audio rate, and the main metric (or `--metrics`: mrr, accuracy@K) with failures as silence and over the
clips valid in both (`compare`). The verdict, the setup checks and the table are the shared
`grounding_eval.compare`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from grounding_eval.compare import MetricDiff, Rule, Setup, setup_blocking
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative.outcomes import OK
from grounding_eval.kinds.generative.results import GenerativeResults
from grounding_eval.metrics import rank_score
from grounding_eval.validation import first_difference

# The unit is one generated clip, matched by its prompt id and sample index: both files asked the same
# prompts, so each prompt's difficulty cancels (paired t on per-clip differences, as for the probe's runs).
# Scores per clip: valid audio (0/1); the main metric from the clip's rank (accuracy@K: rank <= K; MRR:
# 1/rank), with failures as silence (every clip; a failure scores as the silent clip did), and over valid
# clips (the clips valid in BOTH files, so the two means are over the same prompts).
# Config keys that leave the scores of the system under test comparable: which controls ran, and the
# generator's settings (seed, samples, sampling: the systems' side, named as a note).
SAMPLING_KEYS = ("controls", "generator")
VALID_AUDIO = "valid audio"
CAPTION = ("% over clips paired by (prompt, sample), with the file's 95 % interval where it has one (valid "
           "audio: Wilson; scores: bootstrap over clips); Δ = new − baseline; test: paired t over clips")


def _scored_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a generative task config that decides how a clip is scored."""
    return {k: v for k, v in config.items() if k not in SAMPLING_KEYS}


def setup(res: GenerativeResults, task: str) -> Setup:
    t = res.tasks[task]
    return Setup(t.version, _scored_config(t.config), "embedder", (t.embedder.name, t.embedder.identity),
                 (t.dataset.name, t.dataset.fingerprint, t.concepts))


def setup_differences(old: GenerativeResults, new: GenerativeResults, task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): the shared setup checks, then the judge's text encoder and the prompts."""
    to, tn = old.tasks[task], new.tasks[task]
    blocking, notes = setup_blocking(task, setup(old, task), setup(new, task)), []
    if (to.judge_text_encoder.name, to.judge_text_encoder.identity) != (tn.judge_text_encoder.name, tn.judge_text_encoder.identity):
        dataset_last = bool(blocking) and blocking[-1].startswith(f"{task}: dataset ")
        blocking.insert(len(blocking) - dataset_last, f"{task}: judge text encoder {to.judge_text_encoder.name} (baseline) vs {tn.judge_text_encoder.name} (new)")
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
    score = rank_score(metric, rank)
    if score is None:
        raise GroundingEvalError(f"--metrics: {metric!r} is not a per-clip score; valid: mrr, accuracy@K")
    return score


def compare_task(old: GenerativeResults, new: GenerativeResults, task: str, metrics: Sequence[str] | None, rule: Rule,
                 blocking: list[str], notes: list[str]) -> list[MetricDiff]:
    """Valid-audio rate, and each score with failures as silence and over valid clips, paired by clip."""
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
    diffs = [rule.judge(task, VALID_AUDIO, valid_o, valid_n, True,
                        (so.outcomes.valid_rate_interval, sn.outcomes.valid_rate_interval))]
    both_valid = [k for k in keys if per_old[first][k][0] and per_new[first][k][0]]
    for m in scores:
        xo, xn = (np.array([per[m][k][1] for k in keys]) for per in (per_old, per_new))
        cis = tuple(getattr(s.failures_as_silence.metric(m), "ci", None) for s in (so, sn))
        diffs.append(rule.judge(task, f"{m} (failures as silence)", xo, xn, True, cis))
        if len(both_valid) >= 2:
            xo, xn = (np.array([per[m][k][1] for k in both_valid]) for per in (per_old, per_new))
            diffs.append(rule.judge(task, f"{m} (clips valid in both)", xo, xn, True))
        else:
            notes.append(f"{task}: {len(both_valid)} clip(s) valid in both files: {m} over valid clips not compared")
    return diffs
