"""A grid's cells as jobs, one per model load, run here (`local`) or on a SLURM cluster through submitit (`slurm`).

A cell is one (model, model args, task, backbone). The cells of one model (and model args) make one job: the
job loads the text model once and runs every task and backbone of it (a layer sweep, `layer=all`, is still
one forward). Where things land, under the grid's output folder OUT:

    OUT/cells/<cell>/results.json   the cell's results (written whole by the one job that ran it: temp + rename)
    OUT/cells/<cell>/state.json     running / failed (+ one-line reason) / done, job id, host, attempts
    OUT/.grid/submissions.json      every job submitted: job id, cells, log path (what `grid status` reads)
    OUT/.grid/slurm/                submitit's folder: sbatch files, logs (%j_0_log.out/.err), pickles

A cell is done when its results.json validates, its tasks' hashes equal the current resolved task's and it was
made from the same model and model args (the job also compares the loaded model's identity before skipping).
Jobs never write into each other's cells: a cell belongs to one model's job. The embedding cache is shared by
all jobs (content-addressed shards, temp file + rename: see docs/cluster.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from grounding_eval import paths, plugins
from grounding_eval.atomic import atomic_write_json
from grounding_eval.cache import EmbeddingCache
from grounding_eval.devices import pick_device
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.results import Results, parse_results
from grounding_eval.kinds.probe.runner import (
    EvalContext,
    TextModel,
    evaluate_task,
    load_tasks,
    load_text_model,
    make_perception_encoder,
)
from grounding_eval.kinds.probe.steps import RunOptions, resolve_task
from grounding_eval.progress import Reporter
from grounding_eval.results import (
    SCHEMA_VERSION,
    Environment,
    ModelRecord,
    environment,
    now_iso,
    write_results,
)
from grounding_eval.text.options import parse_model_args

EXECUTORS = ("local", "slurm")
GRID_FOLDER = ".grid"
# Scheduler states of a job that has not ended (UNKNOWN: sacct does not know the job yet, right after sbatch).
LIVE = {"PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "SUSPENDED", "RESIZING", "READY", "UNKNOWN"}


def slug(text: str) -> str:
    """A label as a folder name: letters, digits, '.', '-' and '_' only."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return out[:80]


