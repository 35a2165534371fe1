"""What running a grid through SLURM costs per cell, and what grouping cells per model load saves.

    bash .ci/slurm start      # a one-node cluster (root), or run on a real one
    .venv/bin/python bench/slurm_overhead.py [--models tiny,minilm,smollm2] [--repeat 1]

The grid: models x 2 small real tasks (distro_sounds subsets, log-mel backbone, 2 runs), each phase on a
fresh embedding cache, so every variant does the same work. Measured:

1. local vs SLURM on the same grid (one job per model load): the wall time of each, and the SLURM path's
   overhead split into submission (sbatch through submitit), scheduling (submitted -> the job's first log
   line), start-up (job start -> its first cell starts, less the model load), collection (last cell done ->
   the command has the table).
2. grouped (one job per model load) vs one job per cell, both on SLURM with the same concurrency cap: wall
   time and the summed model-load time (each job loads its model; a model's load is counted every time).

Each phase prints os.getloadavg() (the machine is shared: read the numbers beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GROUNDING_EVAL_PLUGINS", "aisfx,colour,passt,panns")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import yaml

from grounding_eval.kinds.probe import cluster
from grounding_eval.kinds.probe.grid import Slurm

REPO = Path(__file__).resolve().parent.parent
MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}
TASKS = {  # as tests/conftest.py's quick tasks
    "quick_freedesktop": {"edition": 1, "packages": ["sound-theme-freedesktop"]},
    "quick_distro": {"edition": 1, "min_clips_per_class": 2},
}


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def make_tasks(folder: Path) -> str:
    shutil.copy(REPO / "tasks" / "_audio_probe_base.yaml", folder)
    for name, args in TASKS.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({
            "include": "_audio_probe_base.yaml", "task": name, "version": 1,
            "dataset": {"name": "distro_sounds", "args": args},
            "perception_encoder": {"name": "logmel"}, "probe": {"epochs": 20}, "num_runs": 2}))
    return str(folder)


def states(run: cluster.RunSpec, cells) -> list[dict]:
    return [cluster.read_state(run, c) for c in cells]


def wait(subs, poll: float = 0.5) -> float:
    """Until every job has ended; returns when (time.time()) the last was seen ending."""
    handles = [s.handle for s in subs]
    while True:
        handles[0].watcher.update()
        if all(h.state.split()[0] not in cluster.LIVE for h in handles):
            return time.time()
        time.sleep(poll)


def log_start(sub) -> float | None:
    """The job's first log line's time (submitit writes `submitit INFO (YYYY-mm-dd HH:MM:SS,mmm) - Starting ...`)."""
    err = Path(sub.log).with_suffix(".err")
    for path in (err, Path(sub.log)):
        try:
            m = re.search(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\)", path.read_text())
        except OSError:
            continue
        if m:
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def slurm_phase(jobs, run, resources, label: str) -> dict:
    cells = [c for j in jobs for c in j.cells]
    t0 = time.time()
    subs = cluster.submit_slurm(jobs, run, resources, f"bench-{label}")
    t_sub = time.time()
    t_end = wait(subs)
    t_collect = time.time()
    hashes = cluster.task_hashes(cells, run)
    done = [c for c in cells if cluster.finished(run, c, hashes[c.id])]
    t_done = time.time()
    st = states(run, cells)
    starts = [log_start(s) for s in subs]
    first_cell = {}
    for j, sub in zip(jobs, subs):
        first_cell[sub.job_id] = min(s["started"] for s in states(run, j.cells) if "started" in s)
    per_job_load = {}
    for j, sub in zip(jobs, subs):
        per_job_load[sub.job_id] = cluster.read_state(run, j.cells[0]).get("model_load_seconds", 0.0)
    # A job can start once the array's cap lets it: at submission for the first `parallel`, else when the job
    # `parallel` places before it ended (its last cell finished). Scheduling = start - that moment.
    ends = [max(s.get("finished", 0) for s in states(run, j.cells)) for j in jobs]
    cap = resources.parallel
    sched = [st_ - (t_sub if i < cap else max(t_sub, ends[i - cap])) for i, st_ in enumerate(starts) if st_]
    startup = [first_cell[s.job_id] - st_ - per_job_load[s.job_id] for s, st_ in zip(subs, starts) if st_]
    last_done = max(s.get("finished", 0) for s in st)
    return {"label": label, "jobs": len(jobs), "cells": len(cells), "done": len(done), "wall": t_done - t0,
            "submission": t_sub - t0, "scheduling_mean": sum(sched) / max(1, len(sched)),
            "startup_mean": sum(startup) / max(1, len(startup)), "collection": (t_end - last_done) + (t_done - t_collect),
            "model_load_total": sum(per_job_load.values()), "compute_total": sum(s.get("seconds", 0) for s in st),
            "load": load()}


def local_phase(jobs, run) -> dict:
    cells = [c for j in jobs for c in j.cells]
    t0 = time.time()
    for j in jobs:
        cluster.run_job(j, run)
    wall = time.time() - t0
    st = states(run, cells)
    loads = {j.model_label: cluster.read_state(run, j.cells[0]).get("model_load_seconds", 0.0) for j in jobs}
    return {"label": "local", "jobs": len(jobs), "cells": len(cells), "wall": wall,
            "model_load_total": sum(loads.values()), "compute_total": sum(s.get("seconds", 0) for s in st),
            "load": load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm,smollm2", help=f"comma-separated, of: {', '.join(MODELS)}")
    ap.add_argument("--parallel", type=int, default=1, help="jobs at once (SLURM array cap); 1 = like local")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ge-slurm-bench-"))
    os.environ.setdefault("GROUNDING_EVAL_CACHE", str(root / "ge-cache"))  # datasets built once, first phase
    include = make_tasks(Path(tempfile.mkdtemp(dir=root, prefix="tasks-")))
    models = {k: MODELS[k] for k in args.models.split(",")}
    grouped = cluster.plan_jobs(models, {}, list(TASKS), {"own": None})
    per_cell = [cluster.JobSpec(j.model_label, j.model, j.model_args, (c,)) for j in grouped for c in j.cells]
    resources = Slurm(time=30, cpus=1, parallel=args.parallel)

    def run(name: str) -> cluster.RunSpec:
        env = {k: v for k, v in os.environ.items() if k.startswith(("GROUNDING_EVAL_", "HF_", "TOKENIZERS_"))}
        return cluster.RunSpec(output_dir=str(root / name / "out"), include_paths=(include,),
                               cache_dir=str(root / name / "cache"), env=env)

    # warm-up: build the datasets, de-quantise a GGUF once, fill the OS page cache: outside every timed phase
    local_phase([cluster.JobSpec(j.model_label, j.model, j.model_args, j.cells[:1]) for j in grouped], run("warmup"))
    print(f"grid: {len(models)} models x {len(TASKS)} tasks = {sum(len(j.cells) for j in grouped)} cells; "
          f"{load()}", flush=True)
    out = []
    for name, fn in (("local", lambda: local_phase(grouped, run("local"))),
                     ("slurm-grouped", lambda: slurm_phase(grouped, run("grouped"), resources, "grouped")),
                     ("slurm-per-cell", lambda: slurm_phase(per_cell, run("per-cell"), resources, "per-cell"))):
        r = fn()
        r["label"] = name
        out.append(r)
        print(json.dumps(r), flush=True)
    local, grp, pc = out
    n = grp["cells"]
    print()
    print("| phase | jobs | wall s | per cell s | model loads s | submission s | scheduling s/job | start-up s/job | collection s | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in out:
        print(f"| {r['label']} | {r['jobs']} | {r['wall']:.1f} | {r['wall'] / n:.1f} | {r['model_load_total']:.1f} | "
              f"{r.get('submission', 0):.2f} | {r.get('scheduling_mean', 0):.1f} | {r.get('startup_mean', 0):.1f} | "
              f"{r.get('collection', 0):.1f} | {r['load'].split('average ')[1]} |")
    print()
    print(f"SLURM overhead per cell (grouped vs local): {(grp['wall'] - local['wall']) / n:+.1f} s")
    print(f"grouping per model load saves {pc['wall'] - grp['wall']:.1f} s wall "
          f"({100 * (pc['wall'] - grp['wall']) / pc['wall']:.0f} %), {pc['model_load_total'] - grp['model_load_total']:.1f} s of model loading")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
