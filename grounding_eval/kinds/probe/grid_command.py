"""`grounding-eval grid paper|FILE.yaml`: run a grid of models x tasks x audio backbones, here or on SLURM, and
table it; `grounding-eval grid status FILE` shows each cell's state (see grounding_eval.kinds.probe.grid and
.cluster)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from grounding_eval.atomic import atomic_write_json, atomic_write_text
from grounding_eval.cli.args import Parser, non_negative_int, positive_int
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe import cluster
from grounding_eval.kinds.probe.cluster import CellSpec, JobSpec, RunSpec
from grounding_eval.kinds.probe.grid import (
    BUILTIN_GRIDS,
    Grid,
    Slurm,
    cell_summary,
    grid_rows,
    load_grid,
    markdown,
    pick,
)
from grounding_eval.leaderboard.submit import submit
from grounding_eval.results import now_iso
from grounding_eval.validation import expected, got

# Environment a job needs to see what this command sees (SLURM exports the environment too; a local
# process pool inherits it; submitit's pickled RunSpec carries it for clusters that do not export).
ENV_PREFIXES = ("GROUNDING_EVAL_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")


def _parser(status: bool = False) -> Parser:
    prog = "grounding-eval grid status" if status else "grounding-eval grid"
    p = Parser(prog=prog, description="each cell's state" if status else
               "run a grid of models x tasks x audio backbones (here or on SLURM) and table it")
    p.add_argument("grid", help=f"a built-in grid ({', '.join(BUILTIN_GRIDS)}) or a grid YAML file")
    p.add_argument("--models", default=None, help="comma-separated labels (or model names) to run; default all")
    p.add_argument("--backbones", default=None, help="comma-separated labels (or backbone names); default all")
    p.add_argument("--task", default=None, help="run these tasks (comma-separated) instead of the grid's")
    p.add_argument("--output-path", default="results/grid", help="folder for the cells' results and the table")
    p.add_argument("--include-path", action="append", default=[])
    p.add_argument("--num-runs", type=positive_int, default=None)
    p.add_argument("--limit", type=positive_int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--cache-dir", default=None, help="the embedding cache every job shares (a shared filesystem on a cluster)")
    if status:
        return p
    p.add_argument("--executor", choices=cluster.EXECUTORS, default="local",
                   help="local: on this machine; slurm: one SLURM job per model load, through submitit")
    p.add_argument("--parallel", type=positive_int, default=None,
                   help="jobs at once (local: default 1, in this process; slurm: the job array's cap)")
    p.add_argument("--retries", type=non_negative_int, default=0,
                   help="run a failed or interrupted cell again up to N times (also one that failed in an earlier run)")
    p.add_argument("--no-wait", action="store_true", help="slurm: submit and return; `grid status` and a rerun collect")
    for flag, helptext in (("--partition", "SLURM partition"), ("--time", "minutes per job"), ("--gpus", "GPUs per job"),
                           ("--cpus", "CPUs per job"), ("--mem-gb", "memory per job, GB"), ("--account", "SLURM account"),
                           ("--constraint", "node features")):
        p.add_argument(flag, default=None, help=helptext + " (overrides the grid file's slurm:)")
    p.add_argument("--sbatch", action="append", default=[], help="an extra sbatch line, e.g. --sbatch=--qos=high (repeatable)")
    p.add_argument("--setup", action="append", default=[], help="a shell line run before each job (repeatable)")
    p.add_argument("--submit", action="store_true", help="file every finished cell to the leaderboard (same checks as `leaderboard submit`)")
    p.add_argument("--leaderboard", default="leaderboard", help="the leaderboard folder for --submit")
    p.add_argument("--dry-run", action="store_true", help="print the jobs (one per model load), their resources and cells; run nothing")
    return p


NUMBER_WORDS = {"time": "a whole number of minutes >= 1", "gpus": "a whole number >= 0", "cpus": "a whole number >= 1",
                "mem_gb": "a number of GB > 0"}


def _resources(grid: Grid, args: Any) -> Slurm:
    """The grid file's slurm: with the command-line options applied (checked like the file's fields)."""
    update: dict[str, Any] = {}
    for name in ("partition", "account", "constraint"):
        if getattr(args, name) is not None:
            update[name] = getattr(args, name)
    for name, conv in (("time", int), ("gpus", int), ("cpus", int), ("mem_gb", float)):
        raw = getattr(args, name)
        if raw is None:
            continue
        try:
            update[name] = conv(raw)
        except ValueError:
            flag = "--" + name.replace("_", "-")
            raise GroundingEvalError(f"{flag}: {raw!r} is not a number; give {NUMBER_WORDS[name]}") from None
    if args.sbatch:
        update["sbatch"] = [*grid.slurm.sbatch, *args.sbatch]
    if args.setup:
        update["setup"] = [*grid.slurm.setup, *args.setup]
    if args.parallel and args.executor == "slurm":
        update["parallel"] = args.parallel
    try:
        res = Slurm.model_validate({**grid.slurm.model_dump(), **update})
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise GroundingEvalError(f"{flag}: must be {expected(Slurm, err)}, got {got(err['input'])}") from None
    cluster.sbatch_parameters(grid.slurm.sbatch, f"{args.grid}: field slurm.sbatch")
    cluster.sbatch_parameters(args.sbatch, "--sbatch")
    return res


def _setup(args: Any) -> tuple[Grid, list[JobSpec], RunSpec]:
    grid = load_grid(args.grid)
    tasks = [t.strip() for t in args.task.split(",") if t.strip()] if args.task else grid.task_list
    if args.task:
        grid = grid.model_copy(update={"task": tasks[0], "tasks": tasks})
    models = pick(grid.models, args.models, "models")
    backbones = pick(grid.backbone_labels, args.backbones, "backbones")  # type: ignore[arg-type]
    jobs = cluster.plan_jobs(models, dict(grid.model_args), tasks, backbones)
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    run = RunSpec(output_dir=str(Path(args.output_path).resolve()),
                  include_paths=tuple(str(Path(p).resolve()) for p in args.include_path), num_runs=args.num_runs,
                  limit=args.limit, seed=args.seed, device=args.device, batch_size=args.batch_size,
                  cache_dir=str(Path(args.cache_dir).resolve()) if args.cache_dir else None, env=env)
    return grid, jobs, run


def cmd(argv: Sequence[str], console: Console) -> int:
    """grounding-eval grid paper|FILE.yaml [--executor local|slurm] [...]; grounding-eval grid status FILE [...]"""
    if argv and argv[0] == "status":
        return status_cmd(argv[1:], console)
    args = _parser().parse_args(argv)
    grid, jobs, run = _setup(args)
    resources = _resources(grid, args)
    parallel = args.parallel or 1
    if args.dry_run:
        console.print(cluster.dry_run_jobs(jobs, args.executor, resources, parallel))
        summary = {"grid": grid.name, "source": grid.source, "task": grid.task, "metric": grid.metric,
                   "cells": [{"model_label": c.model_label, "task": c.task, "backbone_label": c.backbone_label,
                              "error": "not run (--dry-run)", **_published(grid, c)} for j in jobs for c in j.cells]}
        _print_table(console, grid, summary)
        return 0
    cells = [c for j in jobs for c in j.cells]
    atomic_write_json(run.out / cluster.GRID_FOLDER / "run.json", {"grid": args.grid, "argv": list(argv),
                                                                  "run": cluster.as_dict(run) | {"env": {}}})
    hashes = cluster.task_hashes(cells, run)
    folder = run.out / cluster.GRID_FOLDER / "slurm"
    budget = {c.id: args.retries for c in cells}
    counts = {"computed": 0, "skipped": 0, "failed": 0}
    t0 = time.perf_counter()
    for round_ in range(args.retries + 1):
        states = {s.cell.id: s for s in cluster.cell_states(cells, run, hashes, lambda j: cluster.scheduler_state(j, folder))}
        todo = []
        for c in cells:
            s = states[c.id]
            if s.state in ("pending", "interrupted") and (round_ == 0 or budget[c.id] > 0):
                if round_ > 0:
                    budget[c.id] -= 1
                todo.append(c)
            elif s.state == "failed" and not isinstance(hashes[c.id], BaseException) and budget[c.id] > 0:
                budget[c.id] -= 1
                todo.append(c)
        in_flight = [s for s in states.values() if s.state in ("running", "queued")]
        if not todo and not in_flight:
            break
        subset = [JobSpec(j.model_label, j.model, j.model_args, tuple(c for c in j.cells if c in todo)) for j in jobs]
        subset = [j for j in subset if j.cells]
        if args.executor == "local":
            _run_local(subset, run, parallel, console, counts)
        else:
            subs = cluster.submit_slurm(subset, run, resources, f"grid-{cluster.slug(grid.name)}") if subset else []
            _announce(subs, console)
            if args.no_wait:
                console.print(cluster.status_table(cluster.cell_states(
                    cells, run, hashes, lambda j: cluster.scheduler_state(j, folder)), f"grid {grid.name}: {run.out}"))
                console.print("not waiting (--no-wait): `grounding-eval grid status` shows the cells; "
                              "rerun the same command to collect")
                return 0
            _wait_slurm(subs, [s.job_id for s in in_flight], cells, run, hashes, folder, console)
    final = cluster.cell_states(cells, run, hashes, lambda j: cluster.scheduler_state(j, folder))
    summary = {"grid": grid.name, "source": grid.source, "task": grid.task, "metric": grid.metric,
               "tasks": [*dict.fromkeys(c.task for c in cells)], "chance_percent": grid.chance,
               "executor": args.executor, "cells": []}
    for s in final:
        summary["cells"].append(cell_summary(grid, s.cell, cluster.cell_dir(run, s.cell) / "results.json"
                                             if s.state == "done" else None, _reason(s), _published(grid, s.cell)))
    summary["date"] = now_iso()
    _print_table(console, grid, summary)
    for s in final:
        if s.state != "done":
            console.print(f"[red]{s.state}[/]: {s.cell.model_label} x {s.cell.task} x {s.cell.backbone_label}: {_reason(s)}")
    done = [s for s in final if s.state == "done"]
    stamp = summary["date"].replace(":", "-").replace("+00-00", "Z")
    atomic_write_text(run.out / f"grid_{stamp}.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(run.out / f"grid_{stamp}.md", markdown(summary))
    console.print(f"{len(done)} of {len(final)} cells done ({_counts(final, run, t0)}); table written to "
                  f"{run.out / f'grid_{stamp}.md'}")
    if args.submit:
        _submit(done, run, args, console)
    return 0 if done else 1


def _counts(final: Sequence[cluster.CellState], run: RunSpec, t0: float) -> str:
    """How many cells this invocation computed (their results are newer than its start)."""
    start = time.time() - (time.perf_counter() - t0)
    fresh = sum(1 for s in final if s.state == "done"
                and (cluster.cell_dir(run, s.cell) / "results.json").stat().st_mtime >= start)
    return f"{fresh} computed now, {sum(1 for s in final if s.state == 'done') - fresh} already done"


def _reason(s: cluster.CellState) -> str:
    if s.state == "done":
        return ""
    if s.state == "pending":
        return s.reason or "not run"
    return s.reason or s.state


def _published(grid: Grid, c: CellSpec) -> dict[str, Any]:
    pub = grid.published.get(c.model_label, {}).get(c.backbone_label) if c.task == grid.task else None
    if not pub:
        return {}
    return {"published": {"mean": pub[0], "stderr": pub[1], "permuted_text": pub[2] if len(pub) > 2 else None}}


def _print_table(console: Console, grid: Grid, summary: dict[str, Any]) -> None:
    header, rows = grid_rows(summary)
    table = Table(title=f"grid {grid.name}: {grid.metric} (%) on {', '.join(summary.get('tasks') or [grid.task])}",
                  caption=f"ours: mean ± SE over runs; paper: mean (SEM), {grid.source}" if grid.published
                  else "ours: mean ± SE over runs / permuted-text control")
    for h in header:
        table.add_column(h, justify="left" if h == "LM" else "right")
    for r in rows:
        table.add_row(*r)
    console.print(table)


def _run_local(jobs: list[JobSpec], run: RunSpec, parallel: int, console: Console, counts: dict[str, int]) -> None:
    """The jobs on this machine: in this process one after another, or `parallel` processes at a time."""
    n = sum(len(j.cells) for j in jobs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"grid: {len(jobs)} model loads", total=n)
        if parallel == 1:
            for j in jobs:
                bar.update(task, description=f"{j.model_label}")
                cluster.record_submissions(run, [cluster.Submitted(f"local-{os.getpid()}", j, "")], "local")
                cluster.run_job(j, run, progress=lambda c, outcome: (
                    bar.advance(task), bar.console.print(f"  {c.model_label} x {c.task} x {c.backbone_label}: {outcome}")))
            return
        with ProcessPoolExecutor(max_workers=parallel, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(cluster.run_job, j, run): j for j in jobs}
            cluster.record_submissions(run, [cluster.Submitted("local-pool", j, "") for j in jobs], "local")
            for fut, job in futures.items():
                try:
                    outcome = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died: its cells stay pending
                    outcome = {c.id: "failed: " + cluster.one_line(exc) for c in job.cells}
                for c in job.cells:
                    bar.advance(task)
                    bar.console.print(f"  {c.model_label} x {c.task} x {c.backbone_label}: {outcome.get(c.id)}")


def _announce(subs: Sequence[cluster.Submitted], console: Console) -> None:
    """Once: every job's id, model and log."""
    for s in subs:
        console.print(f"submitted SLURM job {s.job_id}: {s.job.model_label} ({len(s.job.cells)} cells), log {s.log}")