def one_line(exc: BaseException) -> str:
    """An exception as the one line a table shows."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, GroundingEvalError):
        return text[:300]
    return f"{type(exc).__name__}: {text}"[:300]


@dataclass(frozen=True)
class CellSpec:
    model_label: str
    model: str
    model_args: str  # as written (k=v,...): part of what the cell is
    task: str
    backbone_label: str
    backbone: str | None  # None: the task's own perception encoder

    @property
    def id(self) -> str:
        return f"{slug(self.model_label)}__{slug(self.task)}__{slug(self.backbone_label)}"

    def spec(self) -> dict[str, Any]:
        return {"model": self.model, "model_args": self.model_args, "task": self.task, "backbone": self.backbone}


@dataclass(frozen=True)
class JobSpec:
    """One model load: every cell of one model label."""

    model_label: str
    model: str
    model_args: str
    cells: tuple[CellSpec, ...]

    @property
    def name(self) -> str:
        return slug(self.model_label)


@dataclass(frozen=True)
class RunSpec:
    """What every cell of one grid invocation shares (picklable: it travels to the SLURM job)."""

    output_dir: str
    include_paths: tuple[str, ...] = ()
    num_runs: int | None = None
    limit: int | None = None
    seed: int | None = None
    device: str | None = None
    batch_size: int | None = None
    cache_dir: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # environment the job sets first (GROUNDING_EVAL_*, HF_*)

    @property
    def out(self) -> Path:
        return Path(self.output_dir)


def plan_jobs(models: dict[str, str], model_args: dict[str, str], tasks: Sequence[str],
              backbones: dict[str, str | None]) -> list[JobSpec]:
    """The grid's cells grouped per model load, in the grid file's order."""
    jobs = []
    for label, model in models.items():
        args = model_args.get(label, "")
        cells = tuple(CellSpec(label, model, args, t, b_label, b) for t in tasks for b_label, b in backbones.items())
        jobs.append(JobSpec(label, model, args, cells))
    return jobs


# -- the files of a cell ------------------------------------------------------------------------------

def cell_dir(run: RunSpec, cell: CellSpec) -> Path:
    return run.out / "cells" / cell.id


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_state(run: RunSpec, cell: CellSpec) -> dict[str, Any]:
    return read_json(cell_dir(run, cell) / "state.json") or {}


def write_state(run: RunSpec, cell: CellSpec, **fields: Any) -> dict[str, Any]:
    """Only the job that owns the cell (or the submitting command, before any job has it) writes this."""
    state = {**read_state(run, cell), **fields, "spec": cell.spec(), "updated": time.time()}
    atomic_write_json(cell_dir(run, cell) / "state.json", state)
    return state


def task_hashes(cells: Sequence[CellSpec], run: RunSpec) -> dict[str, str | BaseException]:
    """Each cell's current resolved-task hash (what its results must carry), or why its task cannot resolve."""
    regs = plugins.registries()
    out: dict[str, str | BaseException] = {}
    for c in cells:
        try:
            cfg = load_tasks([c.task], run.include_paths, c.backbone, regs)[c.task]
            opts = RunOptions(c.backbone, {}, run.seed, run.num_runs, run.limit, None, run.batch_size)
            out[c.id] = resolve_task(c.task, cfg, opts).content_hash()
        except Exception as exc:  # noqa: BLE001 - the cell's own failure (bad task, backbone, plugin)
            out[c.id] = exc
    return out


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def finished(run: RunSpec, cell: CellSpec, task_hash: str | BaseException | None,
             identity: dict[str, Any] | None = None) -> bool:
    """The cell's results exist, validate, and match the current task hash, model and model args (and the
    loaded model's identity, when the job gives it)."""
    if not isinstance(task_hash, str):
        return False
    path = cell_dir(run, cell) / "results.json"
    state = read_state(run, cell)
    if state.get("spec") != cell.spec() or not path.is_file():
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    memo_key = (str(path), st.st_mtime_ns, st.st_size, task_hash, cell.model)
    if identity is None and memo_key in _FINISHED:  # the status table asks every few seconds
        return _FINISHED[memo_key]
    data = read_json(path)
    ok = data is not None and _results_match(data, path, cell, task_hash)
    if identity is None:
        _FINISHED[memo_key] = ok
        return ok
    return ok and _plain(data["model"].get("identity")) == _plain(identity)  # type: ignore[index]


_FINISHED: dict[tuple, bool] = {}


def _results_match(data: dict[str, Any], path: Path, cell: CellSpec, task_hash: str) -> bool:
    try:
        typed = parse_results(data, str(path))
    except Exception:  # noqa: BLE001 - an invalid or foreign file is simply not a finished cell
        return False
    if typed.model.name != cell.model or not typed.tasks:
        return False
    return all(rec.hash == task_hash for rec in typed.tasks.values())


# -- the job: one model load, every cell of it ---------------------------------------------------------

