"""Can a results file be trusted as a leaderboard entry? Every check raises a one-line GroundingEvalError
naming the file and the field.

What is checked, per task in the file (a generative results file: the same questions, see the
generative section below):
- the schema (`RESULTS_SCHEMA`), and that the task exists now with the same version;
- the task hash: the stored hash is the hash of the stored config (nobody edited one without the other),
  and that config is the task as it is now, up to the overrides the leaderboard accepts (ACCEPTED_OVERRIDES);
- provenance: model weights identity, backbone checkpoint identity, seeds that match the runs, versions
  of the harness and torch;
- numbers: every score in [0, 1]; the summary (mean, standard error, n) recomputed from the per-run scores
  (a changed score without its runs is refused); chance recomputed from the metric and the concept count.
"""

from __future__ import annotations

import json
import math
from typing import Any

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError
from grounding_eval.generative.outcomes import OK, count_outcomes  # outcomes loads scipy only when an interval is drawn
from grounding_eval.results import AnyResults, GenerativeResults, Stat, TaskResult, as_results
from grounding_eval.stats import mean_stderr
from grounding_eval.tasks.manager import TaskManager

# Task fields a submission may have changed from the task as shipped, and why that stays comparable:
# - perception_encoder: the backbone is a leaderboard axis (one table column, one folder level);
# - seed: another set of class splits of the same protocol (the seeds are in the entry and on the page);
# - num_runs: more runs only narrow the standard error; fewer than the task's are refused.
# Anything else (--limit, --controls, probe settings, prompts) measures something else and is refused.
ACCEPTED_OVERRIDES = ("perception_encoder", "seed", "num_runs")

# Keys of a model identity / backbone identity that pin the exact weights.
MODEL_WEIGHTS_KEYS = ("revision", "weights_sha256")
BACKBONE_WEIGHTS_KEYS = ("checkpoint_sha256", "weights_sha256", "checkpoint", "revision")
# A weight-free backbone (log-mel statistics, CIELAB coordinates) has no checkpoint: its identity is its parameters.
WEIGHT_FREE_BACKBONES = ("logmel", "cielab")  # cielab: the colour tasks' colour-space conversion
REQUIRED_PACKAGES = ("grounding-eval", "torch")
# Generative entries: the embedder is the backbone axis (as perception_encoder is for probes), another seed
# draws other samples of the same prompts, more samples per prompt only narrow the intervals (fewer are refused).
GENERATIVE_OVERRIDES = ("scoring.embedder", "generator.seed", "generator.n_samples")
# A generator without weights: the template baseline (a fixed program filled from the prompt's fields).
WEIGHT_FREE_GENERATORS = ("template",)

_ABS_TOL = 1e-9


def base_task(name: str) -> str:
    """The task of a results key: a layer sweep (`--model-args layer=all`) reports `<task>@layer<k>`."""
    return name.split("@", 1)[0]


def canonical_hash(config: dict[str, Any]) -> str:
    """The hash `TaskConfig.content_hash` gives for this config (same canonical JSON)."""
    import hashlib

    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted path of the first place two JSON values differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}{k}"
            d = first_difference(a[k], b[k], f"{where}{k}.")
            if d:
                return d
        return None
    return None if a == b else (where.rstrip(".") or "(value)")


def _stat_from_runs(values: list[float]) -> dict[str, Any]:
    return mean_stderr(values)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=_ABS_TOL)


def _variants(r: TaskResult) -> dict[str, dict[str, Stat]]:
    """variant -> metric -> summary: the probe, then every control."""
    return {"probe": r.probe, **r.controls}


def check_summary(res: AnyResults | dict[str, Any], task: str, source: str) -> None:
    """The summary's mean, standard error and n for every variant and metric, recomputed from the runs."""
    res = as_results(res, source)
    if isinstance(res, GenerativeResults):
        return check_generative_summary(res, task, source)
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
            want = _stat_from_runs(values)
            if stat.n != want["n"] or not _close(stat.mean, want["mean"]) or not _close(stat.stderr, want["stderr"]):
                raise GroundingEvalError(
                    f"{source}: field {field}: summary {stat.mean!r} ± {stat.stderr!r} (n={stat.n}) does not match "
                    f"its {len(runs)} runs ({want['mean']!r} ± {want['stderr']!r}); submit the file as the harness wrote it")
    # Every variant measured in the runs must be summarised (no run-level variant hidden from the page).
    for i, run in enumerate(runs):
        for variant in ["probe", *(run.model_extra or {})]:
            if variant not in summary:
                raise GroundingEvalError(f"{source}: field tasks.{task}.runs.{i}.{variant}: variant missing from results.{task}")


