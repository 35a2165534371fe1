"""`distro_sounds`: real labelled recordings taken from installed Debian sound packages.

The recordings are never shipped with grounding-eval (their licences vary). On first use the builder
extracts the clips named in the edition's label map from the installed packages into a local folder,
then reuses that folder as long as the label map and the package versions are unchanged.

Editions (the `edition` arg; a task pins one, so an old task version keeps its data):
  1  distro_sounds_labels.csv: 3 packages, 113 labelled clips, 52 classes, most with one clip.
  2  distro_sounds_labels_2.csv: 15 packages (game, desktop, education and music-sample packages),
     written by make_distro_sounds_labels.py; at most 8 clips per class. The default.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from grounding_eval.atomic import file_sha256
from grounding_eval.data.base import Concept, GroundingDataset
from grounding_eval.data.clips import Candidate, assemble
from grounding_eval.data.options import ClipOptions, clip_builder
from grounding_eval.data.rcc import iter_rcc_files
from grounding_eval.errors import GroundingEvalError
from grounding_eval.paths import datasets_dir

NAME = "distro_sounds"
# The label map of each edition; edition 1 stays byte-identical so that old task versions reproduce.
LABEL_MAPS: dict[int, Path] = {
    1: Path(__file__).with_name("distro_sounds_labels.csv"),
    2: Path(__file__).with_name("distro_sounds_labels_2.csv"),
}
LATEST_EDITION = 2
LABELS_CSV = LABEL_MAPS[LATEST_EDITION]
# Each class's top-level category in the AudioSet ontology (our own table, written from the ontology's
# tree), for plots coloured by family as in the paper's Figure 1. Not part of the data's fingerprint:
# it changes no number.
PARENTS_CSV = Path(__file__).with_name("distro_sounds_parents.csv")
MANIFEST = "manifest.csv"
STAMP = "build.json"
MANIFEST_FIELDS = ("id", "path", "label", "package", "source_path", "sha256")

# Where each package keeps its sounds; the first existing candidate wins. Module-level so that tests
# (and unusual installs) can point it elsewhere.
PACKAGE_ROOTS: dict[str, tuple[str, ...]] = {
    "gcompris-qt-data": ("/usr/share/gcompris-qt/rcc",),
    "minetest-data": ("/usr/share/games/minetest", "/usr/share/minetest"),
    "sound-theme-freedesktop": ("/usr/share/sounds/freedesktop",),
    "tuxpaint-stamps-default": ("/usr/share/tuxpaint/stamps",),
    "tuxpaint-data": ("/usr/share/tuxpaint/sounds",),
    "megaglest-data": ("/usr/share/games/megaglest",),
    "wesnoth-1.16-data": ("/usr/share/games/wesnoth/1.16",),
    "lincity-ng-data": ("/usr/share/games/lincity-ng",),
    "tuxtype-data": ("/usr/share/tuxtype",),
    "frozen-bubble-data": ("/usr/share/games/frozen-bubble",),
    "sonic-pi-samples": ("/usr/share/sonic-pi",),
    "lmms-common": ("/usr/share/lmms",),
    "hydrogen-data": ("/usr/share/hydrogen/data",),
    "supertux-data": ("/usr/share/games/supertux2",),
    "hedgewars-data": ("/usr/share/games/hedgewars/Data",),
}
# The packages each edition reads, in the order the edition-2 class cap visits them.
EDITION_PACKAGES: dict[int, tuple[str, ...]] = {
    1: ("gcompris-qt-data", "minetest-data", "sound-theme-freedesktop"),
    2: ("gcompris-qt-data", "minetest-data", "sound-theme-freedesktop", "tuxpaint-stamps-default", "tuxpaint-data",
        "megaglest-data", "wesnoth-1.16-data", "lincity-ng-data", "tuxtype-data", "frozen-bubble-data",
        "supertux-data", "hedgewars-data", "sonic-pi-samples", "lmms-common", "hydrogen-data"),
}


def install_hint(edition: int = LATEST_EDITION) -> str:
    return f"run `sudo apt-get install {' '.join(EDITION_PACKAGES[edition])}` (or bash .ci/install)"


@dataclass(frozen=True)
class LabelRow:
    """One row of the label map."""

    package: str
    path: str
    label: str
    note: str

    @property
    def id(self) -> str:
        return f"{self.package}:{self.path}"

    def local_relpath(self) -> str:
        """Where the clip goes inside the built folder (the rcc name becomes a folder)."""
        return f"{self.package}/{self.path.replace(':', '/')}"


def read_label_map(path: Path | None = None, edition: int | None = None) -> tuple[list[LabelRow], str]:
    """The label map rows and the sha256 of the CSV bytes (the cache key for a built folder).

    `path` wins; else the map of `edition`; else LABELS_CSV (the latest edition's)."""
    # Looked up at call time, not bound as a default, so a patched LABELS_CSV takes effect.
    if path is None:
        path = LABEL_MAPS[edition] if edition is not None and edition != LATEST_EDITION else LABELS_CSV
    blob = path.read_bytes()
    reader = csv.DictReader(io.StringIO(blob.decode("utf-8")))
    rows = [LabelRow(r["package"], r["path"], r["label"].strip(), r["note"].strip()) for r in reader]
    return rows, hashlib.sha256(blob).hexdigest()


def read_parents() -> dict[str, str]:
    """AudioSet class name -> its top-level AudioSet category."""
    with open(PARENTS_CSV, encoding="utf-8", newline="") as f:
        return {r["label"]: r["parent"] for r in csv.DictReader(f)}


# Where the first part of an AudioSet name misdescribes these clips, the prompt uses a better part.
PROMPT_OVERRIDES = {
    "Walk, footsteps": "footsteps",  # game footstep effects, not "walk"
    "Marimba, xylophone": "xylophone",  # the gcompris clips are xylophone notes
    "Heart sounds, heartbeat": "heartbeat",
}


def concept_text(label: str) -> str:
    """Prompt text for an AudioSet name: lower-cased, first part of comma lists ("Violin, fiddle" -> "violin")."""
    return PROMPT_OVERRIDES.get(label, label.split(", ")[0]).lower()


def _locate(package: str, edition: int = LATEST_EDITION) -> Path:
    candidates = PACKAGE_ROOTS[package]
    for cand in candidates:
        if Path(cand).is_dir():
            return Path(cand)
    raise GroundingEvalError(
        f"Debian package {package} is not installed (no {' or '.join(candidates)}): {install_hint(edition)}"
    )


def package_version(package: str) -> str:
    """The installed version of a Debian package, or "unknown" (files present without dpkg)."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"  # files present but no dpkg (e.g. copied by hand): still usable
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _safe_target(base: Path, relpath: str) -> Path:
    """Refuse label-map paths that would escape the build folder."""
    target = (base / relpath).resolve()
    if not target.is_relative_to(base.resolve()):
        raise GroundingEvalError(f"distro_sounds label map path escapes the dataset folder: {relpath}")
    return target


def _extract(rows: list[LabelRow], roots: dict[str, Path], dest: Path) -> list[dict[str, str]]:
    """Write the clips of `rows` under `dest`; return manifest rows for those found on disk."""
    manifest: list[dict[str, str]] = []

    def record(row: LabelRow, source: str, data: bytes | None, src_file: Path | None) -> None:
        target = _safe_target(dest, row.local_relpath())
        target.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            target.write_bytes(data)
        else:
            assert src_file is not None
            shutil.copyfile(src_file, target)
        manifest.append(
            {
                "id": row.id,
                "path": row.local_relpath(),
                "label": row.label,
                "package": row.package,
                "source_path": source,
                "sha256": file_sha256(str(target)),
            }
        )

    by_rcc: dict[str, list[LabelRow]] = defaultdict(list)
    for row in rows:
        root = roots[row.package]
        if row.package == "gcompris-qt-data":
            rcc_name, _, _vpath = row.path.partition(":")
            by_rcc[rcc_name].append(row)
            continue
        src = root / row.path
        if src.is_file():
            record(row, str(src), None, src)
    # Each rcc is read once, however many clips it holds.
    for rcc_name, rcc_rows in sorted(by_rcc.items()):
        rcc_path = roots["gcompris-qt-data"] / rcc_name
        if not rcc_path.is_file():
            continue
        wanted = {r.path.partition(":")[2]: r for r in rcc_rows}
        for vpath, data in iter_rcc_files(rcc_path, unsupported=[]):
            if vpath in wanted:
                record(wanted[vpath], f"{rcc_path}:{vpath}", data, None)
    return manifest


def _write_manifest(folder: Path, manifest: list[dict[str, str]]) -> None:
    with open(folder / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(manifest, key=lambda m: m["id"]))


def _read_built(folder: Path, stamp: dict[str, object]) -> list[dict[str, str]] | None:
    """The manifest of an existing build if it was made from the same inputs and is intact, else None."""
    try:
        if json.loads((folder / STAMP).read_text(encoding="utf-8")) != stamp:
            return None
        with open(folder / MANIFEST, newline="", encoding="utf-8") as f:
            manifest = list(csv.DictReader(f))
    except (OSError, ValueError):
        return None
    for m in manifest:
        clip = folder / m["path"]
        # Re-hashing ~100 small files is cheap and catches files edited or truncated since the build.
        if not clip.is_file() or file_sha256(str(clip)) != m["sha256"]:
            return None
    return manifest


def _build_atomically(out: Path, rows: list[LabelRow], roots: dict[str, Path], stamp: dict[str, object]) -> None:
    """Build in a temp folder beside `out`, then swap it in, so `out` is never half written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    aside: Path | None = None
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the dataset folder is ordinary shared data
        manifest = _extract(rows, roots, tmp)
        _write_manifest(tmp, manifest)
        # The stamp is written last: a folder without it is never trusted.
        (tmp / STAMP).write_text(json.dumps(stamp, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        if _read_built(out, stamp) is not None:
            # Another process (a second grid job on a shared cache) finished the same build first: keep
            # theirs, which it may be reading now; swapping ours in would pull its files away mid-read.
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if out.exists():
            # os.replace cannot overwrite a non-empty directory: move the old one aside first.
            aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, aside / "d")
        os.replace(tmp, out)
    except BaseException:
        if aside is not None and (aside / "d").exists() and not out.exists():
            os.replace(aside / "d", out)  # put the previous build back
        shutil.rmtree(tmp, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _folder_name(edition: int, selected: list[str]) -> str:
    """The dataset's folder under datasets_dir(): one per edition and package selection. Two selections sharing
    one folder rebuilt it in turn, and a run reading one lost its files to a run building the other (two grid
    jobs at once); the edition's full selection keeps the plain name."""
    name = NAME if edition == 1 else f"{NAME}_{edition}"
    if sorted(selected) == sorted(EDITION_PACKAGES[edition]):
        return name
    return f"{name}-" + hashlib.sha256(",".join(sorted(selected)).encode()).hexdigest()[:10]


def _check_options(edition: int, packages: list[str] | None) -> list[str]:
    """The packages to read, after checking the options (one line per mistake)."""
    if edition not in LABEL_MAPS:
        raise GroundingEvalError(
            f"unknown distro_sounds edition {edition!r}: choose from {', '.join(map(str, sorted(LABEL_MAPS)))}"
        )
    known = EDITION_PACKAGES[edition]
    selected = sorted(set(packages) if packages is not None else known)
    unknown = [p for p in selected if p not in known]
    if unknown:
        raise GroundingEvalError(
            f"unknown distro_sounds package(s) {', '.join(unknown)} for edition {edition}: "
            f"choose from {', '.join(sorted(known))}"
        )
    return selected


def _candidates(labelled: list[LabelRow], manifest: list[dict[str, str]], out: Path) -> list[Candidate]:
    """One candidate per labelled clip; a clip the build did not find points at a file that is not there
    (so it is skipped as "missing")."""
    by_id = {m["id"]: m for m in manifest}
    out_cands = []
    for row in labelled:
        m = by_id.get(row.id)
        path = (out / m["path"]).resolve() if m else out / row.local_relpath()
        out_cands.append(Candidate(id=row.id, concept=row.label, path=str(path), meta={
            "package": row.package, "source_path": m["source_path"] if m else None, "note": row.note}))
    return out_cands


# check_audio is off by default: every labelled clip passes the audio checks (tests/test_distro_sounds_complete.py
# decodes them all), so decoding ~400 clips on each fresh build would only cost time. Turn it on to apply
# min_seconds / silence_db.
@clip_builder(check_audio=False)
def build_distro_sounds(root: str | None = None, packages: list[str] | None = None, edition: int = LATEST_EDITION,
                        *, clips: ClipOptions) -> GroundingDataset:
    """Build (or reuse) the distro_sounds dataset from the installed Debian packages.

    `edition` picks the label map and its packages (1: the three-package original, 2: the default);
    `root` is the folder the clips are extracted to (default: datasets_dir()/distro_sounds for edition 1,
    distro_sounds_<edition> otherwise, so editions never rebuild each other's folder; a subset of the packages
    gets its own folder too, see _folder_name); `packages` limits
    the sources (default: all of the edition's); the clip options are every clip dataset's (a class with
    fewer than `min_clips_per_class` clips is dropped, its clips reported in `skipped`).
    """
    selected = _check_options(edition, packages)
    roots = {p: _locate(p, edition) for p in selected}
    versions = {p: package_version(p) for p in selected}

    all_rows, label_map_sha = read_label_map(edition=edition)
    rows = [r for r in all_rows if r.package in roots]
    labelled = [r for r in rows if r.label]

    out = Path(root) if root is not None else datasets_dir() / _folder_name(edition, selected)
    # A package upgrade may change the clips, so the versions are part of the cache key too.
    stamp: dict[str, object] = {
        "label_map_sha256": label_map_sha,
        "packages": versions,
        "roots": {p: str(r) for p, r in roots.items()},
    }
    manifest = _read_built(out, stamp)
    if manifest is None:
        _build_atomically(out, labelled, roots, stamp)
        manifest = _read_built(out, stamp)
        if manifest is None:  # only if something else rewrote the folder meanwhile
            raise GroundingEvalError(f"distro_sounds folder {out} changed while it was being built: run again")

    # Files the map leaves unlabelled are not instances, so they are not listed as skipped one by one (edition
    # 2 has 11,317 of them, mostly spoken stamp descriptions, which would swell every results file to
    # megabytes); the map itself gives each one's reason, and provenance counts them.
    parents = read_parents()
    concepts = [
        Concept(name=c, text=concept_text(c), parent=parents.get(c), aliases=tuple(p.lower() for p in c.split(", ")[1:]))
        for c in sorted({r.label for r in labelled})
    ]
    data = assemble(NAME, concepts, _candidates(labelled, manifest, out), options=clips, cache_root=out, provenance={
        "packages": versions, "label_map_sha256": label_map_sha, "root": str(out.resolve()), "edition": edition,
        "label_map": LABEL_MAPS[edition].name, "unlabelled_files": len(rows) - len(labelled)})
    data.instances.sort(key=lambda i: i.id)  # in id order, not by class: the order its fingerprint always had
    return data
