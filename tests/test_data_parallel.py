"""Data parallel (`accelerate launch`, torchrun) without GPUs: which device each process takes, what is
refused, that ranks with different caches agree on the work, and that one process speaks.

The device rules are checked with mocked GPU counts and a mocked accelerate state (a real one would form a
process group); the cache agreement and the one-process housekeeping run two real gloo processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grounding_eval import parallel
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text import parallel as text_parallel

REPO = Path(__file__).resolve().parents[1]


def _launched(monkeypatch, local: int, visible: int) -> None:
    """What `accelerate launch` sets for local process `local` on a node with `visible` GPUs (mocked)."""
    world = max(2, local + 1)
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(local))
    monkeypatch.setenv("LOCAL_RANK", str(local))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    monkeypatch.setattr(parallel, "accelerate_state", lambda: SimpleNamespace(local_process_index=local,
                                                                              process_index=local, num_processes=world),
                        raising=False)
    # accelerate's own device for this process (its formula: local index modulo the visible GPUs)
    monkeypatch.setattr(text_parallel, "current_world", lambda: text_parallel.World(local, world, f"cuda:{local % visible}"))


def _text_device(device: str | None) -> str:
    """The device the text encoder picks (its model load is mocked away by `no_load`)."""
    from grounding_eval.text.hf import HFTextEncoder

    return HFTextEncoder("unused", **({} if device is None else {"device": device})).device


@pytest.fixture
def no_load(monkeypatch):
    """The text encoder's constructor without a model: no weights are needed to pick a device."""
    from grounding_eval.text import hf

    monkeypatch.setattr(hf.HFTextEncoder, "_load", lambda self, dtype: None)
    monkeypatch.setattr(hf, "resolve_model", lambda *a: None)


@pytest.mark.parametrize("local, visible, expected", [
    (1, 1, "cuda:0"),  # SLURM: one visible GPU per process
    (3, 8, "cuda:3"),  # one node, eight GPUs
    (5, 4, "cuda:1"),  # two processes share each GPU
])
def test_audio_and_text_take_the_same_rank_device(monkeypatch, no_load, local, visible, expected):
    """Item 5 of issue 17: the audio side asked for cuda:LOCAL_RANK (an invalid ordinal with one visible GPU)."""
    from grounding_eval.audio.logmel import LogMelBackbone

    _launched(monkeypatch, local, visible)
    assert LogMelBackbone(device="cuda").device == expected
    assert _text_device("cuda") == expected
    assert _text_device(None) == expected


def test_an_explicit_gpu_that_is_not_the_process_own_is_refused(monkeypatch, no_load):
    """`--device cuda:0` under a 2-process launch used to put both processes on GPU 0, silently."""
    from grounding_eval.audio.logmel import LogMelBackbone

    _launched(monkeypatch, 1, 2)
    with pytest.raises(GroundingEvalError, match=r"--device cuda:0: .*WORLD_SIZE=2.* cuda:1") as exc:
        LogMelBackbone(device="cuda:0")
    assert "\n" not in str(exc.value)
    with pytest.raises(GroundingEvalError, match="--device cuda:0"):
        _text_device("cuda:0")
    assert LogMelBackbone(device="cuda:1").device == "cuda:1"  # its own GPU, named: fine
    assert LogMelBackbone(device="cpu").device == "cpu"
    _launched(monkeypatch, 1, 1)  # one visible GPU per process: cuda:0 IS this process's own
    assert LogMelBackbone(device="cuda:0").device == "cuda:0"


def test_device_map_under_a_launch_is_refused(monkeypatch, no_load):
    """Item 2: with device_map every process would shard its own full copy over all the node's GPUs."""
    from grounding_eval.text.hf import HFTextEncoder

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")

    def no_process_group():
        raise AssertionError("the refusal must come before any collective")
    monkeypatch.setattr(parallel, "accelerate_state", no_process_group, raising=False)
    monkeypatch.setattr(text_parallel, "current_world", no_process_group)
    with pytest.raises(GroundingEvalError, match=r"device_map=auto: .*WORLD_SIZE=2") as exc:
        HFTextEncoder("m", device_map="auto")
    assert "\n" not in str(exc.value)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(text_parallel, "current_world", text_parallel.World)
    monkeypatch.setattr(parallel, "accelerate_state", lambda: None, raising=False)
    assert HFTextEncoder("m", device_map="auto").device_map == "auto"  # one process may shard


