"""`grounding-eval --model M --task TOY_TASK`: score the items, bootstrap the mean, write and print the results."""

from __future__ import annotations

import hashlib
import time
from argparse import Namespace
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from grounding_eval.cli.args import comma_list, key_values
from grounding_eval.errors import GroundingEvalError
from grounding_eval.results import environment, now_iso, write_results
from grounding_eval.tasks.manager import TaskManager
from toy_kind.config import ToyTaskConfig
from toy_kind.results import ToyResults


def bootstrap_stderr(items: list[float], seed: int, resamples: int) -> float:
    """The standard deviation of the mean over `resamples` seeded resamples of the items, with replacement."""
    x = np.asarray(items, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    return float(x[idx].mean(axis=1).std(ddof=1))


def chance(cfg: ToyTaskConfig) -> float:
    """What a model of scale 0.5 scores: half of every item."""
    return float(np.mean([0.5 * x for x in cfg.numbers]))


def model_identity(model: str, scale: float) -> dict[str, Any]:
    """The toy model's 'weights' are its name and scale; their hash pins them as a real model's would."""
    return {"model": model, "scale": scale, "weights_sha256": hashlib.sha256(f"{model}:{scale!r}".encode()).hexdigest()}


def score_task(cfg: ToyTaskConfig, scale: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results.<task>, tasks.<task>) for one task."""
    items = [round(scale * x, 9) for x in cfg.numbers]
    result = {"main_metric": "mean", "chance": chance(cfg),
              "mean": {"mean": float(np.mean(items)), "stderr": bootstrap_stderr(items, cfg.seed, cfg.bootstrap_resamples),
                       "n": len(items)}}
    record = {"version": cfg.version, "hash": cfg.content_hash(), "config": cfg.to_dict(), "seed": cfg.seed, "items": items}
    return result, record


def run(args: Namespace, console: Console) -> int:
    t0 = time.perf_counter()
    scale = float(key_values(args.model_args, "--model-args").get("scale", 1.0))
    if not 0.0 <= scale <= 1.0:
        raise GroundingEvalError(f"--model-args scale={scale}: a toy model's scale is in [0, 1]")
    manager = TaskManager(args.include_path)
    data: dict[str, Any] = {"schema_version": 1, "kind": "toy", "results": {}, "tasks": {},
                            "model": {"name": args.model, "kind": "toy", "identity": model_identity(args.model, scale)}}
    for task in comma_list(args.task) or []:
        cfg = manager.get(task)
        if args.seed is not None:
            cfg = cfg.with_overrides(seed=args.seed)
        data["results"][task], data["tasks"][task] = score_task(cfg, scale)
    data.update(environment=environment("cpu"), date=now_iso(), wall_time_seconds=time.perf_counter() - t0)
    res = ToyResults.model_validate(data)
    console.print(results_table(res))
    if args.output_path:
        console.print(f"results written to {write_results(data, args.output_path)}")
    return 0


def results_table(res: ToyResults) -> Table:
    table = Table(title=f"grounding-eval · {res.model.name} (toy)", caption="%, mean ± bootstrap standard error over items")
    for col in ("task", "items", "mean", "chance"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for task, r in res.results.items():
        table.add_row(task, str(r.mean.n), f"{100 * r.mean.mean:.1f} ± {100 * r.mean.stderr:.1f}", f"{100 * r.chance:.1f}")
    return table
