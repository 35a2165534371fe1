"""`accelerate launch` on two GPUs gives the results of one GPU (issue 17 items 3, 5, 9): each process takes
its own GPU, the ranks agree on the missing work, one process writes and prints; and `--device cuda:0` under
the launch is refused instead of stacking both processes on GPU 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gpu_helpers import NEEDS_TWO_GPUS

pytestmark = NEEDS_TWO_GPUS


def _numbers(node, out: list[float]) -> list[float]:
    """Every number in a results section, in a fixed order."""
    if isinstance(node, dict):
        for k in sorted(node):
            _numbers(node[k], out)
    elif isinstance(node, list):
        for v in node:
            _numbers(v, out)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out.append(float(node))
    return out


def _run(argv: list[str], cache: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "GROUNDING_EVAL_CACHE": cache, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


def test_two_gpus_give_the_results_of_one(tmp_path, tiny_bert, quick_tasks):
    task = ["--model", tiny_bert, "--task", "quick_freedesktop", "--include-path", quick_tasks,
            "--audio-backbone", "logmel", "--num-runs", "2"]
    one = _run([sys.executable, "-m", "grounding_eval", *task, "--device", "cuda:0",
                "--output-path", str(tmp_path / "one.json")], str(tmp_path / "cache-one"))
    assert one.returncode == 0, one.stderr[-2000:]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "-m",
              "grounding_eval"]
    two = _run([*launch, *task, "--output-path", str(tmp_path / "two.json")], str(tmp_path / "cache-two"))
    assert two.returncode == 0, two.stderr[-2000:]
    a = json.loads((tmp_path / "one.json").read_text())["results"]
    b = json.loads((tmp_path / "two.json").read_text())["results"]
    assert a.keys() == b.keys()
    assert _numbers(a, []) == pytest.approx(_numbers(b, []), rel=1e-4, abs=1e-5)
    assert two.stdout.count("quick_freedesktop") == one.stdout.count("quick_freedesktop")  # one table, not two

    refused = _run([*launch, *task, "--device", "cuda:0"], str(tmp_path / "cache-two"), timeout=600)
    # rank 1 exits 2 with the one line; the launcher itself reports a failed child with its own code
    assert refused.returncode != 0 and "each process takes its own GPU" in refused.stderr