class JobInterrupted(BaseException):
    """SIGTERM reached the job (scancel, the time limit, a node going down): stop the running cell now."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise JobInterrupted(f"signal {signum}")


def _job_id() -> str:
    if os.environ.get("SLURM_JOB_ID"):
        array = os.environ.get("SLURM_ARRAY_JOB_ID")
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]
    return f"local-{os.getpid()}"


@dataclass
class Loaded:
    """What a job loads once and every cell of it uses."""

    text: TextModel
    identity: dict[str, Any]
    regs: plugins.Registries
    rep: Reporter
    device: str
    cache: EmbeddingCache
    load_seconds: float


def run_job(job: JobSpec, run: RunSpec, progress: Callable[[CellSpec, str], None] | None = None) -> dict[str, str]:
    """Load the job's model once and run each unfinished cell; each cell's outcome -> its state file.

    Returns cell id -> "done" (computed now), "skipped" (already finished) or "failed: <reason>". Raises
    nothing for a cell's failure; a kill leaves the running cell `running` (the submitter sees the job gone).
    """
    os.environ.update(run.env)
    outcome: dict[str, str] = {}

    def report(c: CellSpec, what: str) -> None:
        outcome[c.id] = what
        if progress:
            progress(c, what)

    hashes = task_hashes(job.cells, run)
    todo = []
    for c in job.cells:
        h = hashes[c.id]
        if finished(run, c, h):
            report(c, "skipped")
        elif isinstance(h, BaseException):
            _fail(run, c, h)
            report(c, "failed: " + one_line(h))
        else:
            todo.append(c)
    if not todo:
        return outcome
    regs = plugins.registries()
    rep = Reporter(Console(stderr=True), False)
    t0 = time.perf_counter()
    try:
        text = load_text_model(job.model, parse_model_args(job.model_args), run.device, run.batch_size, regs, rep)
    except Exception as exc:  # noqa: BLE001 - the model's failure is every one of its cells'
        for c in todo:
            _fail(run, c, exc)
            report(c, "failed: " + one_line(exc))
        return outcome
    loaded = Loaded(text, text.encoder.identity(), regs, rep, pick_device(run.device),
                    EmbeddingCache(run.cache_dir or paths.embeddings_dir()), time.perf_counter() - t0)
    for c in todo:
        if finished(run, c, hashes[c.id], loaded.identity):
            report(c, "skipped")
        else:
            report(c, run_cell(c, job, run, loaded))
    return outcome


def _fail(run: RunSpec, cell: CellSpec, exc: BaseException) -> None:
    """A cell that failed before it started (its task, backbone or model): one line, one more try counted."""
    write_state(run, cell, state="failed", reason=one_line(exc), job_id=_job_id(),
                attempts=read_state(run, cell).get("attempts", 0) + 1, finished=time.time())


def run_cell(c: CellSpec, job: JobSpec, run: RunSpec, loaded: Loaded) -> str:
    """One cell with the job's loaded model: its results file, written whole, and its state."""
    write_state(run, c, state="running", job_id=_job_id(), host=socket.gethostname(), pid=os.getpid(),
                attempts=read_state(run, c).get("attempts", 0) + 1, started=time.time(), reason=None)
    t = time.perf_counter()
    try:
        out = cell_results(c, job, run, loaded)
        out["wall_time_seconds"] = time.perf_counter() - t
        write_results(out, str(cell_dir(run, c) / "results.json"))
    except JobInterrupted:
        # Nothing of this cell was written but finished shards and runs in the cache: a rerun redoes it.
        write_state(run, c, state="interrupted", finished=time.time(),
                    reason=f"job {_job_id()} was stopped (SIGTERM: scancel, time limit or node shutdown) while this cell ran")
        raise
    except Exception as exc:  # noqa: BLE001 - this cell's failure, not the job's
        write_state(run, c, state="failed", reason=one_line(exc), finished=time.time())
        return "failed: " + one_line(exc)
    write_state(run, c, state="done", finished=time.time(), seconds=time.perf_counter() - t,
                model_load_seconds=loaded.load_seconds)
    return "done"


def cell_results(c: CellSpec, job: JobSpec, run: RunSpec, loaded: Loaded) -> dict[str, Any]:
    """What `runner.evaluate(model, task, audio_backbone=...)` returns, with the job's model already loaded."""
    configs = load_tasks([c.task], run.include_paths, c.backbone, loaded.regs)
    opts = RunOptions(c.backbone, {}, run.seed, run.num_runs, run.limit, None, run.batch_size)
    cfg = resolve_task(c.task, configs[c.task], opts)
    ctx = EvalContext(loaded.regs, loaded.cache, loaded.rep, loaded.text, loaded.device, run.batch_size, False,
                      cache_dir=run.cache_dir)
    encoder = make_perception_encoder(c.task, cfg, loaded.regs, loaded.device, run.batch_size, loaded.rep)
    results, records = {}, {}
    for entry, result, record in evaluate_task(c.task, cfg, ctx, encoder):
        results[entry], records[entry] = result, record
    return Results(schema_version=SCHEMA_VERSION, results=results, tasks=records,
                   model=ModelRecord(name=job.model, kind=loaded.text.kind, identity=loaded.identity),
                   environment=Environment(**environment(loaded.device)), date=now_iso(),
                   wall_time_seconds=0.0).to_json()


