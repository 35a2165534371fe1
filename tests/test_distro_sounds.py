"""Tests for the .rcc reader and the distro_sounds builder, on the Debian packages installed here."""

from __future__ import annotations

import csv
import os
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest

from grounding_eval.atomic import file_sha256
from grounding_eval.data import distro_sounds as ds
from grounding_eval.data.rcc import RccError, iter_rcc_files
from grounding_eval.errors import GroundingEvalError

RCC_DIR = Path("/usr/share/gcompris-qt/rcc")
ALL_INSTALLED = all(any(Path(c).is_dir() for c in cands) for cands in ds.PACKAGE_ROOTS.values())
needs_packages = pytest.mark.skipif(not ALL_INSTALLED, reason="needs the Debian sound packages: bash .ci/install")


# --- rcc reader -------------------------------------------------------------------------------------


@pytest.mark.skipif(not RCC_DIR.is_dir(), reason="gcompris-qt-data not installed")
def test_rcc_reader_finds_the_gcompris_oggs() -> None:
    counts = {}
    for name in ("instruments.rcc", "explore_farm_animals.rcc", "memory-sound.rcc"):
        oggs = [(p, b) for p, b in iter_rcc_files(RCC_DIR / name) if p.endswith(".ogg")]
        assert all(b[:4] == b"OggS" for _, b in oggs), name
        assert all(p.startswith("gcompris/src/activities/") for p, _ in oggs)
        counts[name] = len(oggs)
    # 26 + 9 + 33 = 68 (OFFLINE-ASSETS.md says 77, but its own per-file counts add up to 68).
    assert counts == {"instruments.rcc": 26, "explore_farm_animals.rcc": 9, "memory-sound.rcc": 33}


def _name(text: str) -> bytes:
    units = text.encode("utf-16-be")
    return struct.pack(">HI", len(text), 0) + units


def _synthetic_rcc(version: int) -> bytes:
    """root/ -> d/ -> {a.txt (plain), b.txt (zlib), c.txt (zstd flag)} built by hand."""
    names = b""
    offs = {}
    for n in ("d", "a.txt", "b.txt", "c.txt"):
        offs[n] = len(names)
        names += _name(n)
    payloads = [b"plain", struct.pack(">I", 6) + zlib.compress(b"zipped"), b"zstd-bytes"]
    data = b""
    doffs = []
    for p in payloads:
        doffs.append(len(data))
        data += struct.pack(">I", len(p)) + p
    tail = b"\0" * 8 if version >= 2 else b""

    def d(name_off: int, count: int, first: int) -> bytes:
        return struct.pack(">IHII", name_off, 2, count, first) + tail

    def f(name_off: int, flags: int, data_off: int) -> bytes:
        return struct.pack(">IHHHI", name_off, flags, 0, 0, data_off) + tail

    tree = d(0, 1, 1) + d(offs["d"], 3, 2) + f(offs["a.txt"], 0, doffs[0])
    tree += f(offs["b.txt"], 1, doffs[1]) + f(offs["c.txt"], 4, doffs[2])
    header_len = 24 if version >= 3 else 20
    data_at = header_len
    names_at = data_at + len(data)
    tree_at = names_at + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + data + names + tree


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_on_a_handmade_file(tmp_path: Path, version: int) -> None:
    path = tmp_path / "x.rcc"
    path.write_bytes(_synthetic_rcc(version))
    unsupported: list[str] = []
    files = dict(iter_rcc_files(path, unsupported))
    assert files == {"d/a.txt": b"plain", "d/b.txt": b"zipped"}
    assert unsupported == ["d/c.txt"]


def test_rcc_reader_rejects_non_rcc(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rcc"
    bad.write_bytes(b"OggS" + b"\0" * 40)
    with pytest.raises(RccError):
        list(iter_rcc_files(bad))
    truncated = tmp_path / "trunc.rcc"
    truncated.write_bytes(_synthetic_rcc(3)[:-10])
    with pytest.raises(RccError):
        list(iter_rcc_files(truncated))


# --- label map --------------------------------------------------------------------------------------


@pytest.mark.parametrize("edition", sorted(ds.LABEL_MAPS))
def test_label_map_shape(edition: int) -> None:
    rows, sha = ds.read_label_map(edition=edition)
    assert len(sha) == 64
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)), "duplicate rows in the label map"
    assert {r.package for r in rows} == set(ds.EDITION_PACKAGES[edition])
    for r in rows:
        assert isinstance(r.label, str)
        assert r.label == r.label.strip()
        # An unlabelled clip must say why it has no label.
        assert r.label or r.note, r.id
        assert ".." not in r.path.split("/")
    counts = Counter(r.label for r in rows if r.label)
    # The counts the README gives.
    if edition == 1:
        assert sum(counts.values()) == 113 and len(counts) == 52
    else:
        big = {c: n for c, n in counts.items() if n >= 3}
        assert sum(counts.values()) == 408 and len(counts) == 110
        assert len(big) == 61 and sum(big.values()) == 343  # issue 13: >= 60 classes, >= 300 clips
        assert max(counts.values()) == 8  # the class cap of make_distro_sounds_labels.py