# -- ranks with different caches (item 3) ----------------------------------------------------------

TEXT_SCRIPT = """
import json, sys
import numpy as np
from rich.console import Console
from grounding_eval.cache import EmbeddingCache
from grounding_eval.progress import Reporter
from grounding_eval.embedding import text_vectors
from grounding_eval.text.hf import make_hf_encoder
model, cache_root, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
enc = make_hf_encoder(model, batch_size=8)
texts = [f"the sound of thing number {i}" for i in range(n)]
vecs, stats = text_vectors(enc, texts, [(0, 3)] * n, EmbeddingCache(cache_root), Reporter(Console(), False), "t")
np.save(out + ".npy", vecs)
with open(out + ".json", "w") as f:
    json.dump({"rank": enc.world.index, "size": enc.world.size, "stats": stats}, f)
"""


def _free_port() -> int:
    with socket.socket() as s:  # a fixed port can be taken on a shared machine
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(argv_of_rank, env: dict[str, str], timeout: float, world: int = 2,
            per_rank=lambda r: {}) -> list[subprocess.CompletedProcess]:
    """`world` processes as `accelerate launch` starts them (RANK, WORLD_SIZE, a rendezvous); all killed at
    `timeout` (a hang fails the test instead of stalling it)."""
    port = _free_port()
    procs = [subprocess.Popen(argv_of_rank(r), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(world),
                                   "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
                                   "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1", **per_rank(r)})
             for r in range(world)]
    done = []
    try:
        for r, p in enumerate(procs):
            out, err = p.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"the {world} processes did not finish within {timeout:.0f} s (a hang)")
    return done


def test_ranks_with_different_caches_agree_on_the_missing_text(tmp_path, tiny_bert):
    """Each text batch is a collective (split + gather): rank 0 finding part of it cached and rank 1 none
    made them call it a different number of times (wrong vectors, then a hang). Now they agree on the
    missing set first and end with the same vectors as one process."""
    from rich.console import Console

    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.embedding import text_vectors
    from grounding_eval.progress import Reporter
    from grounding_eval.text.hf import SHARD_MIN, make_hf_encoder

    n = SHARD_MIN + 40  # two cache batches
    texts = [f"the sound of thing number {i}" for i in range(n)]
    quiet = Reporter(Console(), False)
    enc = make_hf_encoder(tiny_bert, batch_size=8)
    # Rank 0's cache holds the first batch; rank 1 has its own, empty cache (per-node caches).
    text_vectors(enc, texts[:SHARD_MIN], [(0, 3)] * SHARD_MIN, EmbeddingCache(tmp_path / "c0"), quiet, "t")
    single, _ = text_vectors(enc, texts, [(0, 3)] * n, EmbeddingCache(tmp_path / "single"), quiet, "t")
    (tmp_path / "dp.py").write_text(TEXT_SCRIPT)
    runs = _launch(lambda r: [sys.executable, str(tmp_path / "dp.py"), tiny_bert, str(tmp_path / f"c{r}"),
                              str(tmp_path / f"out{r}"), str(n)], dict(os.environ), timeout=300)
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    ranks = [json.loads((tmp_path / f"out{r}.json").read_text()) for r in range(2)]
    assert [(x["rank"], x["size"]) for x in ranks] == [(0, 2), (1, 2)]
    assert ranks[0]["stats"] == ranks[1]["stats"] == {"cached": 0, "computed": n}  # the union was computed
    for r in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f"out{r}.npy"), single, atol=1e-5)


