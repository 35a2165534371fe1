"""Issue item 5: the distro_sounds label map covers every audio file of the three Debian packages, and
every labelled clip passes the same integrity checks as any other dataset's clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from grounding_eval.data import distro_sounds as ds
from grounding_eval.data.clips import AUDIO_EXTENSIONS, ClipCheck, inspect_file
from grounding_eval.data.rcc import iter_rcc_files


def _installed_audio() -> set[tuple[str, str]]:
    found = set()
    for pkg, cands in ds.PACKAGE_ROOTS.items():
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


def test_label_map_lists_every_installed_audio_file_with_a_label_or_a_reason() -> None:
    rows, _ = ds.read_label_map()
    listed = {(r.package, r.path) for r in rows}
    installed = _installed_audio()
    assert installed - listed == set(), "audio files the label map does not mention"
    assert listed - installed == set(), "label map rows with no file"
    assert all(r.label or r.note for r in rows), "an unlabelled row must say why"
    assert len(rows) == 280 and sum(bool(r.label) for r in rows) == 113


def test_every_labelled_clip_is_usable(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(tmp_path))
    built = ds.build_distro_sounds()
    # 0.05 s, not more: the gcompris drip is a real 0.09 s drip.
    bad = {i.id: inspect_file(i.source, ClipCheck(min_seconds=0.05)).reason for i in built.instances}
    assert {k: v for k, v in bad.items() if v} == {}
    assert len(built.instances) == 112 and len(built.concepts) == 52