def test_edition_1_map_is_frozen() -> None:
    """Task version 3 reads edition 1: its bytes must never change (the built folder is keyed on them)."""
    _, sha = ds.read_label_map(edition=1)
    assert sha == "ca804cc28a346f387eb536dc6fa05bf099e93535ef94249cd4934331730dac4b"


def test_edition_2_map_is_what_its_script_writes(tmp_path: Path) -> None:
    """The committed map and its generating rules agree (a hand edit to one of them fails here)."""
    from grounding_eval.data import make_distro_sounds_labels as make

    if not ALL_INSTALLED:
        pytest.skip("needs the Debian sound packages: bash .ci/install")
    out = tmp_path / "labels.csv"
    assert make.main([str(out)]) == 0
    assert out.read_bytes() == ds.LABEL_MAPS[2].read_bytes()


def test_every_label_has_a_top_level_audioset_parent() -> None:
    """The Figure-1 plot colours by these: every class of every edition has one of AudioSet's seven roots."""
    labels = {r.label for e in ds.LABEL_MAPS for r in ds.read_label_map(edition=e)[0] if r.label}
    parents = ds.read_parents()
    assert labels == set(parents)
    roots = {"Human sounds", "Animal", "Music", "Sounds of things", "Natural sounds", "Source-ambiguous sounds",
             "Channel, environment and background"}
    assert set(parents.values()) <= roots
    assert parents["Dog"] == "Animal" and parents["Piano"] == "Music" and parents["Rain"] == "Natural sounds"


def test_concept_text() -> None:
    assert ds.concept_text("Violin, fiddle") == "violin"
    assert ds.concept_text("Alarm clock") == "alarm clock"


# --- builder ----------------------------------------------------------------------------------------


@needs_packages
def test_build_counts_and_files(tmp_path: Path) -> None:
    data = ds.build_distro_sounds(str(tmp_path / "ds"))
    rows, sha = ds.read_label_map()
    labelled = [r for r in rows if r.label]
    assert data.name == "distro_sounds"
    assert data.provenance["label_map_sha256"] == sha
    assert set(data.provenance["packages"]) == set(ds.EDITION_PACKAGES[ds.LATEST_EDITION])
    # Every labelled row ends up either as an instance or as a skipped entry with a reason; unlabelled rows
    # (whose reasons are in the map) are counted, not listed.
    assert len(data.instances) + len(data.skipped) == len(labelled)
    assert data.provenance["unlabelled_files"] == len(rows) - len(labelled)
    assert data.provenance["edition"] == 2 and data.provenance["label_map"] == "distro_sounds_labels_2.csv"
    reasons = Counter(s.reason.split(":")[0].split(" of ")[0] for s in data.skipped)
    assert set(reasons) == {"duplicate content"}  # one gcompris sound is stored under two names
    assert reasons.get("missing", 0) == 0
    assert len(data.concepts) >= 40
    assert all(c.parent for c in data.concepts)
    assert data.concept_names() == sorted(data.concept_names())
    assert [i.id for i in data.instances] == sorted(i.id for i in data.instances)
    names = set(data.concept_names())
    for inst in data.instances:
        assert inst.concept in names
        assert os.path.isabs(inst.source) and Path(inst.source).is_file()
        assert file_sha256(inst.source) == inst.content_hash
        head = Path(inst.source).read_bytes()[:4]
        assert head in (b"OggS", b"RIFF", b"fLaC"), inst.id
    assert len({i.content_hash for i in data.instances}) == len(data.instances)
    with open(tmp_path / "ds" / "manifest.csv", newline="") as f:
        manifest = list(csv.DictReader(f))
    assert list(manifest[0]) == list(ds.MANIFEST_FIELDS)
    assert {m["label"] for m in manifest} == names


@needs_packages
def test_second_build_is_reused_and_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    first = ds.build_distro_sounds(str(out))
    mtime = (out / "manifest.csv").stat().st_mtime_ns
    second = ds.build_distro_sounds(str(out))
    assert (out / "manifest.csv").stat().st_mtime_ns == mtime, "second call re-extracted"
    assert second.fingerprint() == first.fingerprint()
    assert second.instances == first.instances and second.concepts == first.concepts
    # A build in another folder gives the same data (only `source` paths differ).
    other = ds.build_distro_sounds(str(tmp_path / "elsewhere"))
    assert other.fingerprint() == first.fingerprint()


