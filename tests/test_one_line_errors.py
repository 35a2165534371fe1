"""Bad input and a hostile machine end in one line naming what to fix, never a traceback: unknown dataset
options of every builder, a full disk while the cache writes, a missing backbone checkpoint (reported
before the text model loads); and skip reasons read the same in every run (no object addresses)."""

from __future__ import annotations

import errno
import importlib
import inspect

import numpy as np
import pytest

from grounding_eval import plugins
from grounding_eval.errors import GroundingEvalError


def _builder(entry):
    target = getattr(entry.obj, "target", None)
    return getattr(importlib.import_module(target[0]), target[1]) if target else entry.obj


def test_no_dataset_builder_hides_its_options_from_the_registry_check():
    """The registry checks dataset args against the builder's signature; a **options parameter would let
    any typo through to a TypeError inside the builder."""
    entries = plugins.registries().datasets.entries()
    assert {"esc50", "urbansound8k", "fsd50k", "audiofolder", "csv_manifest", "distro_sounds"} <= {e.name for e in entries}
    for entry in entries:
        params = inspect.signature(_builder(entry)).parameters.values()
        assert not [p for p in params if p.kind is p.VAR_KEYWORD], entry.name


@pytest.mark.parametrize("name", ["esc50", "urbansound8k"])
def test_a_typo_in_a_fold_dataset_option_is_one_line(name, tmp_path):
    regs = plugins.registries()
    with pytest.raises(GroundingEvalError) as info:
        regs.datasets.build(name, {"root": str(tmp_path), "max_clip_per_class": 3}, "task t: dataset.args")
    msg = str(info.value)
    assert msg.startswith("task t: dataset.args.max_clip_per_class: unknown arg of dataset " + name)
    assert "did you mean 'max_clips_per_class'?" in msg and "\n" not in msg
    with pytest.raises(GroundingEvalError, match="check_audio must be true or false"):
        regs.datasets.build(name, {"root": str(tmp_path), "check_audio": "no"}, "task t: dataset.args")


def test_skip_reasons_carry_no_object_addresses(tmp_path):
    from grounding_eval.data.clips import ClipCheck, inspect_file

    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    reasons = {inspect_file(str(bad), ClipCheck()).reason for _ in range(3)}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert reason.startswith("unreadable (") and "0x" not in reason and "object at" not in reason, reason


def test_a_full_disk_while_the_cache_writes_a_shard_is_one_line(tiny_bert, quick_tasks, tmp_path, monkeypatch, capsys):
    from grounding_eval.cli import main

    real_savez = np.savez

    def full_disk(f, **arrays):
        real_savez(f, **arrays)  # the bytes go out, then the disk is full before the end
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    cache = tmp_path / "cache"
    with pytest.raises(SystemExit) as exc:
        main(["--model", tiny_bert, "--task", "quick_freedesktop", "--include-path", quick_tasks,
              "--cache-dir", str(cache), "--num-runs", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "cannot write a shard in" in err and str(cache) in err and "No space left on device" in err
    assert not [p for p in cache.rglob("*") if p.name.startswith(".tmp-") or p.name.startswith("shard-")]


def test_a_missing_backbone_checkpoint_is_reported_before_the_text_model_loads(tiny_bert, quick_tasks, tmp_path,
                                                                                monkeypatch):
    pytest.importorskip("grounding_eval_passt")
    from grounding_eval.kinds.probe.runner import evaluate
    from grounding_eval.text import hf

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no checkpoint there; HF_HUB_OFFLINE=1: no download
    loaded: list[str] = []
    real_init = hf.HFTextEncoder.__init__
    monkeypatch.setattr(hf.HFTextEncoder, "__init__", lambda self, *a, **k: loaded.append("text") or real_init(self, *a, **k))
    with pytest.raises(GroundingEvalError, match="needs its published checkpoint") as info:
        evaluate(tiny_bert, "quick_freedesktop", include_paths=[quick_tasks], audio_backbone="passt",
                 show_progress=False, cache_dir=str(tmp_path / "cache"))
    assert loaded == [] and "\n" not in str(info.value)
