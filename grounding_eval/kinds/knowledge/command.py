"""`grounding-eval --model M --task KNOWLEDGE_TASK`: score the questions, print the table (accuracy, chance, the
choice-only baseline, the random-init control, the paired tests) and write the results file."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from rich.console import Console
from rich.table import Table

from grounding_eval import paths
from grounding_eval.cache import EmbeddingCache
from grounding_eval.cli.args import comma_list
from grounding_eval.devices import pick_device
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.knowledge.config import CONTROLS, KnowledgeTaskConfig
from grounding_eval.kinds.knowledge.results import KnowledgeResult, KnowledgeResults
from grounding_eval.kinds.knowledge.runner import prepare, score_task, timer
from grounding_eval.kinds.knowledge.scoring import make_scorer
from grounding_eval.results import (
    check_output_path,
    environment,
    now_iso,
    write_results,
)
from grounding_eval.tasks.manager import TaskManager
from grounding_eval.text.options import parse_model_args

# Flags of the shared parser that mean nothing for questions: refused in one line rather than ignored.
PROBE_ONLY = {"audio_backbone": "--audio-backbone", "backbone_args": "--backbone-args", "num_runs": "--num-runs",
              "generation_only": "--generation-only", "load_generations": "--load-generations", "n_samples": "--n-samples"}


def _refuse_other_flags(args: Namespace) -> None:
    for attr, flag in PROBE_ONLY.items():
        if getattr(args, attr, None):
            raise GroundingEvalError(f"{flag} does not apply to knowledge tasks (multiple-choice questions scored by "
                                     "log-likelihood); drop it")
    if args.plots:
        raise GroundingEvalError("--plots: knowledge tasks draw no figures (`grounding-eval profile --plots` does)")


def _configs(args: Namespace) -> list[KnowledgeTaskConfig]:
    manager = TaskManager(args.include_path)
    controls = comma_list(args.controls)
    if controls and not set(controls) <= set(CONTROLS):
        bad = next(c for c in controls if c not in CONTROLS)
        raise GroundingEvalError(f"--controls: {bad!r} is not a knowledge control; valid: {', '.join(CONTROLS)}")
    out = []
    for name in comma_list(args.task) or []:
        cfg = manager.get(name)
        changes: dict[str, Any] = {}
        if controls is not None:
            changes["controls"] = controls
        if args.seed is not None:
            changes["statistics.seed"] = args.seed
        if args.limit is not None:
            changes["limit"] = args.limit
        out.append(cfg.with_overrides(**changes) if changes else cfg)
    return out


def run(args: Namespace, console: Console) -> int:
    elapsed = timer()
    _refuse_other_flags(args)
    if args.output_path:
        check_output_path(args.output_path)
    model_args = parse_model_args(args.model_args)
    if args.batch_size:
        model_args.setdefault("batch_size", str(args.batch_size))
    configs = _configs(args)
    prepared = [prepare(cfg) for cfg in configs]  # a missing item source fails before the model loads
    device = pick_device(args.device)
    with console.status(f"loading {args.model}"):
        scorer = make_scorer(args.model, model_args, device)
    cache = EmbeddingCache(args.cache_dir or paths.embeddings_dir(), enabled=not args.no_cache)
    untrained_box: list[Any] = []

    def untrained():
        if not untrained_box:
            untrained_box.append(scorer.untrained_copy())
        return untrained_box[0]

    data: dict[str, Any] = {"schema_version": 1, "kind": "knowledge", "results": {}, "tasks": {},
                            "model": {"name": args.model, "kind": "knowledge", "identity": scorer.identity()}}
    for prep in prepared:
        with console.status(f"{prep.cfg.task}: scoring {len(prep.items.items)} questions"):
            control = None if scorer.resolved.weights_sha256.startswith("random-init") else untrained  # already untrained
            data["results"][prep.cfg.task], data["tasks"][prep.cfg.task] = score_task(prep, scorer, control, cache)
    data.update(environment=environment(device), date=now_iso(), wall_time_seconds=elapsed())
    res = KnowledgeResults.model_validate(data)
    console.print(results_table(res))
    for line in summary_lines(res):
        console.print(line)
    if args.output_path:
        console.print(f"results written to {write_results(data, args.output_path)} ({elapsed():.1f} s)")
    return 0


def ci(stat: Any) -> str:
    return f"{100 * stat.mean:.1f} [{100 * stat.ci[0]:.1f}, {100 * stat.ci[1]:.1f}]"


def p_cell(r: KnowledgeResult, test: str, metric: str) -> str:
    t = r.tests.get(test, {}).get(metric)
    return "-" if t is None else f"{t.p_value:.2g}"


def results_table(res: KnowledgeResults) -> Table:
    """One row per task and metric: the model, each control and chance (95 % intervals), and the paired tests."""
    table = Table(title=f"grounding-eval · {res.model.name} (knowledge)",
                  caption="%, mean [95 % bootstrap interval] over questions; p: one-sided sign-flip test of the model "
                          "against chance or a control, paired by question (differences below the table)")
    cols = ["task", "metric", "n", "model", "choice-only", "random-init", "chance", "p vs chance", "p vs choice-only",
            "p vs random-init"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for task, r in res.results.items():
        for metric in ("acc", "acc_norm"):
            star = " *" if metric == r.main_metric else ""
            cells = [ci(r.scores[v][metric]) if v in r.scores else "-" for v in ("model", "choice_only", "random_init")]
            table.add_row(task, metric + star, str(r.n_items), *cells, f"{100 * r.chance:.1f}",
                          *[p_cell(r, t, metric) for t in ("vs_chance", "vs_choice_only", "vs_random_init")])
    return table


def summary_lines(res: KnowledgeResults) -> list[str]:
    lines = []
    for task, r in res.results.items():
        m = r.main_metric
        line = f"{task}: {m} {ci(r.main())}"
        for v, word in (("choice_only", "choice-only"), ("random_init", "random-init")):
            if v in r.scores:
                line += f", {word} {ci(r.scores[v][m])}"
        lines.append(line + f", chance {100 * r.chance:.1f} (%)")
        for test, t in r.tests.items():
            tt = t[m]
            t_p = "n/a" if tt.p_t_test is None else f"{tt.p_t_test:.3g}"
            lines.append(f"  model - {test[3:].replace('_', '-')}: {100 * tt.mean_difference:+.1f} points over {tt.n} "
                         f"questions, one-sided p = {tt.p_sign_flip:.3g} (sign-flip), {t_p} (paired t)")
        if len(r.by_type) > 1:
            lines.append("  by question type: " + ", ".join(f"{k} {100 * v['acc']:.1f} (n={v['n']})" for k, v in r.by_type.items()))
    return lines
