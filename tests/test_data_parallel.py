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

