"""atomic_write: the target holds the old bytes until the new ones are complete, a failed write leaves the
old file and no temporary behind, and the new file replaces the old in one rename."""

from __future__ import annotations

import os

import pytest

from grounding_eval.atomic import atomic_write, atomic_write_json


def test_the_target_keeps_its_old_content_while_the_new_one_is_written_and_after_a_failure(tmp_path):
    target = tmp_path / "res.json"
    target.write_text("old")
    seen: list[str] = []

    def write(f):
        f.write(b"new, half")
        f.flush()
        seen.append(target.read_text())  # a reader during the write sees the old file, whole
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, write)
    assert seen == ["old"] and target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["res.json"]  # no temporary left behind


def test_the_new_file_arrives_by_rename_with_shareable_permissions(tmp_path):
    target = tmp_path / "sub" / "res.json"
    inodes: list[int] = []
    atomic_write(target, lambda f: f.write(b"one"))
    inodes.append(target.stat().st_ino)
    atomic_write_json(target, {"a": 1})
    inodes.append(target.stat().st_ino)
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert inodes[0] != inodes[1]  # a new file renamed into place, not the old one rewritten
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(target.parent)) == ["res.json"]