def _submitit_job_class() -> Any:
    """A submitit Checkpointable around run_job: on a time limit or preemption SLURM requeues it, and the
    requeued job skips the cells finished before (only the unfinished cell is redone)."""
    from submitit.helpers import Checkpointable

    class GridJob(Checkpointable):
        def __call__(self, job: JobSpec, run: RunSpec) -> dict[str, str]:
            import signal

            # submitit lets SIGTERM pass (it requeues on SIGUSR2 before the time limit); a grid job stops at
            # once instead, marking its running cell interrupted, rather than running on until SIGKILL.
            signal.signal(signal.SIGTERM, _on_sigterm)
            return run_job(job, run)

    return GridJob


# -- the scheduler's view --------------------------------------------------------------------------

def sacct_works() -> bool:
    """Whether SLURM accounting answers (a cluster without slurmdbd has none: then squeue, below)."""
    try:
        return subprocess.run(["sacct", "-n", "-X", "-j", "1"], check=False, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _squeue_job_class() -> Any:
    """submitit's SlurmJob reading states from squeue instead of sacct (clusters without accounting)."""
    from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

    class SqueueWatcher(SlurmInfoWatcher):
        def _make_command(self) -> list[str] | None:
            to_check = {x.split("_")[0] for x in self._registered - self._finished}
            if not to_check:
                return None
            return ["squeue", "-h", "-r", "--states=all", "-o", "%i|%T|%N", "-j", ",".join(sorted(to_check))]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            text = string.decode() if isinstance(string, bytes) else string
            info = super().read_info("JobID|State|NodeList\n" + text)
            for job_id in self._registered - self._finished:  # gone from squeue: over (no accounting to ask)
                info.setdefault(job_id, {"JobID": job_id, "State": "FINISHED", "NodeList": ""})
            return info

    class SqueueSlurmJob(SlurmJob):
        watcher = SqueueWatcher(delay_s=5)

    return SqueueSlurmJob


_JOB_CLASS: Any = None


def slurm_job_class() -> Any:
    global _JOB_CLASS
    if _JOB_CLASS is None:
        from submitit.slurm.slurm import SlurmJob

        _JOB_CLASS = SlurmJob if sacct_works() else _squeue_job_class()
    return _JOB_CLASS


def scheduler_state(job_id: str, folder: Path) -> str:
    """SLURM's state of one job (array task) through submitit: PENDING, RUNNING, COMPLETED, CANCELLED, ..."""
    if job_id.startswith("local-"):
        tail = job_id.split("-", 1)[1]
        if not tail.isdigit():
            return "FINISHED"
        pid = int(tail)
        if pid == os.getpid():  # this process ran it in-process: between rounds it is over
            return "FINISHED"
        try:
            os.kill(pid, 0)
        except OSError:
            return "FINISHED"
        return "RUNNING"
    job = slurm_job_class()(folder, job_id)
    job.watcher.update()  # one squeue/sacct call for every registered job
    return job.state.split()[0]


# -- submitting ----------------------------------------------------------------------------------

@dataclass
class Submitted:
    job_id: str
    job: JobSpec
    log: str
    handle: Any = None  # submitit Job


def require_slurm() -> None:
    """--executor slurm needs submitit and SLURM's commands here (a login node)."""
    if importlib.util.find_spec("submitit") is None:
        raise GroundingEvalError("--executor slurm: submitit is not installed; pip install 'grounding-eval[slurm]' "
                                 "(or --executor local)")
    if shutil.which("sbatch") is None:
        raise GroundingEvalError("--executor slurm: no sbatch on PATH; run on a SLURM login node (or --executor local)")


def sbatch_parameters(lines: Sequence[str], where: str) -> dict[str, Any]:
    """Extra sbatch lines (`--qos=high`, `#SBATCH --exclusive`) as submitit's additional parameters."""
    out: dict[str, Any] = {}
    for line in lines:
        text = line.strip()
        text = text[len("#SBATCH"):].strip() if text.startswith("#SBATCH") else text
        m = re.fullmatch(r"--([A-Za-z][A-Za-z0-9-]*)(?:[= ](.+))?", text)
        if not m:
            raise GroundingEvalError(f"{where}: {line!r} is not an sbatch option; give --key=value or --flag "
                                     "(e.g. --qos=high, --exclusive)")
        out[m.group(1).replace("-", "_")] = m.group(2).strip() if m.group(2) else True
    return out


def slurm_executor(folder: Path, resources: Any, name: str = "grid") -> Any:
    """A submitit SLURM executor with the grid's resources (grid.Slurm, options applied)."""
    import submitit

    class Executor(submitit.SlurmExecutor):
        job_class = slurm_job_class()

    ex = Executor(folder=folder, python=sys.executable)
    params: dict[str, Any] = {"job_name": name, "time": resources.time, "cpus_per_task": resources.cpus,
                              "array_parallelism": resources.parallel, "setup": list(resources.setup),
                              "additional_parameters": sbatch_parameters(resources.sbatch, "slurm.sbatch"),
                              "signal_delay_s": 60}
    if resources.partition:
        params["partition"] = resources.partition
    if resources.gpus:
        params["gpus_per_node"] = resources.gpus
    if resources.mem_gb:
        params["mem"] = f"{int(resources.mem_gb * 1024)}M"
    if resources.account:
        params["account"] = resources.account
    if resources.constraint:
        params["constraint"] = resources.constraint
    ex.update_parameters(**params)
    return ex


def submit_slurm(jobs: Sequence[JobSpec], run: RunSpec, resources: Any, name: str) -> list[Submitted]:
    """One job array: one array task per model load, at most `resources.parallel` at once."""
    folder = run.out / GRID_FOLDER / "slurm"
    require_slurm()
    ex = slurm_executor(folder, resources, name)
    callable_ = _submitit_job_class()()
    try:
        handles = ex.map_array(callable_, list(jobs), [run] * len(jobs))
    except Exception as exc:  # noqa: BLE001 - sbatch refused (bad partition, account, ...): one line
        raise GroundingEvalError(f"--executor slurm: sbatch refused the jobs: {one_line(exc)}") from None
    # submitit makes an array's jobs as plain SlurmJob (sacct); read them through the class this cluster answers
    job_class = slurm_job_class()
    handles = [h if isinstance(h, job_class) else job_class(folder=folder, job_id=h.job_id) for h in handles]
    subs = [Submitted(h.job_id, j, str(h.paths.stdout), h) for h, j in zip(handles, jobs)]
    record_submissions(run, subs, "slurm")
    return subs


def record_submissions(run: RunSpec, subs: Sequence[Submitted], executor: str) -> None:
    path = run.out / GRID_FOLDER / "submissions.json"
    old = read_json(path) or {"jobs": []}
    old["jobs"] += [{"job_id": s.job_id, "executor": executor, "model_label": s.job.model_label,
                     "cells": [c.id for c in s.job.cells], "log": s.log, "submitted": time.time()} for s in subs]
    atomic_write_json(path, old)


def submissions(out: Path) -> list[dict[str, Any]]:
    return (read_json(out / GRID_FOLDER / "submissions.json") or {"jobs": []})["jobs"]


# -- every cell's state --------------------------------------------------------------------------

@dataclass
class CellState:
    cell: CellSpec
    state: str  # done, running, queued, failed, interrupted, pending
    reason: str = ""
    job_id: str = ""
    attempts: int = 0


def cell_states(cells: Sequence[CellSpec], run: RunSpec, hashes: dict[str, str | BaseException],
                scheduler: Callable[[str], str]) -> list[CellState]:
    """done (results valid), running, queued (its job waits), failed (+ reason), interrupted (its job ended
    while the cell ran: cancelled, node failure, time limit), pending (never run or out of date)."""
    latest: dict[str, str] = {}
    for sub in submissions(run.out):
        for cid in sub["cells"]:
            latest[cid] = sub["job_id"]
    seen: dict[str, str] = {}

    def sched(job_id: str) -> str:
        if job_id not in seen:
            seen[job_id] = scheduler(job_id)
        return seen[job_id]

    out = []
    for c in cells:
        st = read_state(run, c)
        h = hashes.get(c.id)
        if finished(run, c, h):
            out.append(CellState(c, "done", job_id=st.get("job_id", ""), attempts=st.get("attempts", 0)))
            continue
        if isinstance(h, BaseException):
            out.append(CellState(c, "failed", one_line(h)))
            continue
        job_id = st.get("job_id", "") if st.get("spec") == c.spec() else ""
        if st.get("state") == "running" and job_id:
            s = sched(job_id)
            if s in LIVE:
                out.append(CellState(c, "running", job_id=job_id, attempts=st.get("attempts", 0)))
            else:
                out.append(CellState(c, "interrupted", f"job {job_id} ended ({s}) while this cell ran", job_id,
                                     st.get("attempts", 0)))
            continue
        queued = latest.get(c.id)
        if queued and queued != job_id and sched(queued) in LIVE:
            out.append(CellState(c, "queued", job_id=queued, attempts=st.get("attempts", 0)))
        elif st.get("state") == "interrupted" and job_id:
            out.append(CellState(c, "interrupted", st.get("reason") or "", job_id, st.get("attempts", 0)))
        elif st.get("state") == "failed" and st.get("spec") == c.spec():
            out.append(CellState(c, "failed", st.get("reason") or "", job_id, st.get("attempts", 0)))
        elif queued and queued != job_id and not queued.startswith("local-"):
            out.append(CellState(c, "pending", f"its job {queued} ended ({sched(queued)}) before the cell started",
                                 attempts=st.get("attempts", 0)))
        else:
            out.append(CellState(c, "pending", attempts=st.get("attempts", 0)))
    return out


def status_table(states: Sequence[CellState], title: str) -> Any:
    colour = {"done": "green", "running": "cyan", "queued": "blue", "failed": "red", "interrupted": "yellow",
              "pending": "white"}
    table = Table(title=title)
    for h in ("model", "task", "backbone", "state", "job", "tries", "reason"):
        table.add_column(h, overflow="fold")
    for s in states:
        table.add_row(s.cell.model_label, s.cell.task, s.cell.backbone_label,
                      f"[{colour[s.state]}]{s.state}[/]", s.job_id, str(s.attempts), s.reason)
    return table


def dry_run_jobs(jobs: Sequence[JobSpec], executor: str, resources: Any, parallel: int) -> Any:
    """What `--dry-run` prints: one row per job (model load), its resources and its cells."""
    if executor == "slurm":
        extra = ", ".join(resources.sbatch)
        res = (f"partition={resources.partition or '(default)'} time={resources.time}min gpus={resources.gpus} "
               f"cpus={resources.cpus} mem={f'{resources.mem_gb:g}GB' if resources.mem_gb else '(default)'}"
               + (f" account={resources.account}" if resources.account else "")
               + (f" constraint={resources.constraint}" if resources.constraint else "")
               + (f" sbatch: {extra}" if extra else ""))
        title = (f"{len(jobs)} SLURM jobs (one job array, at most {resources.parallel} at once), "
                 f"{sum(len(j.cells) for j in jobs)} cells")
    else:
        res = "this machine"
        title = f"{len(jobs)} local jobs ({parallel} at a time), {sum(len(j.cells) for j in jobs)} cells"
    table = Table(title=title, show_lines=True)
    for h in ("job", "model load", "resources", "cells (task x backbone)"):
        table.add_column(h, overflow="fold")
    for i, j in enumerate(jobs):
        load = j.model + (f" [{j.model_args}]" if j.model_args else "")
        cells = "\n".join(f"{c.task} x {c.backbone_label}" for c in j.cells)
        table.add_row(str(i), load, res, cells)
    return table


def as_dict(spec: Any) -> dict[str, Any]:
    return asdict(spec)