@needs_packages
def test_min_clips_drops_small_concepts(tmp_path: Path) -> None:
    full = ds.build_distro_sounds(str(tmp_path / "ds"))
    pruned = ds.build_distro_sounds(str(tmp_path / "ds"), min_clips_per_concept=2)
    counts = Counter(i.concept for i in full.instances)
    assert pruned.concept_names() == sorted(c for c, n in counts.items() if n >= 2)
    dropped = [s for s in pruned.skipped if "fewer than 2" in s.reason]
    assert len(dropped) == sum(n for n in counts.values() if n < 2)


@needs_packages
def test_package_subset(tmp_path: Path) -> None:
    data = ds.build_distro_sounds(str(tmp_path / "ds"), packages=["sound-theme-freedesktop"])
    assert set(data.provenance["packages"]) == {"sound-theme-freedesktop"}
    assert data.instances and all(i.id.startswith("sound-theme-freedesktop:") for i in data.instances)


def test_missing_package_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roots = dict(ds.PACKAGE_ROOTS)
    roots["gcompris-qt-data"] = (str(tmp_path / "no-such-dir"),)
    monkeypatch.setattr(ds, "PACKAGE_ROOTS", roots)
    with pytest.raises(GroundingEvalError) as err:
        ds.build_distro_sounds(str(tmp_path / "ds"), packages=["gcompris-qt-data"])
    msg = str(err.value)
    assert "\n" not in msg
    assert "gcompris-qt-data" in msg and "apt-get install" in msg
    assert not (tmp_path / "ds").exists()


def test_unknown_package_error(tmp_path: Path) -> None:
    with pytest.raises(GroundingEvalError, match="unknown distro_sounds package"):
        ds.build_distro_sounds(str(tmp_path / "ds"), packages=["no-such-package"])
    # Edition 1 reads three packages only.
    with pytest.raises(GroundingEvalError, match="for edition 1: choose from gcompris-qt-data"):
        ds.build_distro_sounds(str(tmp_path / "ds"), packages=["lmms-common"], edition=1)
    with pytest.raises(GroundingEvalError, match="unknown distro_sounds edition 3: choose from 1, 2"):
        ds.build_distro_sounds(str(tmp_path / "ds"), edition=3)


@needs_packages
def test_editions_build_into_their_own_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Edition 1 keeps the folder and the data task version 3 used; edition 2 never overwrites it."""
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(tmp_path))
    one = ds.build_distro_sounds(edition=1)
    two = ds.build_distro_sounds(min_clips_per_concept=3)
    assert Path(one.provenance["root"]).name == "distro_sounds" and Path(two.provenance["root"]).name == "distro_sounds_2"
    assert (len(one.instances), len(one.concepts)) == (112, 52)
    assert (len(two.instances), len(two.concepts)) == (342, 61)
    assert min(Counter(i.concept for i in two.instances).values()) == 3
    assert ds.build_distro_sounds(edition=1).fingerprint() == one.fingerprint()


@needs_packages
def test_failed_rebuild_keeps_the_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    before = ds.build_distro_sounds(str(out))
    manifest_before = (out / "manifest.csv").read_bytes()
    # A changed label map forces a rebuild; make that rebuild crash halfway through.
    changed = tmp_path / "labels.csv"
    changed.write_bytes(ds.LABELS_CSV.read_bytes() + b"minetest-data,extra/nothing.ogg,Door,test row\n")
    monkeypatch.setattr(ds, "LABELS_CSV", changed)
    real_copy = ds.shutil.copyfile
    calls = {"n": 0}

    def flaky_copy(src: object, dst: object) -> object:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk full (simulated)")
        return real_copy(src, dst)

    monkeypatch.setattr(ds.shutil, "copyfile", flaky_copy)
    with pytest.raises(OSError, match="simulated"):
        ds.build_distro_sounds(str(out))
    # The old build is untouched and no temp folder is left behind.
    assert (out / "manifest.csv").read_bytes() == manifest_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "labels.csv"]

    monkeypatch.setattr(ds.shutil, "copyfile", real_copy)
    after = ds.build_distro_sounds(str(out))
    assert after.provenance["label_map_sha256"] != before.provenance["label_map_sha256"]
    assert ("minetest-data:extra/nothing.ogg", "missing") in {(s.id, s.reason) for s in after.skipped}
    assert after.fingerprint() == before.fingerprint()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "labels.csv"]


@needs_packages
def test_tampered_build_is_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    data = ds.build_distro_sounds(str(out))
    victim = Path(data.instances[0].source)
    victim.write_bytes(b"not audio")
    again = ds.build_distro_sounds(str(out))
    assert again.fingerprint() == data.fingerprint()
    assert file_sha256(str(victim)) == data.instances[0].content_hash
