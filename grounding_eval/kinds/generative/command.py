"""The generative kind from the command line and from Python: run, print the table, write the results.

`grounding-eval --model M --task T --allow-code-execution` routes here when T is a generative task;
`--model template` runs the no-LM baseline alone, `--generation-only FILE` writes the generations and
stops (no code runs), `--load-generations FILE` scores saved generations.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from rich.console import Console

from grounding_eval.atomic import atomic_write_json
from grounding_eval.data.clips import checks_in
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative import leaderboard
from grounding_eval.kinds.generative.report import (
    GENERATIVE_SCHEMA_VERSION,
    results_table,
    summary_lines,
    write_spectrograms,
)
from grounding_eval.kinds.generative.results import GenerativeResults, parse_generative_results
from grounding_eval.kinds.generative.runner import GenerativeRun, evaluate_generative
from grounding_eval.progress import Reporter
from grounding_eval.results import check_output_path, check_plots, environment, now_iso, results_path
from grounding_eval.tasks.manager import TaskManager


def evaluate(model: str, task: str, *, allow_code_execution: bool = False, generation_only: str | None = None,
             load_generations: str | None = None, output_path: str | None = None, include_paths: Sequence[str] = (),
             plots: bool = False, console: Console | None = None, show_progress: bool = True, **options: Any) -> dict[str, Any]:
    """Run one generative task; returns the results dict (written when `output_path`)."""
    t0 = time.perf_counter()
    check_plots(plots, output_path)
    if output_path and not generation_only:
        check_output_path(output_path)
    if generation_only and load_generations:
        raise GroundingEvalError("--generation-only and --load-generations exclude each other: generate here, score elsewhere")
    cfg = TaskManager(list(include_paths)).get(task)
    rep = Reporter(console or Console(stderr=True), show_progress)
    with checks_in(options.get("cache_dir")):  # the dataset checks' verdicts too go under --cache-dir
        run = evaluate_generative(model, task, cfg, allow_code_execution=allow_code_execution,
                                  generation_only=generation_only, load_generations=load_generations, rep=rep, **options)
    if not isinstance(run, GenerativeRun):  # --generation-only: {"generations_file": path}
        return run
    generator = run.record.generator
    # Built through the typed model (kinds.generative.results.GenerativeResults): one definition of the file.
    typed = parse_generative_results({
        "schema_version": GENERATIVE_SCHEMA_VERSION, "kind": "generative", "results": {task: run.result},
        "tasks": {task: run.record}, "model": {"name": model, "kind": generator["generator"], "identity": generator},
        "environment": environment(options.get("device") or "cpu"), "date": now_iso(),
        "wall_time_seconds": time.perf_counter() - t0}, "results (internal)")
    self_check(typed, task)
    out = typed.to_json()
    if output_path:
        path = results_path(output_path, model, out["date"])
        if plots:
            out["plot_files"] = [str(write_spectrograms(run.plot, path.with_name(path.stem + f"_{task}_spectrograms.png")))]
        out["output_file"] = str(path)
        atomic_write_json(path, out)
    return out


def self_check(res: GenerativeResults, task: str) -> None:
    """The leaderboard's checks of the numbers (ranges, chance, every summary and interval recomputed from the
    programs' outcomes and ranks) on the file about to be written: a summary that does not follow from its
    clips is a harness bug, and every run (every test that writes a generative file) fails on it first."""
    for check in (leaderboard.check_ranges, leaderboard.check_summary, leaderboard.check_units, leaderboard.check_chance):
        try:
            check(res, task, "results (internal)")
        except GroundingEvalError as exc:
            raise GroundingEvalError(f"{exc} (a harness bug: the run's own numbers do not follow from its clips; "
                                     "please report it)") from None


def validate(data: Any, source: str) -> None:
    """One line naming the first field that does not fit the generative results schema."""
    parse_generative_results(data, source)


def print_results(out: dict[str, Any], console: Console) -> None:
    """The table and the summary lines of each task, then where the files went."""
    typed = parse_generative_results(out, "results (internal)")
    for task, result in typed.results.items():
        console.print(results_table(task, result, typed.model.name))
        for line in summary_lines(result):
            console.print(line, highlight=False)
    if typed.output_file:
        console.print(f"results written to {typed.output_file}")
    for p in typed.plot_files or []:
        console.print(f"figure written to {p}")


def run(args: Any, console: Console) -> int:
    """`grounding-eval --task GENERATIVE_TASK ...`: one task per call; prints the table and where files went."""
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    if len(tasks) != 1:
        raise GroundingEvalError("--task: give one generative task per call")
    for flag in ("model_args", "audio_backbone", "backbone_args", "num_runs"):
        if getattr(args, flag, None):
            raise GroundingEvalError(f"--{flag.replace('_', '-')} does not apply to generative tasks; set generator.args or "
                                     f"scoring.embedder in a task file that includes this one")
    out = evaluate(args.model, tasks[0], allow_code_execution=args.allow_code_execution, generation_only=args.generation_only,
                   load_generations=args.load_generations, output_path=args.output_path or None,
                   include_paths=args.include_path, plots=args.plots, console=console, show_progress=not args.quiet,
                   device=args.device, batch_size=args.batch_size, seed=args.seed, n_samples=args.n_samples,
                   limit=args.limit, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                   controls=[c.strip() for c in args.controls.split(",") if c.strip()] if args.controls else None)
    if args.generation_only:
        console.print(f"generations written to {out['generations_file']}")
        return 0
    print_results(out, console)
    return 0
