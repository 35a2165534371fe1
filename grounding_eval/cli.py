"""The `grounding-eval` command: parse, call the library, print. No evaluation logic lives here.

    grounding-eval --model NAME_OR_PATH --task NAME[,NAME] [--audio-backbone NAME] ...
    grounding-eval SUBCOMMAND ...   (see SUBCOMMANDS)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.errors import GroundingEvalError
from grounding_eval.results import Results, Stat, parse_results

# Subcommand -> "module:function" taking (argv, console) and returning an exit code. Imported lazily so
# that `grounding-eval tasks` does not pay for torch.
SUBCOMMANDS = {
    "tasks": "grounding_eval.cli:_cmd_tasks",
    "plugins": "grounding_eval.cli:_cmd_plugins",
    "datasets": "grounding_eval.data.listing:cmd_datasets",
    "validate": "grounding_eval.cli:_cmd_validate",
    "cache": "grounding_eval.cache_cli:main",
    "check-backbone": "grounding_eval.check_backbone:cmd",
    "leaderboard": "grounding_eval.leaderboard.cli:cmd_leaderboard",
    "compare": "grounding_eval.compare:cmd_compare",
    "grid": "grounding_eval.grid:cmd_grid",
}


def _kv(text: str | None, flag: str) -> dict[str, Any]:
    """`k=v,k=v` into a dict, values parsed as YAML scalars (numbers, booleans) where they look like one."""
    import yaml

    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise GroundingEvalError(f"{flag}: {item!r} is not key=value")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v.strip())
        except yaml.YAMLError:
            out[k.strip()] = v.strip()
    return out


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, like every other bad input
        raise GroundingEvalError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="grounding-eval", description="Evaluate what a language model knows about the perceptual world.")
    p.add_argument("--model", required=True, help="Hugging Face id or local folder (KIND:NAME for other encoder kinds)")
    p.add_argument("--task", required=True, help="task name(s), comma-separated; see `grounding-eval tasks`")
    p.add_argument("--model-args", default=None, help="text model options k=v,... (layer, pooling, dtype, revision, ...)")
    p.add_argument("--audio-backbone", "--perception-encoder", default=None, help="perception encoder to use instead of the task's")
    p.add_argument("--backbone-args", default=None, help="perception encoder options k=v,...")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: GPU when there is one)")
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument("--seed", type=int, default=None, help="base seed; run i uses seed + i (default: the task's)")
    p.add_argument("--num-runs", type=_positive_int, default=None, help="number of class splits (default: the task's)")
    p.add_argument("--limit", type=_positive_int, default=None, help="at most N instances per concept (quick runs)")
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
    p.add_argument("--n-samples", type=_positive_int, default=None, help="generative: programs per prompt (default: the task's)")
    return p


def _fmt(stat: Stat | None) -> str:
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
            table.add_row(task, backbone, metric + star, _fmt(stat), *[_fmt(r.controls.get(c, {}).get(metric)) for c in controls],
                          f"{100 * r.chance.get(metric, float('nan')):.1f}")
    return table


def summary_lines(res: Results) -> list[str]:
    """Per task: the main metric for the probe, controls and chance; its bootstrap CI; the paired tests."""
    lines = []
    for task, r in res.results.items():
        main, probe = r.main_metric, r.main()
        line = f"{task}: {main} probe {_fmt(probe)}"
        for c, s in r.controls.items():
            line += f", {c} {_fmt(s[main])}"
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


def _cmd_tasks(argv: Sequence[str], console: Console) -> int:
    from grounding_eval.tasks.manager import TaskManager

    p = _Parser(prog="grounding-eval tasks")
    p.add_argument("--include-path", action="append", default=[])
    args = p.parse_args(argv)
    table = Table(title="tasks")
    rows = TaskManager(args.include_path).describe()
    for key in (rows[0].keys() if rows else ["name"]):
        table.add_column(key)
    for row in rows:
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    return 0


def _cmd_plugins(argv: Sequence[str], console: Console) -> int:
    from grounding_eval import plugins

    _Parser(prog="grounding-eval plugins").parse_args(argv)
    table = Table(title="plugins")
    for col in ("name", "distribution", "version", "hooks"):
        table.add_column(col)
    for row in plugins.plugin_table():
        table.add_row(row["name"], row["distribution"], row["version"], row["hooks"])
    console.print(table)
    regs = plugins.registries()
    comp = Table(title="what they register")
    for col in ("kind", "name", "plugin", "description"):
        comp.add_column(col)
    for kind, reg in (("text encoder", regs.text_encoders), ("perception encoder", regs.perception_encoders),
                      ("dataset", regs.datasets), ("metric", regs.metrics)):
        for e in reg.entries():
            comp.add_row(kind, e.name, e.plugin, e.description)
    console.print(comp)
    return 0


def _cmd_datasets(argv: Sequence[str], console: Console) -> int:
    from grounding_eval import plugins

    _Parser(prog="grounding-eval datasets").parse_args(argv)
    table = Table(title="datasets")
    for col in ("name", "plugin", "description"):
        table.add_column(col)
    for e in plugins.registries().datasets.entries():
        table.add_row(e.name, e.plugin, e.description)
    console.print(table)
    return 0


def _cmd_validate(argv: Sequence[str], console: Console) -> int:
    from grounding_eval.results import load_results

    p = _Parser(prog="grounding-eval validate")
    p.add_argument("results", nargs="+")
    for path in p.parse_args(argv).results:
        load_results(path)
        console.print(f"{path}: valid (schema version {json.loads(open(path).read())['schema_version']})")
    return 0


def run(argv: Sequence[str], console: Console | None = None) -> int:
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        module, func = SUBCOMMANDS[argv[0]].split(":")
        return getattr(importlib.import_module(module), func)(argv[1:], console)
    args = build_parser().parse_args(argv)
    from grounding_eval.generative import command

    if command.is_generative([t.strip() for t in args.task.split(",") if t.strip()], args.include_path):
        return command.run_cli(args, console)
    if args.generation_only or args.load_generations or args.n_samples:
        raise GroundingEvalError("--generation-only, --load-generations and --n-samples apply to generative tasks only")
    from grounding_eval.runner import evaluate
    from grounding_eval.text.hf import parse_model_args

    res = evaluate(
        args.model, args.task,
        audio_backbone=args.audio_backbone,
        backbone_args=_kv(args.backbone_args, "--backbone-args"),
        model_args=parse_model_args(args.model_args),
        device=args.device, batch_size=args.batch_size, seed=args.seed, num_runs=args.num_runs, limit=args.limit,
        controls=[c.strip() for c in args.controls.split(",") if c.strip()] if args.controls else None,
        output_path=args.output_path or None, include_paths=args.include_path, cache_dir=args.cache_dir,
        use_cache=not args.no_cache, show_progress=not args.quiet, plots=args.plots,
    )
    typed = parse_results(res, "results (internal)")
    console.print(results_table(typed))
    for line in summary_lines(typed):
        console.print(line)
    if typed.output_file:
        console.print(f"results written to {typed.output_file} ({typed.wall_time_seconds:.1f} s)")
    for path in typed.plot_files or []:
        console.print(f"plot written to {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = run(argv)
    except GroundingEvalError as exc:
        print(f"grounding-eval: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("grounding-eval: interrupted; finished embeddings are cached and a rerun resumes", file=sys.stderr)
        code = 130
    sys.exit(code)
