"""Killing a run during audio embedding (SIGKILL, no cleanup) and running it again: the rerun computes
only the missing shards and ends with the same numbers as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

N_CLIPS = 72  # quick_distro: 12 concepts, 72 clips; batch size 1 = one shard per clip


def _cmd(quick_tasks: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "grounding_eval", "--model", "sentence-transformers/all-MiniLM-L6-v2",
            "--task", "quick_distro", "--include-path", quick_tasks, "--audio-backbone", "logmel",
            "--batch-size", "1", "--quiet", "--output-path", str(out)]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "GROUNDING_EVAL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}


def _audio_shards(cache: Path) -> set[str]:
    shards: set[str] = set()
    for meta in (cache / "embeddings").glob("*/meta.json"):
        if json.loads(meta.read_text()).get("name") == "logmel":
            shards |= {p.name for p in meta.parent.glob("shard-*.npz")}
    return shards


def test_sigkill_during_audio_embedding_then_resume(tmp_path, quick_tasks):
    cache = tmp_path / "cache"
    # Build the dataset and the text embeddings first, so the kill lands in the audio embedding.
    proc = subprocess.Popen(_cmd(quick_tasks, tmp_path / "killed.json"), env=_env(cache), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(_audio_shards(cache)) < 6:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its decoding workers, with no chance to clean up
    proc.wait()
    before = _audio_shards(cache)
    assert 6 <= len(before) < N_CLIPS, f"killed with {len(before)} of {N_CLIPS} shards"
    assert not (tmp_path / "killed.json").exists()

    resumed = subprocess.run(_cmd(quick_tasks, tmp_path / "resumed.json"), env=_env(cache), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _audio_shards(cache)
    assert before <= after and len(after) == N_CLIPS
    res = json.loads((tmp_path / "resumed.json").read_text())
    stats = res["tasks"]["quick_distro"]["cache"]["perception"]
    # Only what was missing was computed: one new shard per clip not cached at the kill.
    assert stats == {"cached": len(before), "computed": N_CLIPS - len(before)}
    assert len(after - before) == N_CLIPS - len(before)

    fresh = subprocess.run(_cmd(quick_tasks, tmp_path / "fresh.json"), env=_env(tmp_path / "other-cache"),
                           capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    ref = json.loads((tmp_path / "fresh.json").read_text())
    assert ref["tasks"]["quick_distro"]["cache"]["perception"] == {"cached": 0, "computed": N_CLIPS}
    assert res["results"] == ref["results"]
    assert [r["probe"] for r in res["tasks"]["quick_distro"]["runs"]] == [r["probe"] for r in ref["tasks"]["quick_distro"]["runs"]]


def test_data_parallel_processes_split_the_clips_and_agree(tmp_path, quick_tasks):
    """What `accelerate launch --num_processes 2` sets up (RANK, WORLD_SIZE, LOCAL_RANK): each process
    embeds its share of the batches into the shared cache (each clip's forward runs in exactly one
    process, counted), reads the others' shards, and only rank 0 writes results, which equal a
    single-process run."""
    cache = tmp_path / "cache"

    def cmd(task_out: Path) -> list[str]:
        # The CLI, with the backbone's forward counted per process (clips embedded, written at exit).
        counted = ("import atexit, os, runpy, sys; from grounding_eval.audio.logmel import LogMelBackbone as B; n = [0]; "
                   "real = B.embed_waveforms; B.embed_waveforms = lambda self, w: (n.__setitem__(0, n[0] + len(w)), real(self, w))[1]; "
                   "atexit.register(lambda: open(os.environ['FORWARDS_FILE'], 'w').write(str(n[0]))); "
                   "sys.argv[0] = 'grounding-eval'; runpy.run_module('grounding_eval', run_name='__main__')")
        return [sys.executable, "-c", counted, "--model", "sentence-transformers/all-MiniLM-L6-v2",
                "--task", "quick_freedesktop", "--include-path", quick_tasks, "--audio-backbone", "logmel",
                "--batch-size", "1", "--quiet", "--output-path", str(task_out)]

    import socket

    with socket.socket() as s:  # a free port for the rendezvous, as a launcher would pick
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen(cmd(tmp_path / f"rank{r}.json"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**_env(cache), "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                   "GROUNDING_EVAL_DP_TIMEOUT": "600", "FORWARDS_FILE": str(tmp_path / f"forwards{r}")})
             for r in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-2000:]
    assert (tmp_path / "rank0.json").exists() and not (tmp_path / "rank1.json").exists()
    assert len(_audio_shards(cache)) == 12
    forwards = [int((tmp_path / f"forwards{r}").read_text()) for r in (0, 1)]
    assert forwards == [6, 6]  # batches of one alternate between the ranks: no clip is embedded twice
    single = subprocess.run(cmd(tmp_path / "single.json"), capture_output=True, text=True,
                            env={**_env(tmp_path / "c1"), "FORWARDS_FILE": str(tmp_path / "forwards-single")})
    assert single.returncode == 0, single.stderr[-2000:]
    assert int((tmp_path / "forwards-single").read_text()) == 12
    a = json.loads((tmp_path / "rank0.json").read_text())
    b = json.loads((tmp_path / "single.json").read_text())
    assert a["results"] == b["results"]


def test_run_key_follows_a_metric_edited_in_place(tmp_path, monkeypatch):
    """A plugin's metric edited in its file (same package version) must not replay runs scored by the old code:
    the run store's key holds each metric's source-file hash."""
    import dataclasses
    import importlib.util

    from grounding_eval import plugins
    from grounding_eval.kinds.probe.config import TaskConfig
    from grounding_eval.kinds.probe.steps import RunStore, metric_code
    from grounding_eval.registry import Registry

    src = tmp_path / "my_metric.py"
    src.write_text("def top1(s, y):\n    return {'top1': float((s.argmax(1) == y).mean())}\n"
                   "def chance(n):\n    return {'top1': 1 / n}\n")
    spec = importlib.util.spec_from_file_location("my_metric", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    regs = plugins.registries()
    metrics = Registry("metric", "")
    metrics.add("top1", mod.top1, plugin="local", chance=mod.chance)
    monkeypatch.setattr(plugins, "registries", lambda: dataclasses.replace(regs, metrics=metrics))
    cfg = TaskConfig(task="t", version=1, dataset={"name": "d"}, metrics={"top1": {}}, main_metric="top1")
    import numpy as np

    mats = {"probe": np.eye(3, dtype=np.float32)}
    before = RunStore.of(tmp_path, cfg, mats, np.eye(3, dtype=np.float32), np.arange(3), None).dir
    assert RunStore.of(tmp_path, cfg, mats, np.eye(3, dtype=np.float32), np.arange(3), None).dir == before
    code = metric_code(cfg)
    src.write_text(src.read_text().replace("argmax(1) == y", "argmax(1) != y"))  # the edit a user makes in place
    assert metric_code(cfg) != code
    assert RunStore.of(tmp_path, cfg, mats, np.eye(3, dtype=np.float32), np.arange(3), None).dir != before


def test_run_key_follows_a_helper_the_metric_imports(tmp_path, monkeypatch):
    """A local plugin's metric that calls a helper in another file: editing only the helper moves the key; editing
    a file the metric never reaches, or an installed library, does not."""
    import dataclasses
    import importlib

    import numpy as np

    from grounding_eval import plugins
    from grounding_eval.code_digest import source_files
    from grounding_eval.kinds.probe.config import TaskConfig
    from grounding_eval.kinds.probe.steps import RunStore, metric_code
    from grounding_eval.registry import Registry

    # metric -> helpers.hits (an attribute of a module it names) -> same (imported by name into helpers)
    (tmp_path / "resume_deeper.py").write_text("def same(a, b):\n    return a == b\n")
    (tmp_path / "resume_helpers.py").write_text("from resume_deeper import same\n"
                                                "def hits(s, y):\n    return same(s.argmax(1), y)\n")
    (tmp_path / "resume_unrelated.py").write_text("X = 1\n")
    (tmp_path / "resume_metric.py").write_text(
        "import numpy as np\nimport resume_helpers\nimport resume_unrelated\n"
        "def top1(s, y):\n    return {'top1': float(np.mean(resume_helpers.hits(s, y)))}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("resume_metric")
    assert sorted(p.name for p in source_files(mod.top1)) == ["resume_deeper.py", "resume_helpers.py", "resume_metric.py"]
    assert source_files(mod.top1)[0].name == "resume_metric.py"
    regs = plugins.registries()
    metrics = Registry("metric", "")
    metrics.add("top1", mod.top1, plugin="local")
    monkeypatch.setattr(plugins, "registries", lambda: dataclasses.replace(regs, metrics=metrics))
    cfg = TaskConfig(task="t", version=1, dataset={"name": "d"}, metrics={"top1": {}}, main_metric="top1")
    mats = {"probe": np.eye(3, dtype=np.float32)}
    before = RunStore.of(tmp_path, cfg, mats, np.eye(3, dtype=np.float32), np.arange(3), None).dir
    code = metric_code(cfg)
    (tmp_path / "resume_unrelated.py").write_text("X = 2\n")  # imported, but top1 never names it
    assert metric_code(cfg) == code
    (tmp_path / "resume_deeper.py").write_text("def same(a, b):\n    return a != b\n")  # two files away
    assert metric_code(cfg) != code
    assert RunStore.of(tmp_path, cfg, mats, np.eye(3, dtype=np.float32), np.arange(3), None).dir != before
