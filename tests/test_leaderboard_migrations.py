"""Leaderboard files keep no local paths: the versioned migration, submit and build (leaderboard/migrations.py).

The migration runs on copies of the committed leaderboard as it was before it (format 1: the golden and
entries as first committed, dataset roots of the machines that ran them inside), so a test fails if a path
survives, a number moves, or a rerun changes anything.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard import migrations
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.migrations import (CURRENT, FORMAT_FILE, is_local_path_value, local_paths, migrate,
                                                   read_format, withhold_local_paths)
from grounding_eval.leaderboard.submit import submit

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
TASK = "distro_sounds_audio_probe"


def format1(data: dict, root: str = "/home/someone/.cache/grounding-eval/datasets/distro_sounds_2") -> dict:
    """A file as format 1 wrote it: the dataset root of the machine that ran it in every task's provenance."""
    data = copy.deepcopy(data)
    for t in data["tasks"].values():
        t["dataset"]["provenance"]["root"] = root
    return data


def numbers(data) -> list:
    """Every number in a file, by key path: what a migration must never move."""
    if isinstance(data, dict):
        return [n for k in sorted(data) for n in numbers(data[k])]
    if isinstance(data, list):
        return [n for v in data for n in numbers(v)]
    return [data] if isinstance(data, (int, float)) and not isinstance(data, bool) else []


@pytest.mark.parametrize("value, local", [
    ("/root/.cache/x", True), ("~/data", True), ("./data", True), ("../data", True), ("C:\\data\\x", True),
    ("\\\\server\\share", True), ("org/name", False), ("distro_sounds_2", False), ("<local>/distro_sounds_2", False),
    ("accuracy@3", False), ("FluidSynth runtime version 2.3.1", False), ("", False)])
def test_what_counts_as_a_local_path(value, local):
    assert is_local_path_value(value) is local


def test_withholding_keeps_the_last_part_and_leaves_task_configs_alone():
    data = {"model": {"identity": {"source": "/data/vectors/glove.6B.50d.txt"}},
            "tasks": {TASK: {"config": {"dataset": {"args": {"root": "/mine"}}}, "hash": "/not-a-path-but-hashed",
                             "dataset": {"provenance": {"root": "/root/.cache/ds/distro_sounds_2/",
                                                        "soundfont": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
                                                        "list": ["/a/b.wav", "kept"]}}}}}
    out = withhold_local_paths(data)
    prov = out["tasks"][TASK]["dataset"]["provenance"]
    assert prov == {"root": "<local>/distro_sounds_2", "soundfont": "<local>/FluidR3_GM.sf2", "list": ["<local>/b.wav", "kept"]}
    assert out["model"]["identity"]["source"] == "<local>/glove.6B.50d.txt"
    # the task config is covered by the task hash: rewriting it would break the hash, so it stays (and is reported
    # by submit's own checks instead)
    assert out["tasks"][TASK]["config"] == data["tasks"][TASK]["config"] and out["tasks"][TASK]["hash"] == data["tasks"][TASK]["hash"]
    assert local_paths(out) == [] and sorted(local_paths(data)) == sorted(
        ["model.identity.source", f"tasks.{TASK}.dataset.provenance.root", f"tasks.{TASK}.dataset.provenance.soundfont",
         f"tasks.{TASK}.dataset.provenance.list[0]"])
    assert withhold_local_paths(out) == out  # idempotent: a killed migration is finished by rerunning it


def test_committed_leaderboard_holds_no_local_path_and_is_of_the_current_format():
    root = REPO / "leaderboard"
    assert read_format(root) == CURRENT
    for folder in migrations.FOLDERS:
        for path in sorted((root / folder).rglob("*.json")):
            assert local_paths(json.loads(path.read_text())) == [], path


