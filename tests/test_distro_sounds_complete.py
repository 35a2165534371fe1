"""The distro_sounds label map of each edition covers every audio file of its Debian packages, and every
labelled clip passes the same integrity checks as any other dataset's clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from grounding_eval.data import distro_sounds as ds
from grounding_eval.data.clips import AUDIO_EXTENSIONS, ClipCheck, inspect_file
from grounding_eval.data.rcc import iter_rcc_files


def _installed_audio(edition: int) -> set[tuple[str, str]]:
    found = set()
    for pkg in ds.EDITION_PACKAGES[edition]:
        cands = ds.PACKAGE_ROOTS[pkg]
        root = next((Path(c) for c in cands if Path(c).is_dir()), None)
        if root is None:
            pytest.fail(f"{pkg} is not installed: run bash .ci/install")
        if pkg == "gcompris-qt-data":
            for rcc in sorted(root.glob("*.rcc")):
                for vpath, _data in iter_rcc_files(rcc, unsupported=[]):
                    if Path(vpath).suffix.lower() in AUDIO_EXTENSIONS:
                        found.add((pkg, f"{rcc.name}:{vpath}"))
        else:
            found |= {(pkg, str(p.relative_to(root))) for p in root.rglob("*")
                      if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS}
    return found


@pytest.mark.parametrize("edition, n_rows, n_labelled", [(1, 280, 113), (2, 11725, 408)])
def test_label_map_lists_every_installed_audio_file_with_a_label_or_a_reason(edition, n_rows, n_labelled) -> None:
    rows, _ = ds.read_label_map(edition=edition)
    listed = {(r.package, r.path) for r in rows}
    installed = _installed_audio(edition)
    assert installed - listed == set(), "audio files the label map does not mention"
    assert listed - installed == set(), "label map rows with no file"
    assert all(r.label or r.note for r in rows), "an unlabelled row must say why"
    assert len(rows) == n_rows and sum(bool(r.label) for r in rows) == n_labelled


@pytest.mark.parametrize("edition, n_clips, n_classes", [(1, 112, 52), (2, 407, 110)])
def test_every_labelled_clip_is_usable(tmp_path, monkeypatch, edition, n_clips, n_classes) -> None:
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(tmp_path))
    built = ds.build_distro_sounds(edition=edition)
    # 0.05 s, not more: the gcompris drip is a real 0.09 s drip (make_distro_sounds_labels.MIN_SECONDS).
    bad = {i.id: inspect_file(i.source, ClipCheck(min_seconds=0.05)).reason for i in built.instances}
    assert {k: v for k, v in bad.items() if v} == {}
    assert len(built.instances) == n_clips and len(built.concepts) == n_classes
