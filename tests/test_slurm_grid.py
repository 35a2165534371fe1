"""Issue 25: the grid on a real SLURM cluster through submitit (one job per model load), resumable.

Every SLURM test submits through submitit's real SLURM executor to the one-node cluster `.ci/slurm start`
brings up (`.ci/run` does; run as root with the daemons installed, the module starts it itself and stops it after).
Without a reachable cluster they skip, unless GROUNDING_EVAL_CI=1: then they fail.
The grid: 2 models (a tiny random BERT, the real all-MiniLM-L6-v2) x 2 small real tasks (distro_sounds
subsets, log-mel backbone, 2 runs each), so the whole module takes about two minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from grounding_eval.cli import main
from cli_helpers import run_cli

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TASKS = ["quick_freedesktop", "quick_distro"]


def _slurm_up() -> bool:
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], check=False, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split())


SLURM_SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "slurm"


def _start_local_cluster() -> bool:
    """Bring up the one-node cluster with .ci/slurm when its daemons are installed and we are root (the README's
    test command runs pytest without `.ci/run`, which starts it); True when this module started it."""
    if os.geteuid() != 0 or not shutil.which("slurmctld") or not SLURM_SCRIPT.exists():
        return False
    done = subprocess.run(["bash", str(SLURM_SCRIPT), "start"], capture_output=True, text=True, timeout=120)
    return done.returncode == 0 and _slurm_up()


@pytest.fixture(scope="module")
def slurm():
    started = False
    if not _slurm_up():
        started = _start_local_cluster()
    if not started and not _slurm_up():
        if os.environ.get("GROUNDING_EVAL_CI") == "1":
            pytest.fail("no SLURM cluster reachable (sinfo shows no usable node): `bash .ci/slurm start` as root")
        pytest.skip("no SLURM cluster reachable (bash .ci/slurm start brings up a one-node one)")
    pytest.importorskip("submitit")
    yield
    if started:  # stop only what this module started (a cluster `.ci/run` started is stopped there)
        subprocess.run(["bash", str(SLURM_SCRIPT), "stop"], capture_output=True, timeout=120)


def numbers(results_file: Path) -> dict:
    """Every number a cell's results carry that follows from the data and the protocol (not time, host, date)."""
    data = json.loads(results_file.read_text())
    return {"results": data["results"],
            "runs": {k: v["runs"] for k, v in data["tasks"].items()},
            "text": {k: v["text_encoder"]["cache_key"] for k, v in data["tasks"].items()},
            "perception": {k: v["perception_encoder"]["cache_key"] for k, v in data["tasks"].items()}}


def cells_of(out: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in sorted((out / "cells").glob("*/results.json"))}


def state(out: Path, cell: str) -> dict:
    return json.loads((out / "cells" / cell / "state.json").read_text())