def _wait_slurm(subs: Sequence[cluster.Submitted], other_ids: Sequence[str], cells: Sequence[CellSpec], run: RunSpec,
                hashes: dict[str, Any], folder: Path, console: Console, poll: float = 2.0) -> None:
    """Until every submitted (and earlier, still live) job has ended, a live status table."""
    ids = [s.job_id for s in subs] + list(other_ids)
    job_class = cluster.slurm_job_class()
    handles = [s.handle for s in subs] + [job_class(folder, j) for j in other_ids]

    def live_states() -> dict[str, str]:
        if handles:
            handles[0].watcher.update()
        return {h.job_id: h.state.split()[0] for h in handles}

    def table() -> Any:
        sched = live_states()
        return cluster.status_table(cluster.cell_states(cells, run, hashes, lambda j: sched.get(j) or
                                                        cluster.scheduler_state(j, folder)),
                                    f"jobs {', '.join(ids)}")
    with Live(table(), console=console, refresh_per_second=1) as live:  # a log (no terminal) gets the last one
        while True:
            states = live_states()
            if all(st not in cluster.LIVE for st in states.values()):
                break
            time.sleep(poll)
            live.update(table())
        live.update(table())


def _submit(done: Sequence[cluster.CellState], run: RunSpec, args: Any, console: Console) -> None:
    for s in done:
        path = cluster.cell_dir(run, s.cell) / "results.json"
        try:
            placed = submit(str(path), args.leaderboard, include_paths=tuple(args.include_path))
        except GroundingEvalError as exc:
            console.print(f"[red]not submitted[/]: {s.cell.id}: {exc}")
            continue
        for p in placed:
            console.print(f"leaderboard: {p.task} {p.action} ({p.reason}): {p.path}")


def status_cmd(argv: Sequence[str], console: Console) -> int:
    """grounding-eval grid status FILE [--output-path DIR] [same selection options as the run]"""
    args = _parser(status=True).parse_args(argv)
    saved = cluster.read_json(Path(args.output_path) / cluster.GRID_FOLDER / "run.json")
    if saved:  # the options of the last run decide what "done" means (num_runs, limit, ... change the task hash)
        for k in ("num_runs", "limit", "seed", "batch_size", "cache_dir"):
            if getattr(args, k) is None:
                setattr(args, k, saved["run"].get(k))
        if not args.include_path:
            args.include_path = list(saved["run"].get("include_paths") or [])
    grid, jobs, run = _setup(args)
    cells = [c for j in jobs for c in j.cells]
    hashes = cluster.task_hashes(cells, run)
    folder = run.out / cluster.GRID_FOLDER / "slurm"
    states = cluster.cell_states(cells, run, hashes, lambda j: cluster.scheduler_state(j, folder))
    console.print(cluster.status_table(states, f"grid {grid.name}: {run.out}"))
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0