def test_migration_rewrites_format1_files_keeps_every_number_and_reruns_to_nothing(tmp_path):
    root = tmp_path / "lb"
    shutil.copytree(REPO / "leaderboard" / "submissions", root / "submissions")
    (root / "golden").mkdir()
    # entries with a dataset (the probe's and generative kind's; a knowledge entry has questions, no dataset root)
    files = sorted(p for p in (root / "submissions").rglob("*.json") if "dataset" in next(iter(json.loads(p.read_text())["tasks"].values())))
    before = {}
    for i, path in enumerate(files[:4]):  # a handful back to format 1 (machine paths inside), one a golden
        data = format1(json.loads(path.read_text()), root=f"/root/.cache/grounding-eval/run{i}/distro_sounds_2")
        path.write_text(json.dumps(data, indent=2) + "\n")
        before[path] = data
    golden = root / "golden" / GOLDEN.name
    golden.write_text(json.dumps(format1(json.loads(GOLDEN.read_text())), indent=2) + "\n")
    before[golden] = json.loads(golden.read_text())
    untouched = {p: p.read_bytes() for p in files[4:]}

    assert read_format(root) == 1  # files and no format.json: the old format
    with pytest.raises(GroundingEvalError, match=r"format\.json: field format: 1; .*leaderboard migrate"):
        submit(str(GOLDEN), root)  # no mixing formats: migrate first
    was, dry = migrate(root, dry_run=True)
    assert was == 1 and {r.path for r in dry} == set(before) and not (root / FORMAT_FILE).exists()

    was, done = migrate(root)
    assert was == 1 and {r.path for r in done} == set(before)
    assert all(r.fields == [f"tasks.{k}.dataset.provenance.root" for k in before[r.path]["tasks"]] for r in done)
    for path, old in before.items():
        new = json.loads(path.read_text())
        assert local_paths(new) == [] and numbers(new) == numbers(old)
        assert {t["dataset"]["provenance"]["root"] for t in new["tasks"].values()} == {"<local>/distro_sounds_2"}
    assert {p: p.read_bytes() for p in untouched} == untouched  # files already clean are not rewritten
    assert json.loads((root / FORMAT_FILE).read_text())["format"] == CURRENT

    snapshot = {p: p.read_bytes() for p in root.rglob("*.json")}
    assert migrate(root)[1] == []  # a second run: nothing to do, nothing written
    assert {p: p.read_bytes() for p in root.rglob("*.json")} == snapshot
    _, _, board = build(root)  # the migrated entries still pass every check of the build
    assert not board.stale


def test_a_migration_killed_half_way_is_finished_by_a_rerun(tmp_path, monkeypatch):
    root = tmp_path / "lb"
    (root / "submissions").mkdir(parents=True)
    paths = []
    for i in range(3):
        p = root / "submissions" / f"e{i}.json"
        p.write_text(json.dumps(format1(json.loads(GOLDEN.read_text()))))
        paths.append(p)
    real_write = migrations.atomic_write_json
    calls = []

    def dies_on_second(path, data, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(path, data, **kw)

    monkeypatch.setattr(migrations, "atomic_write_json", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        migrate(root)
    monkeypatch.setattr(migrations, "atomic_write_json", real_write)
    assert read_format(root) == 1  # format.json is written last: the leaderboard still says "not migrated"
    assert sum(bool(local_paths(json.loads(p.read_text()))) for p in paths) == 2
    migrate(root)
    assert read_format(root) == CURRENT and all(local_paths(json.loads(p.read_text())) == [] for p in paths)


def test_submit_files_entries_without_local_paths_and_build_refuses_one_with(tmp_path):
    res = format1(json.loads(GOLDEN.read_text()))
    src = tmp_path / "res.json"
    src.write_text(json.dumps(res))
    root = tmp_path / "lb"
    [placed] = submit(str(src), root)
    entry = json.loads(placed.path.read_text())
    assert local_paths(entry) == [] and entry["tasks"][TASK]["dataset"]["provenance"]["root"] == "<local>/distro_sounds_2"
    assert numbers(entry) == numbers(res)
    assert read_format(root) == CURRENT and (root / FORMAT_FILE).exists()  # a new leaderboard records its format
    # an entry committed by hand with a path inside stops the build, naming the file and the field
    entry["tasks"][TASK]["dataset"]["provenance"]["root"] = "/home/me/ds"
    placed.path.write_text(json.dumps(entry))
    with pytest.raises(GroundingEvalError, match=rf"field tasks\.{TASK}\.dataset\.provenance\.root: a path on the submitter's machine"):
        build(root)


def test_a_format_newer_than_the_harness_is_refused(tmp_path):
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": CURRENT + 1}))
    with pytest.raises(GroundingEvalError, match=r"field format: .*newer grounding-eval"):
        read_format(tmp_path)