@pytest.fixture(scope="module")
def grid_file(tiny_bert, quick_tasks, tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "two.yaml"
    path.write_text(json.dumps({"name": "two", "source": "test", "tasks": TASKS, "metric": "accuracy@3",
                                "models": {"tiny": tiny_bert, "MiniLM": MINILM},
                                "slurm": {"time": 15, "cpus": 1, "parallel": 2}}))
    return path


@pytest.fixture(scope="module")
def local_run(grid_file, quick_tasks, tmp_path_factory):
    """The grid on the local executor (in this process), its own embedding cache."""
    root = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
        with pytest.raises(SystemExit) as exc:
            main(["grid", str(grid_file), "--include-path", quick_tasks, "--output-path", str(root / "out"),
                  "--cache-dir", str(root / "cache")])
    assert exc.value.code == 0
    return root / "out"


@pytest.fixture(scope="module")
def slurm_run(slurm, local_run, grid_file, quick_tasks, tmp_path_factory):
    """The same grid through SLURM: two jobs (one per model) at once, a fresh shared embedding cache."""
    root = tmp_path_factory.mktemp("slurm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
        with pytest.raises(SystemExit) as exc:
            main(["grid", str(grid_file), "--executor", "slurm", "--include-path", quick_tasks,
                  "--output-path", str(root / "out"), "--cache-dir", str(root / "cache")])
    assert exc.value.code == 0
    return root


def test_slurm_grid_equals_local_number_for_number(slurm_run, local_run):
    local, remote = cells_of(local_run), cells_of(slurm_run / "out")
    assert len(local) == 4 and sorted(local) == sorted(remote)
    for cell in local:
        assert numbers(local[cell]) == numbers(remote[cell]), cell
        st = state(slurm_run / "out", cell)
        assert st["state"] == "done" and not st["job_id"].startswith("local-") and st["attempts"] == 1
    # one job per model load: the two cells of a model ran in one SLURM job
    jobs = json.loads((slurm_run / "out" / ".grid" / "submissions.json").read_text())["jobs"]
    assert len(jobs) == 2 and all(len(j["cells"]) == 2 for j in jobs)
    assert all(Path(j["log"]).is_file() for j in jobs)
    table = next((slurm_run / "out").glob("grid_*.md")).read_text()
    assert "| tiny |" in table and "| MiniLM |" in table and "failed" not in table


def test_two_jobs_embedding_the_same_clips_leave_one_valid_cache_entry(slurm_run):
    """Both jobs (run at once, one CPU each) embed the same clips with the same backbone into one cache."""
    import numpy as np

    from grounding_eval.cache import EmbeddingCache

    cache = slurm_run / "cache"
    rows = EmbeddingCache(cache).list_namespaces()
    perception = [r for r in rows if r["meta"].get("name") == "logmel" or "logmel" in json.dumps(r["meta"])]
    assert len(perception) == 1, [r["meta"] for r in rows]
    ns = cache / perception[0]["key"]
    shards = sorted(ns.glob("shard-*.npz"))
    keys: list[str] = []
    for shard in shards:
        with np.load(shard, allow_pickle=False) as z:
            assert np.all(np.isfinite(z["vectors"])) and len(z["keys"]) == len(z["vectors"])
            keys += z["keys"].tolist()
    assert len(keys) == len(set(keys)) == perception[0]["items"]  # every clip once: one entry per content
    assert not list(ns.glob(".tmp-*")), "a temporary file was left behind"
    # the two jobs (one per model) ran at the same time on the node's two CPUs
    jobs: dict[str, list[float]] = {}
    for c in cells_of(slurm_run / "out"):
        st = state(slurm_run / "out", c)
        span = jobs.setdefault(st["job_id"], [st["started"], st["finished"]])
        span[0], span[1] = min(span[0], st["started"]), max(span[1], st["finished"])
    (a0, a1), (b0, b1) = jobs.values()
    assert a0 < b1 and b0 < a1, jobs


def test_scancel_midway_then_rerun_recomputes_only_the_unfinished_cell(slurm, local_run, grid_file, quick_tasks,
                                                                       tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["grid", str(grid_file), "--executor", "slurm", "--models", "tiny", "--include-path", quick_tasks,
            "--output-path", str(out), "--cache-dir", str(cache)]
    code, printed, err = run_cli([*argv, "--no-wait"], capsys)
    assert code == 0, err
    job_id = json.loads((out / ".grid" / "submissions.json").read_text())["jobs"][0]["job_id"]
    first, second = "tiny__quick_freedesktop__task_s_own", "tiny__quick_distro__task_s_own"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for: first cell done, second running
        if (out / "cells" / first / "results.json").is_file() and (out / "cells" / second / "state.json").is_file():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the job never reached its second cell: {printed}")
    assert not (out / "cells" / second / "results.json").exists()
    subprocess.run(["scancel", job_id], check=True)
    while subprocess.run(["squeue", "-h", "-j", job_id.split("_")[0]], check=False, capture_output=True, text=True).stdout.strip():
        time.sleep(0.2)
    assert not (out / "cells" / second / "results.json").exists()  # the cancelled job lost its running cell
    code, printed, err = run_cli(["grid", "status", str(grid_file), "--models", "tiny", "--output-path", str(out),
                                  "--include-path", quick_tasks], capsys)
    assert code == 0 and "done" in printed and "interrupted" in printed, printed
    before = (out / "cells" / first / "results.json").stat()
    code, printed, err = run_cli(argv, capsys)
    assert code == 0, err
    after = (out / "cells" / first / "results.json").stat()
    recomputed = int((before.st_ino, before.st_mtime_ns) != (after.st_ino, after.st_mtime_ns))
    assert recomputed == 0 and state(out, first)["attempts"] == 1
    assert state(out, second)["attempts"] == 2 and state(out, second)["state"] == "done"
    assert "1 computed now, 1 already done" in printed
    local = cells_of(local_run)
    for cell, path in cells_of(out).items():
        assert numbers(path) == numbers(local[cell]), cell


def test_a_failing_cell_is_one_line_and_retried_only_when_asked(slurm, quick_tasks, tmp_path, capsys):
    grid = tmp_path / "bad.yaml"
    grid.write_text("name: bad\ntask: quick_freedesktop\nmodels: {absent: /nonexistent/model-dir}\nslurm: {time: 5}\n")
    out = tmp_path / "out"
    argv = ["grid", str(grid), "--executor", "slurm", "--include-path", quick_tasks, "--output-path", str(out)]
    code, printed, _ = run_cli(argv, capsys)
    cell = "absent__quick_freedesktop__task_s_own"
    lines = [ln for ln in printed.splitlines() if ln.startswith("failed: absent")]
    assert code == 1 and len(lines) == 1 and "no such directory" in lines[0], printed
    assert state(out, cell)["attempts"] == 1
    code, printed, _ = run_cli(argv, capsys)  # a rerun does not retry it ...
    assert code == 1 and "submitted SLURM job" not in printed and state(out, cell)["attempts"] == 1
    code, printed, _ = run_cli([*argv, "--retries", "1"], capsys)  # ... unless asked
    assert code == 1 and "submitted SLURM job" in printed and state(out, cell)["attempts"] == 2


def test_dry_run_prints_one_job_per_model_load_with_resources(capsys):
    code, out, err = run_cli(["grid", "paper", "--executor", "slurm", "--dry-run", "--gpus", "1", "--partition", "gpu",
                              "--sbatch=--qos=high"], capsys)
    assert code == 0, err
    assert "10 SLURM jobs" in out and "40 cells" in out and "partition=gpu" in out and "gpus=1" in out
    assert "qos=high" in out and "bert-base-uncased" in out


@pytest.mark.parametrize("argv, message", [
    (["--executor", "ray"], "argument --executor: invalid choice: 'ray' (choose from 'local', 'slurm')"),
    (["--time", "soon"], "--time: 'soon' is not a number"),
    (["--gpus", "-1"], "--gpus: must be a whole number >= 0, got -1"),
    (["--sbatch", "qos high"], "--sbatch: 'qos high' is not an sbatch option"),
    (["--mem-gb", "lots"], "--mem-gb: 'lots' is not a number; give a number of GB > 0"),
    (["--retries", "-1"], "argument --retries: -1 must be 0 or more"),
    (["--retries", "two"], "argument --retries: 'two' is not a whole number"),
    (["--parallel", "0"], "argument --parallel: 0 must be at least 1"),
])
def test_bad_executor_options_are_one_line(argv, message, capsys):
    code, _, err = run_cli(["grid", "paper", "--dry-run", *argv], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_bad_slurm_field_in_a_grid_file_is_one_line(tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ntask: distro_sounds_audio_probe\nmodels: {a: x}\nslurm: {gpu: 1}\n")
    code, _, err = run_cli(["grid", str(grid), "--dry-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and str(grid) in err and "slurm" in err and "gpus" in err, err
    grid.write_text("name: g\ntask: distro_sounds_audio_probe\nmodels: {a: x}\nslurm: {time: 0}\n")
    code, _, err = run_cli(["grid", str(grid), "--dry-run"], capsys)
    assert code == 2 and "field slurm.time: must be a whole number of minutes >= 1, got 0" in err, err
    grid.write_text("name: g\ntask: distro_sounds_audio_probe\nmodels: {a: x}\nslurm: {sbatch: [qos]}\n")
    code, _, err = run_cli(["grid", str(grid), "--dry-run"], capsys)
    assert code == 2 and f"{grid}: field slurm.sbatch: 'qos' is not an sbatch option" in err, err


def test_finished_check_redoes_a_cell_whose_task_model_args_or_identity_moved(local_run, tiny_bert, quick_tasks, tmp_path):
    """What a rerun skips: a cell whose results validate and carry the current task hash, model, model args
    and (inside the job) the loaded model's identity. Each of these moved alone makes the cell unfinished."""
    from grounding_eval.kinds.probe import cluster

    run = cluster.RunSpec(output_dir=str(tmp_path / "out"), include_paths=(quick_tasks,))
    shutil.copytree(local_run, run.out)  # a copy: the other tests read the fixture's cells
    job = cluster.plan_jobs({"tiny": tiny_bert, "MiniLM": MINILM}, {}, TASKS, {"task's own": None})[0]
    cell = job.cells[0]
    hashes = cluster.task_hashes(job.cells, run)
    data = json.loads((cluster.cell_dir(run, cell) / "results.json").read_text())
    identity = data["model"]["identity"]
    assert cluster.finished(run, cell, hashes[cell.id]) and cluster.finished(run, cell, hashes[cell.id], identity)
    # the task changed (another hash) / a task that no longer resolves
    assert not cluster.finished(run, cell, "0" * 64) and not cluster.finished(run, cell, ValueError("bad task"))
    # the loaded model is not the one the results were computed with (same name, other weights)
    assert not cluster.finished(run, cell, hashes[cell.id], {**identity, "weights_sha256": "f" * 64})
    # same label and task, other model args: another cell spec than the state recorded
    other_args = cluster.CellSpec(cell.model_label, cell.model, "layer=1", cell.task, cell.backbone_label, cell.backbone)
    assert not cluster.finished(run, other_args, hashes[cell.id])
    # results of another model under this cell's folder (the state says this cell)
    foreign = {**data, "model": {**data["model"], "name": "someone/else"}}
    results = cluster.cell_dir(run, cell) / "results.json"
    results.write_text(json.dumps(foreign))
    assert not cluster.finished(run, cell, hashes[cell.id])
    results.write_text("{ cut short")  # a torn or edited file is never a finished cell
    assert not cluster.finished(run, cell, hashes[cell.id])
    results.write_text(json.dumps(data))
    assert cluster.finished(run, cell, hashes[cell.id])