def test_waiting_for_other_processes_shards_is_bounded_and_says_why(tmp_path, monkeypatch):
    """The audio side reads the other processes' shards from the shared cache: a cache they do not share
    (per-node disks) used to mean a 24-hour wait and a bare RuntimeError."""
    from grounding_eval.cache import EmbeddingCache

    monkeypatch.setenv("GROUNDING_EVAL_DP_TIMEOUT", "2")
    cache = EmbeddingCache(tmp_path / "c")
    compute = lambda items, progress: np.ones((len(items), 3), np.float32)  # noqa: E731
    with pytest.raises(GroundingEvalError, match=r"1 embeddings? from the other processes did not appear in .* for 2 s: .*GROUNDING_EVAL_DP_TIMEOUT") as exc:
        cache.embed("k", {}, ["a", "b"], ["a", "b"], compute, 1, world=(0, 2))  # rank 1 never writes "b"
    assert "\n" not in str(exc.value) and str(tmp_path / "c") in str(exc.value)


def test_the_wait_counts_from_the_last_shard_that_arrived(tmp_path, monkeypatch):
    """A slow but working peer is not a dead one: the limit is time without any new shard."""
    import threading
    import time

    from grounding_eval.cache import EmbeddingCache

    monkeypatch.setenv("GROUNDING_EVAL_DP_TIMEOUT", "3")
    cache = EmbeddingCache(tmp_path / "c")
    compute = lambda items, progress: np.ones((len(items), 3), np.float32)  # noqa: E731
    peer = cache.namespace("k", {})

    def rank1() -> None:  # writes its two batches 2 s apart: 4 s in all, never 3 s without a new one
        for key in ("b", "d"):
            time.sleep(2)
            peer.write([key], np.full((1, 3), 2, np.float32))
    t = threading.Thread(target=rank1)
    t.start()
    try:
        out, stats = cache.embed("k", {}, list("abcd"), list("abcd"), compute, 1, world=(0, 2))
    finally:
        t.join()
    assert out[:, 0].tolist() == [1, 2, 1, 2] and stats == {"cached": 0, "computed": 4}


# -- one process speaks, builds first, and tears down (item 9) --------------------------------------

# The CLI, with each dataset build counted per process (written at exit).
COUNTING_CLI = ("import atexit, os, runpy, sys; import grounding_eval.data.distro_sounds as d; n = [0]; real = d._build_atomically; "
                "d._build_atomically = lambda *a: (n.__setitem__(0, n[0] + 1), real(*a))[1]; "
                "atexit.register(lambda: open(os.environ['BUILDS_FILE'], 'w').write(str(n[0]))); "
                "sys.argv[0] = 'grounding-eval'; runpy.run_module('grounding_eval', run_name='__main__')")


def test_one_process_prints_and_builds_the_dataset_first(tmp_path, quick_tasks, tiny_bert):
    """Under a 2-process launch sharing one cache: rank 0 alone prints the table, bars and notes, and
    builds the offline dataset; rank 1 waits for it and finds it built (it used to build its own copy at
    the same time and race it to the same rename)."""
    cache = tmp_path / "cache"

    def argv(r: int) -> list[str]:
        return [sys.executable, "-c", COUNTING_CLI, "--model", tiny_bert, "--task", "quick_freedesktop",
                "--include-path", quick_tasks, "--audio-backbone", "logmel", "--num-runs", "1",
                "--output-path", str(tmp_path / f"rank{r}.json")]
    env = {**os.environ, "GROUNDING_EVAL_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "GROUNDING_EVAL_DP_TIMEOUT": "600"}
    runs = _launch(argv, env, timeout=600, per_rank=lambda r: {"BUILDS_FILE": str(tmp_path / f"builds{r}")})
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    builds = [int((tmp_path / f"builds{r}").read_text()) for r in range(2)]
    assert builds == [1, 0]
    # gloo's own connection line is printed by every process (C++, not ours)
    out0, out1 = ("\n".join(x for x in run.stdout.splitlines() if not x.startswith("[Gloo]")) for run in runs)
    assert "quick_freedesktop" in out0 and "results written to" in out0
    err1 = runs[1].stderr
    assert out1.strip() == "" and "text: " not in err1 and "building dataset" not in err1, (out1, err1[-500:])
    assert (tmp_path / "rank0.json").exists() and not (tmp_path / "rank1.json").exists()


def test_the_cli_tears_the_process_group_down(tmp_path):
    import torch.distributed as dist

    from grounding_eval.cli.main import main

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        with pytest.raises(SystemExit) as exc:
            main(["tasks"])
        assert exc.value.code == 0
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
