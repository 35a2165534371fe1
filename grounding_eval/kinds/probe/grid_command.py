"""`grounding-eval grid paper|FILE.yaml`: run a grid of models x audio backbones and table it (see grounding_eval.kinds.probe.grid)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.atomic import atomic_write_text
from grounding_eval.cli.args import Parser, positive_int
from grounding_eval.kinds.probe.grid import BUILTIN_GRIDS, grid_rows, load_grid, markdown, pick, run_grid
from grounding_eval.kinds.probe.runner import evaluate
from grounding_eval.results import now_iso


def cmd(argv: Sequence[str], console: Console) -> int:
    """grounding-eval grid paper|FILE.yaml [--models ...] [--backbones ...] [--output-path DIR] [...]"""
    p = Parser(prog="grounding-eval grid", description="run a grid of models x audio backbones and table it")
    p.add_argument("grid", help=f"a built-in grid ({', '.join(BUILTIN_GRIDS)}) or a grid YAML file")
    p.add_argument("--models", default=None, help="comma-separated labels (or model names) to run; default all")
    p.add_argument("--backbones", default=None, help="comma-separated labels (or backbone names); default all")
    p.add_argument("--task", default=None, help="run this task instead of the grid's")
    p.add_argument("--output-path", default="results/grid", help="folder for the cells' results and the table")
    p.add_argument("--include-path", action="append", default=[])
    p.add_argument("--num-runs", type=positive_int, default=None)
    p.add_argument("--limit", type=positive_int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--dry-run", action="store_true", help="list the cells and the published numbers, run nothing")
    args = p.parse_args(argv)
    grid = load_grid(args.grid)
    if args.task:
        grid = grid.model_copy(update={"task": args.task})
    models = pick(grid.models, args.models, "models")
    backbones = pick(grid.backbones, args.backbones, "backbones")
    out_dir = Path(args.output_path)
    if args.dry_run:
        summary = {"grid": grid.name, "source": grid.source, "task": grid.task, "metric": grid.metric,
                   "cells": [{"model_label": m, "backbone_label": b, "error": "not run (--dry-run)",
                              **({"published": dict(zip(("mean", "stderr", "permuted_text"), grid.published[m][b]))}
                                 if b in grid.published.get(m, {}) else {})}
                             for m in models for b in backbones]}
    else:
        summary = run_grid(grid, evaluate, models=models, backbones=backbones, output_dir=out_dir, console=console,
                           eval_kwargs={"include_paths": args.include_path, "num_runs": args.num_runs,
                                        "limit": args.limit, "device": args.device, "show_progress": False})
    summary["date"] = now_iso()
    header, rows = grid_rows(summary)
    table = Table(title=f"grid {grid.name}: {grid.metric} (%) on {grid.task}",
                  caption=f"ours: mean ± SE over runs; paper: mean (SEM), {grid.source}")
    for h in header:
        table.add_column(h, justify="left" if h == "LM" else "right")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    ran = sum(1 for c in summary["cells"] if "error" not in c)
    if not args.dry_run:
        stamp = summary["date"].replace(":", "-").replace("+00-00", "Z")
        atomic_write_text(out_dir / f"grid_{stamp}.json", json.dumps(summary, indent=2) + "\n")
        atomic_write_text(out_dir / f"grid_{stamp}.md", markdown(summary))
        console.print(f"{ran} of {len(summary['cells'])} cells ran; table written to {out_dir / f'grid_{stamp}.md'}")
    return 0 if ran or args.dry_run else 1