def check_ranges(res: AnyResults | dict[str, Any], task: str, source: str) -> None:
    """Scores are fractions: every mean, per-run score and chance in [0, 1], standard errors >= 0."""
    res = as_results(res, source)
    if isinstance(res, GenerativeResults):
        return check_generative_ranges(res, task, source)
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


def _chance(metrics: dict[str, Any], n: int) -> dict[str, float]:
    want: dict[str, float] = {}
    for metric, margs in metrics.items():
        want.update(plugins.registries().metrics.get(metric).extra["chance"](n, **(margs or {})))
    return want


def check_chance(res: AnyResults | dict[str, Any], task: str, source: str) -> None:
    """Chance recomputed from the task's metrics and the number of concepts (chance is drawn on the page)."""
    res = as_results(res, source)
    t, r = res.tasks[task], res.results[task]
    n = t.dataset.n_concepts
    if len(t.concepts) != n:
        raise GroundingEvalError(f"{source}: field tasks.{task}.concepts: {len(t.concepts)} names for n_concepts={n}")
    if isinstance(res, GenerativeResults):
        want = generative_chance(list(r.chance), n)
    else:
        want = _chance(t.config.get("metrics", {}), n)
    for metric, value in want.items():
        if metric not in r.chance or not _close(r.chance[metric], value):
            raise GroundingEvalError(f"{source}: field results.{task}.chance.{metric}: {r.chance.get(metric)!r}, but "
                                     f"{n} concepts give {value!r}")
    if r.main_metric != t.config.get("main_metric"):
        raise GroundingEvalError(f"{source}: field results.{task}.main_metric: {r.main_metric!r} "
                                 f"is not the task's main_metric {t.config.get('main_metric')!r}")


_MISSING = object()


def _dotted_get(config: dict[str, Any], key: str) -> Any:
    """config["a"]["b"] for key "a.b"; _MISSING when a part is absent."""
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return _MISSING
        config = config[part]
    return config


def check_task(res: AnyResults | dict[str, Any], task: str, source: str, include_paths: tuple[str, ...] = ()) -> None:
    """Version and hash against the task as it is now, up to ACCEPTED_OVERRIDES (generative: GENERATIVE_OVERRIDES)."""
    res = as_results(res, source)
    t = res.tasks[task]
    if canonical_hash(t.config) != t.hash:
        raise GroundingEvalError(f"{source}: field tasks.{task}.hash: {t.hash[:12]}… is not the hash of the stored "
                                 f"config ({canonical_hash(t.config)[:12]}…); the config or the hash was edited")
    current = TaskManager(list(include_paths)).get(base_task(task))
    if t.version != current.version:
        raise GroundingEvalError(f"{source}: field tasks.{task}.version: {t.version}, but the task is at version "
                                 f"{current.version} now; rerun with the current harness")
    sub = t.config
    accepted = GENERATIVE_OVERRIDES if isinstance(res, GenerativeResults) else ACCEPTED_OVERRIDES
    try:
        given = {k: _dotted_get(sub, k) for k in accepted}
        expected = current.with_overrides(**{k: v for k, v in given.items() if v is not _MISSING})
    except GroundingEvalError as exc:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config: {exc}") from None
    if expected.content_hash() != t.hash:
        where = first_difference(expected.to_dict(), sub) or "(unknown)"
        raise GroundingEvalError(
            f"{source}: field tasks.{task}.hash: the run's config differs from task {task} v{current.version} at "
            f"{where!r} (only {', '.join(accepted)} may differ); rerun without that override")
    if isinstance(res, GenerativeResults):
        if t.n_samples < current.generator.n_samples:
            raise GroundingEvalError(f"{source}: field tasks.{task}.config.generator.n_samples: {t.n_samples} samples per "
                                     f"prompt; the task asks for at least {current.generator.n_samples}")
    elif sub.get("num_runs", 0) < current.num_runs:
        raise GroundingEvalError(f"{source}: field tasks.{task}.config.num_runs: {sub.get('num_runs')} runs; the task "
                                 f"asks for at least {current.num_runs}")


