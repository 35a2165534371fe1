"""The clip options are one type shared by every clip dataset, under one set of names; the old name still
works (with a note in a user's task file), and the shipped tasks' identities did not move with the change."""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from grounding_eval import plugins
from grounding_eval.data import distro_sounds as ds
from grounding_eval.data.local import build_audiofolder
from grounding_eval.data.options import ClipOptions
from grounding_eval.errors import GroundingEvalError
from grounding_eval.tasks.config import load_task_file

REPO = Path(__file__).resolve().parent.parent
CLIP_BUILDERS = ("audiofolder", "csv_manifest", "esc50", "urbansound8k", "fsd50k", "distro_sounds")
ALL_INSTALLED = all(any(Path(c).is_dir() for c in cands) for cands in ds.PACKAGE_ROOTS.values())


def _folder(root: Path, sizes: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for label, n in sizes.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            sf.write(root / label / f"{i}.wav", 0.3 * rng.standard_normal(1600), 16000)
    return root


def test_every_clip_builder_takes_the_same_clip_options():
    regs = plugins.registries()
    for name in CLIP_BUILDERS:
        params = inspect.signature(regs.datasets.get(name).obj).parameters
        for field, info in ClipOptions.model_fields.items():
            assert field in params, (name, field)
            default = False if (name, field) == ("distro_sounds", "check_audio") else info.default
            assert params[field].default == default, (name, field)


def test_old_name_still_works_in_a_builder(tmp_path):
    root = _folder(tmp_path / "af", {"a": 1, "b": 2, "c": 2})
    new = build_audiofolder(str(root), min_clips_per_class=2)
    with pytest.warns(DeprecationWarning, match="min_clips_per_concept is now called min_clips_per_class"):
        old = build_audiofolder(str(root), min_clips_per_concept=2)
    assert old.concept_names() == new.concept_names() == ["b", "c"]
    assert old.fingerprint() == new.fingerprint()
    assert [s.reason for s in new.skipped] == ["class dropped (1 usable clip(s), fewer than 2 = min_clips_per_class)"]
    with pytest.raises(GroundingEvalError, match="give min_clips_per_class or its old name min_clips_per_concept, not both"):
        build_audiofolder(str(root), min_clips_per_class=2, min_clips_per_concept=2)


def test_a_bad_clip_option_is_one_line_naming_the_field(tmp_path):
    root = _folder(tmp_path / "af", {"a": 1})
    regs = plugins.registries()
    for args, message in (({"min_clips_per_class": 0}, "must be an integer >= 1, got 0"),
                          ({"max_clips_per_class": 0}, "must be an integer >= 1, or null (no cap), got 0"),
                          ({"min_seconds": -1.0}, "must be a number >= 0, got -1.0")):
        with pytest.raises(GroundingEvalError) as info:
            regs.datasets.build("audiofolder", {"root": str(root), **args}, "task t: dataset.args")
        field = next(iter(args))
        assert str(info.value).startswith(f"task t: dataset.args.{field} {message}"), str(info.value)
        with pytest.raises(GroundingEvalError, match=re.escape(f"build_audiofolder: {field} {message}")):
            build_audiofolder(str(root), **args)  # the same check for a direct Python call


def test_a_users_task_file_with_the_old_name_gets_one_note(tmp_path, capsys):
    task = tmp_path / "mine.yaml"
    task.write_text("include: _audio_probe_base.yaml\ntask: mine\nversion: 1\n"
                    "dataset:\n  name: distro_sounds\n  args:\n    edition: 1\n    min_clips_per_concept: 2\n")
    cfg = load_task_file(task)
    load_task_file(task)  # once per place, however often the file is loaded
    err = capsys.readouterr().err.splitlines()
    assert err == [f"grounding-eval: note: {task}:8: dataset.args.min_clips_per_concept is now called "
                   "min_clips_per_class; write min_clips_per_class (the old name still works)"]
    assert cfg.dataset.args == {"edition": 1, "min_clips_per_concept": 2}  # as written: the hash covers it
    load_task_file(REPO / "tasks" / "distro_sounds_audio_probe.yaml")  # shipped: its spelling is frozen
    assert capsys.readouterr().err == ""


# The identities of the shipped probe tasks: their hashes (which leaderboard entries and the golden result
# carry) and, where the data is installed here, their datasets' fingerprints.
SHIPPED_HASHES = {
    "tasks/distro_sounds_audio_probe.yaml": "19ae864d4606",
    "tasks/archive/distro_sounds_audio_probe@3.yaml": "a4a076d52c7b",
    "tasks/fsd50k_audio_probe.yaml": "c701df488d66",
    "plugins/grounding-eval-colour/grounding_eval_colour/tasks/xkcd_color_probe.yaml": "07526ac5b038",
    "plugins/grounding-eval-colour/grounding_eval_colour/tasks/munsell_color_probe.yaml": "e20d71f576f9",
}


@pytest.mark.parametrize("path, digest", SHIPPED_HASHES.items())
def test_shipped_task_hashes(path, digest):
    assert load_task_file(REPO / path).content_hash()[:12] == digest


@pytest.mark.skipif(not ALL_INSTALLED, reason="needs the Debian sound packages: bash .ci/install")
def test_shipped_distro_sounds_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(tmp_path))
    regs = plugins.registries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for path, fingerprint in (("tasks/distro_sounds_audio_probe.yaml", "7428204f787b"),
                                  ("tasks/archive/distro_sounds_audio_probe@3.yaml", "0dfde22c2dea")):
            cfg = load_task_file(REPO / path)
            data = regs.datasets.build(cfg.dataset.name, cfg.dataset.args, path)
            assert data.fingerprint()[:12] == fingerprint, path
