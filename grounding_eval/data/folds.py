"""ESC-50 and UrbanSound8K: a metadata CSV plus audio in a fold layout, as their downloads unpack.

    ESC-50        ROOT/meta/esc50.csv            filename,fold,target,category,esc10,src_file,take
                  ROOT/audio/<filename>          (https://github.com/karolpiczak/ESC-50, 2000 clips, 50 classes)
    UrbanSound8K  ROOT/metadata/UrbanSound8K.csv slice_file_name,fsID,start,end,salience,fold,classID,class
                  ROOT/audio/fold<fold>/<slice_file_name>   (https://urbansounddataset.weebly.com, 8732 clips, 10 classes)

Folds are kept as a task option (`folds: [1, 2]`): the probe splits classes, not clips, so the usual
fold protocol does not apply, but a user may still want to keep one fold aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from grounding_eval.data.base import GroundingDataset
from grounding_eval.data.clips import Candidate, assemble, read_csv_rows
from grounding_eval.data.local import concepts_for
from grounding_eval.data.options import ClipOptions, clip_builder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.paths import datasets_dir


@dataclass(frozen=True)
class FoldLayout:
    """Where one fold-layout collection keeps its metadata and audio, and what its columns mean."""

    name: str
    folder: str  # default folder name under datasets_dir()
    url: str
    metadata: str  # relative to ROOT
    file_column: str
    label_column: str
    fold_column: str
    n_folds: int
    official: tuple[int, int]  # (clips, classes) of the full release

    def audio_path(self, root: Path, row: dict[str, str]) -> Path:
        if self.name == "urbansound8k":
            return root / "audio" / f"fold{row[self.fold_column]}" / row[self.file_column]
        return root / "audio" / row[self.file_column]

    def default_root(self) -> Path:
        return datasets_dir() / self.folder

    def where_to_put_it(self, root: Path) -> str:
        return f"download {self.name} from {self.url} and unpack it to {root} (with {self.metadata}), or pass dataset arg root=PATH"


ESC50 = FoldLayout("esc50", "ESC-50", "https://github.com/karolpiczak/ESC-50", "meta/esc50.csv",
                   "filename", "category", "fold", 5, (2000, 50))
URBANSOUND8K = FoldLayout("urbansound8k", "UrbanSound8K", "https://urbansounddataset.weebly.com/urbansound8k.html",
                          "metadata/UrbanSound8K.csv", "slice_file_name", "class", "fold", 10, (8732, 10))


def read_metadata(layout: FoldLayout, root: Path) -> list[dict[str, str]]:
    meta = root / layout.metadata
    if not meta.is_file():
        raise GroundingEvalError(f"{layout.name} not found at {root} (no {layout.metadata}): {layout.where_to_put_it(root)}")
    rows = read_csv_rows(meta, (layout.file_column, layout.label_column, layout.fold_column))
    for lineno, row in enumerate(rows, 2):
        fold = row[layout.fold_column].strip()
        if not fold.isdigit() or not 1 <= int(fold) <= layout.n_folds:
            raise GroundingEvalError(f"{meta} line {lineno}: fold {fold!r}; valid: 1 to {layout.n_folds}")
        if not row[layout.label_column].strip() or not row[layout.file_column].strip():
            raise GroundingEvalError(f"{meta} line {lineno}: empty {layout.file_column} or {layout.label_column}")
    return rows


def _folds(layout: FoldLayout, folds: int | Sequence[int] | None) -> list[int]:
    if folds is None:
        return list(range(1, layout.n_folds + 1))
    items = [folds] if isinstance(folds, (int, str)) else list(folds)
    out = []
    for f in items:
        for part in str(f).split(","):
            if not part.strip().isdigit() or not 1 <= int(part) <= layout.n_folds:
                raise GroundingEvalError(f"{layout.name}: fold {part.strip()!r} is not valid; choose from 1 to {layout.n_folds}")
            out.append(int(part))
    return sorted(set(out))


def build_fold_layout(layout: FoldLayout, root: str | None, folds: int | Sequence[int] | None, row_filter: Any,
                      clips: ClipOptions, prompts: str | None, extra_provenance: dict[str, Any], progress: bool
                      ) -> GroundingDataset:
    """The clips of `layout` under `root` in `folds` that pass `row_filter` (a metadata row -> bool, or None)."""
    base = Path(root).expanduser() if root is not None else layout.default_root()
    rows = read_metadata(layout, base)
    keep_folds = _folds(layout, folds)
    candidates = []
    for row in rows:
        if int(row[layout.fold_column]) not in keep_folds or (row_filter is not None and not row_filter(row)):
            continue
        fname = row[layout.file_column].strip()
        candidates.append(Candidate(id=f"fold{row[layout.fold_column]}/{fname}", concept=row[layout.label_column].strip(),
                                    path=str(layout.audio_path(base, row)), meta={"fold": int(row[layout.fold_column])}))
    labels = sorted({c.concept for c in candidates})
    if not labels:
        raise GroundingEvalError(f"{layout.name}: no clip in folds {keep_folds} at {base}")
    prov = {"source": "official", "root": str(base.resolve()), "folds": keep_folds, **extra_provenance}
    return assemble(layout.name, concepts_for(labels, prompts), candidates, options=clips, cache_root=base,
                    provenance=prov, progress=progress)


@clip_builder
def build_esc50(root: str | None = None, folds: int | Sequence[int] | None = None, esc10_only: bool = False, *,
                clips: ClipOptions, prompts: str | None = None, progress: bool = False) -> GroundingDataset:
    """ESC-50 (or its ESC-10 subset with `esc10_only`); the clip options are every clip dataset's."""
    filt = (lambda row: row.get("esc10", "").strip().lower() == "true") if esc10_only else None
    return build_fold_layout(ESC50, root, folds, filt, clips, prompts, {"esc10_only": bool(esc10_only)}, progress)


@clip_builder
def build_urbansound8k(root: str | None = None, folds: int | Sequence[int] | None = None, salience: int | None = None,
                       *, clips: ClipOptions, prompts: str | None = None, progress: bool = False) -> GroundingDataset:
    """UrbanSound8K; `salience` 1 keeps foreground clips only, 2 background only (default: both)."""
    if salience not in (None, 1, 2):
        raise GroundingEvalError(f"urbansound8k: salience {salience!r} is not valid; choose 1 (foreground), 2 (background) or null")
    filt = (lambda row: row.get("salience", "").strip() == str(salience)) if salience else None
    return build_fold_layout(URBANSOUND8K, root, folds, filt, clips, prompts, {"salience": salience}, progress)


def describe(layout: FoldLayout, root: str | None = None) -> dict[str, str]:
    """Source, clip and class counts from the metadata CSV (no audio read)."""
    base = Path(root).expanduser() if root else layout.default_root()
    clips, classes = layout.official
    if not (base / layout.metadata).is_file():
        return {"source": f"not found at {base} ({layout.url})", "clips": f"{clips} (official)",
                "classes": f"{classes} (official)"}
    try:
        rows = read_metadata(layout, base)
    except GroundingEvalError as exc:
        return {"source": str(exc), "clips": "?", "classes": "?"}
    return {"source": f"{layout.metadata} at {base}", "clips": str(len(rows)),
            "classes": str(len({r[layout.label_column] for r in rows}))}
