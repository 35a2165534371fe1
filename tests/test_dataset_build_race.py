"""Two processes building the same distro_sounds dataset at once (two grid jobs on a shared cache, a cold
first run of a grid): the second to finish keeps the first's folder, which the first may be reading, instead
of swapping its own in and pulling the files away mid-read. A stale build (other inputs) is still replaced."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grounding_eval.data.distro_sounds as ds


def fake_extract(content: bytes):
    """An `_extract` that writes one clip with `content` (the real one reads Debian packages)."""

    def extract(rows, roots, dest: Path) -> list[dict[str, str]]:
        (dest / "a.wav").write_bytes(content)
        return [{"id": "a", "path": "a.wav", "label": "Bell", "package": "p", "source_path": "x",
                 "sha256": hashlib.sha256(content).hexdigest()}]

    return extract


def test_a_finished_build_of_the_same_inputs_is_kept_not_swapped(tmp_path, monkeypatch):
    out = tmp_path / "distro_sounds_2"
    stamp = {"edition": 2, "inputs": "same"}
    monkeypatch.setattr(ds, "_extract", fake_extract(b"first"))
    ds._build_atomically(out, [], {}, stamp)
    first = (out / "a.wav").stat().st_ino
    # the second builder finishes later, with the same inputs: the folder in use stays as it is
    monkeypatch.setattr(ds, "_extract", fake_extract(b"second"))
    ds._build_atomically(out, [], {}, stamp)
    assert (out / "a.wav").stat().st_ino == first and (out / "a.wav").read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["distro_sounds_2"]  # no temporary folder left behind
    # other inputs (a new label map, other packages): the stale build is replaced
    ds._build_atomically(out, [], {}, {"edition": 2, "inputs": "other"})
    assert (out / "a.wav").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["distro_sounds_2"]


def test_each_package_selection_has_its_own_folder():
    """Two subsets of an edition's packages (the tests' quick tasks, two grid jobs running one each) never share
    a folder: sharing one, each run rebuilt it for its own subset and pulled the clips from under the other."""
    full = ds.EDITION_PACKAGES[1]
    a, b = ds._folder_name(1, ["sound-theme-freedesktop"]), ds._folder_name(1, ["gcompris-qt-data", "minetest-data"])
    assert len({a, b, ds._folder_name(1, list(full))}) == 3
    assert ds._folder_name(1, list(full)) == "distro_sounds" and ds._folder_name(2, list(ds.EDITION_PACKAGES[2])) == "distro_sounds_2"
    assert ds._folder_name(1, ["minetest-data", "gcompris-qt-data"]) == b  # the order the task names them in does not matter
