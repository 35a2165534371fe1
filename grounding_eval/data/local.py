"""A user's own recordings as a task: `audiofolder` (ROOT/<label>/...) and `csv_manifest` (path,label).

    audiofolder   ROOT/dog_bark/a.wav, ROOT/dog_bark/session2/b.flac, ROOT/violin/c.ogg ...
                  the label is the first folder under ROOT; hidden files (".DS_Store") are ignored;
                  any other file that is not audio is reported as skipped.
    csv_manifest  a CSV with a header and at least the columns path,label (names configurable);
                  relative paths are relative to the CSV's folder.

The prompt text of a label is the label with "_" and "-" read as spaces, lower-cased ("dog_bark" ->
"dog bark"); `prompts=FILE.csv` (columns label,text[,aliases] with aliases separated by "|") overrides it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from grounding_eval.data.base import Concept, GroundingDataset, SkippedInstance
from grounding_eval.data.clips import Candidate, assemble, read_csv_rows
from grounding_eval.data.options import ClipOptions, clip_builder
from grounding_eval.errors import GroundingEvalError


def label_text(label: str) -> str:
    """Prompt text for a folder or CSV label: "dog_bark" -> "dog bark"."""
    return " ".join(label.replace("_", " ").replace("-", " ").split()).lower()


def read_prompts(path: str | Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """label -> (text, aliases) from a prompts CSV (label,text[,aliases])."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise GroundingEvalError(f"prompts file {p} does not exist (a CSV with columns label,text[,aliases])")
    out = {}
    for row in read_csv_rows(p, ("label", "text"), "expected header label,text[,aliases]"):
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip())
        out[row["label"].strip()] = ((row["text"] or "").strip() or label_text(row["label"]), aliases)
    return out


def concepts_for(labels: Sequence[str], prompts: str | None = None) -> list[Concept]:
    """Concepts for plain labels, with prompt texts from `prompts` where given."""
    table = read_prompts(prompts) if prompts else {}
    unknown = sorted(set(table) - set(labels))
    if unknown:
        raise GroundingEvalError(f"prompts file {prompts}: label {unknown[0]!r} is not a class here; classes: {', '.join(labels)}")
    out = []
    for lbl in labels:
        text, aliases = table.get(lbl, (label_text(lbl), ()))
        out.append(Concept(name=lbl, text=text, aliases=aliases))
    texts = [c.text for c in out]
    dup = next((t for t in texts if texts.count(t) > 1), None)
    if dup is not None:
        names = [c.name for c in out if c.text == dup]
        raise GroundingEvalError(f"classes {', '.join(names)} share the prompt text {dup!r}; give them distinct texts in a prompts CSV")
    return out


@clip_builder
def build_audiofolder(root: str, clips: ClipOptions, prompts: str | None = None, progress: bool = False) -> GroundingDataset:
    """Clips from ROOT/<label>/..., one class per first-level folder."""
    if not root:
        raise GroundingEvalError("audiofolder: dataset arg root is required (a folder with one sub-folder per class)")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise GroundingEvalError(f"audiofolder: root {base} is not a folder (expected ROOT/<label>/<clip files>)")
    candidates: list[Candidate] = []
    skipped: list[SkippedInstance] = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if len(rel.parts) < 2:
            skipped.append(SkippedInstance(rel.as_posix(), "not in a class folder"))
            continue
        candidates.append(Candidate(id=rel.as_posix(), concept=rel.parts[0], path=str(path)))
    labels = sorted({c.concept for c in candidates})
    if not labels:
        raise GroundingEvalError(f"audiofolder: no class folder with files under {base} (expected ROOT/<label>/<clip files>)")
    return assemble("audiofolder", concepts_for(labels, prompts), candidates, options=clips, cache_root=base,
                    skipped=skipped, provenance={"source": "audiofolder", "root": str(base.resolve())}, progress=progress)


@clip_builder
def build_csv_manifest(manifest: str, path_column: str = "path", label_column: str = "label", *, clips: ClipOptions,
                       prompts: str | None = None, progress: bool = False) -> GroundingDataset:
    """Clips listed in a CSV manifest (path,label)."""
    if not manifest:
        raise GroundingEvalError("csv_manifest: dataset arg manifest is required (a CSV with columns path,label)")
    p = Path(manifest).expanduser()
    if not p.is_file():
        raise GroundingEvalError(f"csv_manifest: manifest {p} does not exist (a CSV with columns {path_column},{label_column})")
    rows = read_csv_rows(p, (path_column, label_column), "set path_column/label_column")
    candidates = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows, 2):
        rel, label = (row[path_column] or "").strip(), (row[label_column] or "").strip()
        if not rel or not label:
            raise GroundingEvalError(f"{p} line {lineno}: empty {path_column if not rel else label_column}")
        if rel in seen:
            raise GroundingEvalError(f"{p} line {lineno}: {rel} is listed twice (first on line {seen[rel]})")
        seen[rel] = lineno
        path = Path(rel).expanduser()
        candidates.append(Candidate(id=rel, concept=label, path=str(path if path.is_absolute() else p.parent / path)))
    labels = sorted({c.concept for c in candidates})
    if not labels:
        raise GroundingEvalError(f"{p}: the manifest lists no clip")
    return assemble("csv_manifest", concepts_for(labels, prompts), candidates, options=clips, cache_root=p.parent,
                    provenance={"source": "csv_manifest", "manifest": str(p.resolve()),
                                "manifest_sha256": hashlib.sha256(p.read_bytes()).hexdigest()}, progress=progress)

