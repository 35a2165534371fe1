"""`grounding-eval --model M --task T ...`: run an evaluation, print the results table and the headline lines."""

from __future__ import annotations

from argparse import Namespace
from typing import Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.cli.args import Parser, comma_list, key_values, positive_int
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import KINDS, TaskKind
from grounding_eval.parallel import is_main_process
from grounding_eval.results import Results, Stat, parse_results
from grounding_eval.runner import evaluate
from grounding_eval.tasks.manager import TaskManager
from grounding_eval.text.options import parse_model_args


def build_parser() -> Parser:
    p = Parser(prog="grounding-eval", description="Evaluate what a language model knows about the perceptual world.")
    p.add_argument("--model", required=True, help="Hugging Face id or local folder (KIND:NAME for other encoder kinds)")
    p.add_argument("--task", required=True, help="task name(s), comma-separated; see `grounding-eval tasks`")
    p.add_argument("--model-args", default=None, help="text model options k=v,... (layer, pooling, dtype, revision, ...)")
    p.add_argument("--audio-backbone", "--perception-encoder", default=None, help="perception encoder to use instead of the task's")
    p.add_argument("--backbone-args", default=None, help="perception encoder options k=v,...")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: GPU when there is one)")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--seed", type=int, default=None, help="base seed; run i uses seed + i (default: the task's)")
    p.add_argument("--num-runs", type=positive_int, default=None, help="number of class splits (default: the task's)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N instances per concept (quick runs)")
    p.add_argument("--controls", default=None, help="comma-separated controls (permuted_text, random_init, procrustes); default: the task's")
    p.add_argument("--output-path", default="results", help="folder (or .json file) for the results JSON; '' to skip")
    p.add_argument("--include-path", action="append", default=[], help="extra folder of task YAML files")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default: $GROUNDING_EVAL_CACHE or ~/.cache/grounding-eval)")
    p.add_argument("--no-cache", action="store_true", help="recompute every embedding")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plots", action="store_true", help="also write PNG figures next to the results JSON")
    # Generative tasks (kind: generative; docs/generative.md)
    p.add_argument("--allow-code-execution", action="store_true",
                   help="run model-written programs (generative tasks marked unsafe_code refuse without it)")
    p.add_argument("--generation-only", default=None, metavar="FILE.jsonl", help="generative: write the generations and stop")
    p.add_argument("--load-generations", default=None, metavar="FILE.jsonl", help="generative: score saved generations")
    p.add_argument("--n-samples", type=positive_int, default=None, help="generative: programs per prompt (default: the task's)")
    return p


def cmd(argv: Sequence[str], console: Console) -> int:
    """Parse the command line and hand it to the run function of the named tasks' kind (kinds.KINDS)."""
    args = build_parser().parse_args(argv)
    return kind_of(comma_list(args.task) or [], args.include_path).load("run")(args, console)


def kind_of(task_names: Sequence[str], include_paths: Sequence[str]) -> TaskKind:
    """The kind of the named tasks (all of them); mixing kinds in one call is refused."""
    manager = TaskManager(list(include_paths))
    kinds = {name: manager.get(name).kind for name in task_names}
    if len(set(kinds.values())) > 1:
        odd = next(n for n, k in kinds.items() if k != "probe")
        raise GroundingEvalError(f"task {odd} is a {kinds[odd]} task: run it on its own (--task {odd}), not beside probe tasks")
    return KINDS[next(iter(kinds.values()), "probe")]


def run_probe(args: Namespace, console: Console) -> int:
    """`grounding-eval --task PROBE_TASK ...`: evaluate, print the results table and the headline lines."""
    if args.generation_only or args.load_generations or args.n_samples:
        raise GroundingEvalError("--generation-only, --load-generations and --n-samples apply to generative tasks only")
    res = evaluate(
        args.model, args.task,
        audio_backbone=args.audio_backbone,
        backbone_args=key_values(args.backbone_args, "--backbone-args"),
        model_args=parse_model_args(args.model_args),
        device=args.device, batch_size=args.batch_size, seed=args.seed, num_runs=args.num_runs, limit=args.limit,
        controls=comma_list(args.controls), output_path=args.output_path or None, include_paths=args.include_path,
        cache_dir=args.cache_dir, use_cache=not args.no_cache, show_progress=not args.quiet, plots=args.plots,
    )
    if not is_main_process():  # under accelerate launch every process ran; one prints
        return 0
    typed = parse_results(res, "results (internal)")
    console.print(results_table(typed))
    for line in summary_lines(typed):
        console.print(line)
    if typed.output_file:
        console.print(f"results written to {typed.output_file} ({typed.wall_time_seconds:.1f} s)")
    for path in typed.plot_files or []:
        console.print(f"plot written to {path}")
    return 0


def fmt(stat: Stat | None) -> str:
    """A score in percent: `mean ± standard error` (just the mean for a single run), `-` when absent."""
    if stat is None:
        return "-"
    return f"{100 * stat.mean:.1f} ± {100 * stat.stderr:.1f}" if stat.stderr is not None else f"{100 * stat.mean:.1f}"


def results_table(res: Results) -> Table:
    """One row per task and metric: probe, each control and chance, in percent (mean ± standard error)."""
    controls = sorted({c for r in res.results.values() for c in r.controls})
    table = Table(title=f"grounding-eval · {res.model.name}", caption="% , mean ± standard error over runs")
    for col in ["task", "backbone", "metric", "probe", *controls, "chance"]:
        table.add_column(col, justify="right" if col not in ("task", "backbone", "metric") else "left")
    for task, r in res.results.items():
        backbone = res.tasks[task].perception_encoder.name
        for metric, stat in r.probe.items():
            star = " *" if metric == r.main_metric else ""
            table.add_row(task, backbone, metric + star, fmt(stat), *[fmt(r.controls.get(c, {}).get(metric)) for c in controls],
                          f"{100 * r.chance.get(metric, float('nan')):.1f}")
    return table


def summary_lines(res: Results) -> list[str]:
    """Per task: the main metric for the probe, controls and chance; its bootstrap CI; the paired tests."""
    lines = []
    for task, r in res.results.items():
        main, probe = r.main_metric, r.main()
        line = f"{task}: {main} probe {fmt(probe)}"
        for c, s in r.controls.items():
            line += f", {c} {fmt(s[main])}"
        lines.append(line + f", chance {100 * r.chance[main]:.1f} (%)")
        if probe.ci:
            line = f"  {round(100 * probe.ci_level)}% bootstrap CI ({r.bootstrap['unit']}): probe [{100 * probe.ci[0]:.1f}, {100 * probe.ci[1]:.1f}]"
            for c in r.controls:
                ci = r.main(c).ci if r.main(c) else None
                if ci:
                    line += f", {c} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
            lines.append(line)
        for c, tests in r.paired_tests.items():
            t = tests.get(main)
            if t:
                t_p = "n/a" if t.p_t_test is None else f"{t.p_t_test:.3g}"
                lines.append(f"  probe - {c}: {100 * t.mean_difference:+.1f} points over {t.n} paired runs, "
                             f"one-sided p = {t.p_sign_flip:.3g} (sign-flip), {t_p} (paired t)")
    return lines