def _weights_known(ident: dict[str, Any]) -> bool:
    return any(ident.get(k) for k in MODEL_WEIGHTS_KEYS)


def check_provenance(res: AnyResults | dict[str, Any], task: str, source: str) -> None:
    """The exact weights of both models, the seeds of the runs, and the versions that made the numbers."""
    res = as_results(res, source)
    if isinstance(res, GenerativeResults):
        return check_generative_provenance(res, task, source)
    ident = res.model.identity
    if not _weights_known(ident):
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
    _check_packages(res, source)


def _check_packages(res: AnyResults, source: str) -> None:
    missing = [p for p in REQUIRED_PACKAGES if not res.environment.packages.get(p)]
    if missing:
        raise GroundingEvalError(f"{source}: field environment.packages: no version for {', '.join(missing)}")


# -- generative results (kind: generative) -------------------------------------------------------------------
# The same questions as for a probe entry: is it the task as shipped (hash, version, GENERATIVE_OVERRIDES),
# are the weights and versions known, and do the headline numbers follow from what the file says happened
# to each program (its kind and its clip's rank): a changed rate or score without its clips is refused.

def generative_chance(metrics: list[str], n: int) -> dict[str, float]:
    """accuracy@K by chance is K / n; MRR by chance the mean of 1/rank over ranks 1..n."""
    want = {}
    for m in metrics:
        if m == "mrr":
            want[m] = sum(1.0 / r for r in range(1, n + 1)) / n
        elif m.startswith("accuracy@") and m[len("accuracy@"):].isdigit():
            want[m] = min(1.0, int(m[len("accuracy@"):]) / n)
    return want


def check_generative_provenance(res: GenerativeResults, task: str, source: str) -> None:
    """The generator's weights (or: a weight-free generator, or replayed generations of known weights), the
    embedder's checkpoint, the seed, and the versions."""
    t = res.tasks[task]
    gen = res.model.identity
    name = gen.get("generator")
    replayed = gen.get("source") if name == "replay" and isinstance(gen.get("source"), dict) else {}
    if name not in WEIGHT_FREE_GENERATORS and not _weights_known(gen) and not _weights_known(replayed):
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
    _check_packages(res, source)


def check_generative_summary(res: GenerativeResults, task: str, source: str) -> None:
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
        if (got.n, got.counts) != (want["n"], want["counts"]) or not _close(got.valid_rate, want["valid_rate"]) or \
                not all(_close(a, b) for a, b in zip(got.valid_rate_interval, want["valid_rate_interval"])):
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
            for metric in generative_chance(list(r.chance), 1):  # the per-clip scores: mrr, accuracy@K
                stat = scores.metric(metric)
                if stat is None and not pool:
                    continue
                from_clips = [_rank_score(metric, k) for k in pool]
                mean = sum(from_clips) / len(from_clips) if from_clips else None
                if stat is None or stat.n != len(pool) or not _close(stat.mean, mean):
                    raise GroundingEvalError(
                        f"{source}: field {field}.{scored_on}.{metric}: {getattr(stat, 'mean', None)!r} (n={getattr(stat, 'n', 0)}) "
                        f"does not match its {len(pool)} clips ({mean!r}); submit the file as the harness wrote it")


def _rank_score(metric: str, rank: int) -> float:
    return 1.0 / rank if metric == "mrr" else float(rank <= int(metric.split("@", 1)[1]))


def check_generative_ranges(res: GenerativeResults, task: str, source: str) -> None:
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


def check_results_for_leaderboard(res: AnyResults | dict[str, Any], source: str, include_paths: tuple[str, ...] = ()) -> None:
    """All checks for every task in a results file (already loaded); raises on the first problem."""
    res = as_results(res, source)
    if not res.results:
        raise GroundingEvalError(f"{source}: field results: no task in the file")
    for task in res.results:
        check_task(res, task, source, include_paths)
        check_provenance(res, task, source)
        check_ranges(res, task, source)
        check_summary(res, task, source)
        check_chance(res, task, source)
