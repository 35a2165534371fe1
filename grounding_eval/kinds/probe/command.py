"""`grounding-eval --model M --task PROBE_TASK ...`: run the probe kind's tasks, print the results table and
the headline lines (the command line itself is parsed by `cli/evaluate.py`, shared by every kind)."""

from __future__ import annotations

from argparse import Namespace

from rich.console import Console
from rich.table import Table

from grounding_eval.cli.args import comma_list, key_values
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.results import Results, Stat, parse_results
from grounding_eval.kinds.probe.runner import evaluate
from grounding_eval.parallel import is_main_process
from grounding_eval.text.options import parse_model_args

MAX_RUNS = 100  # --num-runs above this needs --allow-many-runs: a typo (100000) would run for hours


def run(args: Namespace, console: Console) -> int:
    """`grounding-eval --task PROBE_TASK ...`: evaluate, print the results table and the headline lines."""
    if args.generation_only or args.load_generations or args.n_samples:
        raise GroundingEvalError("--generation-only, --load-generations and --n-samples apply to generative tasks only")
    if args.num_runs and args.num_runs > MAX_RUNS and not args.allow_many_runs:
        raise GroundingEvalError(f"--num-runs {args.num_runs}: more than {MAX_RUNS} runs (the shipped tasks use 5 to 10; "
                                 "each run trains the probe anew, for hours at this count); give at most "
                                 f"{MAX_RUNS}, or add --allow-many-runs if you mean it")
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
