"""`fsd50k`: FSD50K as users have it, from the official Zenodo layout or from a hub copy.

Official layout (https://zenodo.org/records/4060432, unpacked):

    ROOT/FSD50K.dev_audio/<fname>.wav      ROOT/FSD50K.eval_audio/<fname>.wav
    ROOT/FSD50K.ground_truth/dev.csv        fname,labels,mids,split   (split: train | val)
    ROOT/FSD50K.ground_truth/eval.csv       fname,labels,mids
    ROOT/FSD50K.ground_truth/vocabulary.csv index,label,mid            (no header)

The class side. FSD50K labels are propagated to their AudioSet ancestors (a "Bark" clip also carries
"Dog", "Domestic_animals_and_pets", "Animal"), so the hierarchy can be read off the data: label A is
an ancestor of B when every clip carrying B also carries A and A has more clips (equal sets: the one
listed later in the clips' label lists is the ancestor). Leaves are labels that are no label's
ancestor (144 on the full dataset); a concept's `parent` is its top-level ancestor, for plots. With
`ontology=PATH/ontology.json` (the AudioSet ontology) the hierarchy is the ontology's instead.

Clip selection (when clips carry several labels):
  single_label  a clip stands for class C when C is its only most-specific label (default);
  leaf_labels   a clip stands for each of its most-specific labels;
  any_label     a clip stands for every class it carries (ancestors too, with class_set=all).
With class_set=leaves, leaf_labels and any_label coincide.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from grounding_eval.data.base import Concept, GroundingDataset
from grounding_eval.data.clips import Candidate, assemble, read_csv_rows, seeded_order
from grounding_eval.data.hub import label_names, open_hub
from grounding_eval.data.options import ClipOptions, clip_builder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.paths import datasets_dir

NAME = "fsd50k"
ZENODO = "https://zenodo.org/records/4060432"
DEV_AUDIO, EVAL_AUDIO, GROUND_TRUTH = "FSD50K.dev_audio", "FSD50K.eval_audio", "FSD50K.ground_truth"
OFFICIAL_SPLITS = ("train", "val", "eval")
SPLIT_ALIASES = {"dev": ("train", "val")}
CLASS_SETS = ("leaves", "all")
SELECTIONS = ("single_label", "any_label", "leaf_labels")
PROMPTS_CSV = Path(__file__).with_name("fsd50k_prompts.csv")
# Canonical sizes of the full release, for `grounding-eval datasets` when no copy is on disk.
OFFICIAL_COUNTS = {"clips": 51197, "classes": 200, "leaves": 144}


def default_root() -> Path:
    """Where the official layout is looked for when `root` is not given."""
    return datasets_dir() / "FSD50K"


def where_to_put_it(root: Path | None = None) -> str:
    root = root or default_root()
    return (f"download FSD50K from {ZENODO} and unpack it to {root} ({DEV_AUDIO}/, {EVAL_AUDIO}/, "
            f"{GROUND_TRUTH}/) or pass dataset arg root=PATH")


# --- class names ------------------------------------------------------------------------------------


def readable_name(label: str) -> str:
    """Prompt text from an FSD50K label: "Chewing_and_mastication" -> "chewing and mastication"."""
    text = label.replace("_", " ").replace("(", "").replace(")", "")
    return " ".join(text.split()).lower()


@lru_cache(maxsize=1)
def prompt_table() -> dict[str, tuple[str, tuple[str, ...]]]:
    """label -> (prompt text, aliases) from fsd50k_prompts.csv, for names the plain rule reads badly
    or that are ambiguous on their own ("Bark", "Crow", "Organ")."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    with open(PROMPTS_CSV, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row["label"].strip()
            text = row["text"].strip() or readable_name(label)
            aliases = tuple(a.strip() for a in row["aliases"].split("|") if a.strip())
            out[label] = (text, aliases)
    return out


def concept_for(label: str, parent: str | None) -> Concept:
    text, aliases = prompt_table().get(label, (readable_name(label), ()))
    return Concept(name=label, text=text, parent=parent, aliases=aliases)


def ontology_label(name: str) -> str:
    """An AudioSet ontology name in FSD50K spelling: "Dishes, pots, and pans" -> "Dishes_and_pots_and_pans"."""
    return name.replace(", and ", "_and_").replace(", ", "_and_").replace(" ", "_")


# --- hierarchy --------------------------------------------------------------------------------------


@dataclass
class Hierarchy:
    """Ancestors of each label (within the vocabulary) and each label's top-level family."""

    ancestors: dict[str, frozenset[str]]
    top: dict[str, str | None]
    source: str  # "data" or "ontology:<sha256>"

    def leaves(self) -> list[str]:
        inner = set().union(*self.ancestors.values()) if self.ancestors else set()
        return sorted(lbl for lbl in self.ancestors if lbl not in inner)

    def most_specific(self, labels: Iterable[str]) -> list[str]:
        """The labels of one clip that are no other of its labels' ancestor."""
        labels = [lbl for lbl in dict.fromkeys(labels) if lbl in self.ancestors]
        inner = set().union(*(self.ancestors[lbl] for lbl in labels)) if labels else set()
        return [lbl for lbl in labels if lbl not in inner]


def infer_hierarchy(clip_labels: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> Hierarchy:
    """The hierarchy implied by propagated labels (see the module docstring)."""
    vocab = list(dict.fromkeys(vocabulary))
    col = {lbl: j for j, lbl in enumerate(vocab)}
    m = np.zeros((len(clip_labels), len(vocab)), dtype=np.float32)
    pos_sum = np.zeros(len(vocab))
    for i, labels in enumerate(clip_labels):
        for k, lbl in enumerate(labels):
            j = col.get(lbl)
            if j is not None:
                m[i, j] = 1.0
                pos_sum[j] += k / max(1, len(labels) - 1)  # 0 = listed first, 1 = listed last
    n = m.sum(0)
    both = m.T @ m  # both[a, b] = clips carrying a and b
    mean_pos = np.divide(pos_sum, n, out=np.zeros_like(pos_sum), where=n > 0)
    ancestors: dict[str, set[str]] = {lbl: set() for lbl in vocab}
    for b in range(len(vocab)):
        if n[b] == 0:
            continue
        for a in np.flatnonzero(both[:, b] == n[b]):
            if a == b:
                continue
            if n[a] > n[b] or (n[a] == n[b] and mean_pos[a] > mean_pos[b]):
                ancestors[vocab[b]].add(vocab[a])
    frozen = {k: frozenset(v) for k, v in ancestors.items()}
    top: dict[str, str | None] = {}
    for lbl, anc in frozen.items():
        roots = [a for a in anc if not frozen[a]]
        top[lbl] = min(roots, key=lambda a: (-n[col[a]], a)) if roots else None
    return Hierarchy(frozen, top, "data")


def ontology_hierarchy(path: str | Path, vocabulary: Sequence[str], mids: dict[str, str]) -> Hierarchy:
    """The hierarchy of the AudioSet ontology.json restricted to the vocabulary (matched by mid, else name)."""
    p = Path(path)
    try:
        blob = p.read_bytes()
        nodes = json.loads(blob)
        by_id = {n["id"]: n for n in nodes}
        parents: dict[str, list[str]] = defaultdict(list)
        for node in nodes:
            for child in node.get("child_ids", []):
                parents[child].append(node["id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroundingEvalError(
            f"ontology {p}: not an AudioSet ontology.json (a list of {{id, name, child_ids}}): {' '.join(str(exc).split())}"
        ) from None
    name_to_id = {ontology_label(n["name"]): n["id"] for n in nodes}
    label_of_id: dict[str, str] = {}
    for lbl in vocabulary:
        mid = mids.get(lbl) if mids.get(lbl) in by_id else name_to_id.get(lbl)
        if mid is None:
            raise GroundingEvalError(f"ontology {p}: FSD50K class {lbl!r} (mid {mids.get(lbl)}) is not in it")
        label_of_id[mid] = lbl
    ancestors: dict[str, frozenset[str]] = {}
    top: dict[str, str | None] = {}
    for mid, lbl in label_of_id.items():
        seen: dict[str, int] = {}
        frontier, depth = [mid], 0
        while frontier:  # breadth-first up the (poly)hierarchy, remembering each node's distance
            depth += 1
            nxt = []
            for node in frontier:
                for par in sorted(parents.get(node, [])):
                    if par not in seen:
                        seen[par] = depth
                        nxt.append(par)
            frontier = nxt
        ancestors[lbl] = frozenset(label_of_id[a] for a in seen if a in label_of_id)
        roots = [a for a in seen if not parents.get(a)]
        # The nearest root, for a stable family when a class sits under two top-level nodes.
        top[lbl] = ontology_label(by_id[min(roots, key=lambda a: (seen[a], a))]["name"]) if roots else None
    return Hierarchy(ancestors, top, f"ontology:{hashlib.sha256(blob).hexdigest()}")


# --- the official layout -----------------------------------------------------------------------------


@dataclass
class Clip:
    """One FSD50K clip with all its (propagated) labels."""

    split: str
    fname: str
    labels: tuple[str, ...]
    path: str | None = None  # official layout
    row: int | None = None  # hub: row index in its split
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.split}/{self.fname}"


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise GroundingEvalError(f"FSD50K file missing: {path}; {where_to_put_it(path.parent.parent)}")
    return read_csv_rows(path, required)


def read_vocabulary(path: Path) -> tuple[list[str], dict[str, str]]:
    """vocabulary.csv (index,label,mid without header) -> labels in index order, label -> mid."""
    if not path.is_file():
        raise GroundingEvalError(f"FSD50K file missing: {path}; {where_to_put_it(path.parent.parent)}")
    labels: list[str] = []
    mids: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 3:
                raise GroundingEvalError(f"{path} line {lineno}: expected index,label,mid, got {len(row)} field(s)")
            labels.append(row[1].strip())
            mids[row[1].strip()] = row[2].strip()
    if not labels:
        raise GroundingEvalError(f"{path}: the vocabulary is empty")
    return labels, mids


def parse_splits(splits: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """`splits` arg -> a list of split names (a comma-separated string or a list; dev = train + val)."""
    if splits is None:
        return list(available)
    items = [s.strip() for s in splits.split(",")] if isinstance(splits, str) else [str(s).strip() for s in splits]
    out: list[str] = []
    for s in items:
        for part in SPLIT_ALIASES.get(s, (s,)) if set(available) == set(OFFICIAL_SPLITS) else (s,):
            if part not in available:
                valid = list(available) + (list(SPLIT_ALIASES) if set(available) == set(OFFICIAL_SPLITS) else [])
                raise GroundingEvalError(f"fsd50k: unknown split {s!r}; valid: {', '.join(valid)}")
            if part not in out:
                out.append(part)
    if not out:
        raise GroundingEvalError("fsd50k: splits is empty; give at least one split")
    return out


def read_official(root: Path) -> tuple[list[Clip], list[str], dict[str, str], dict[str, str]]:
    """All clips of the official layout, the vocabulary, label -> mid, and file hashes for provenance."""
    gt = root / GROUND_TRUTH
    if not root.is_dir() or not gt.is_dir():
        raise GroundingEvalError(f"FSD50K not found at {root} (no {GROUND_TRUTH}/): {where_to_put_it(root)}")
    vocab, mids = read_vocabulary(gt / "vocabulary.csv")
    known = set(vocab)
    clips: list[Clip] = []
    hashes: dict[str, str] = {}
    for csv_name, audio_dir, required in (("dev.csv", DEV_AUDIO, ("fname", "labels", "mids", "split")),
                                           ("eval.csv", EVAL_AUDIO, ("fname", "labels", "mids"))):
        path = gt / csv_name
        rows = _read_csv(path, required)
        hashes[csv_name] = hashlib.sha256(path.read_bytes()).hexdigest()
        for lineno, row in enumerate(rows, 2):
            labels = tuple(p.strip() for p in row["labels"].split(",") if p.strip())
            unknown = [lbl for lbl in labels if lbl not in known]
            if unknown:
                raise GroundingEvalError(f"{path} line {lineno}: label {unknown[0]!r} is not in vocabulary.csv")
            split = row["split"].strip() if csv_name == "dev.csv" else "eval"
            if split not in OFFICIAL_SPLITS:
                raise GroundingEvalError(f"{path} line {lineno}: split {split!r}; valid: train, val")
            fname = row["fname"].strip()
            clips.append(Clip(split, fname, labels, path=str(root / audio_dir / f"{fname}.wav")))
    hashes["vocabulary.csv"] = hashlib.sha256((gt / "vocabulary.csv").read_bytes()).hexdigest()
    return clips, vocab, mids, hashes


# --- selection --------------------------------------------------------------------------------------


def select(clips: Sequence[Clip], hierarchy: Hierarchy, class_set: str, clip_selection: str
           ) -> tuple[list[str], list[tuple[Clip, str]], dict[str, int]]:
    """The classes, (clip, class) pairs and counts of clips left out by the selection rule."""
    classes = hierarchy.leaves() if class_set == "leaves" else sorted(hierarchy.ancestors)
    wanted = set(classes)
    pairs: list[tuple[Clip, str]] = []
    left_out: Counter[str] = Counter()
    for clip in clips:
        specific = hierarchy.most_specific(clip.labels)
        if clip_selection == "single_label":
            if len(specific) != 1:
                left_out["several labels" if specific else "no label"] += 1
                continue
            chosen = [specific[0]] if specific[0] in wanted else []
        elif clip_selection == "leaf_labels":
            chosen = [lbl for lbl in specific if lbl in wanted]
        else:  # any_label
            chosen = [lbl for lbl in dict.fromkeys(clip.labels) if lbl in wanted]
        if not chosen:
            left_out["no label in the class set"] += 1
        pairs.extend((clip, lbl) for lbl in chosen)
    return classes, pairs, dict(left_out)


def _check_choice(arg: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise GroundingEvalError(f"fsd50k: {arg} {value!r} is not valid; choose from {', '.join(valid)}")


@clip_builder
def build_fsd50k(
    root: str | None = None,
    splits: str | list[str] | None = None,
    class_set: str = "leaves",
    clip_selection: str = "single_label",
    *,
    clips: ClipOptions,
    ontology: str | None = None,
    hub_id: str | None = None,
    revision: str | None = None,
    streaming: bool = False,
    audio_column: str | None = None,
    label_column: str | None = None,
    progress: bool = False,
) -> GroundingDataset:
    """FSD50K concepts and clips. `root`: the official layout (default: datasets_dir()/FSD50K); or
    `hub_id` (+ pinned `revision`): a hub dataset id, a local parquet/arrow folder or a save_to_disk
    folder, read through `datasets` (`streaming` reads rows without a full download).

    `splits`: official train, val, eval (dev = train + val), or a hub dataset's split names (default:
    all). Classes with no selected clip are dropped and listed in provenance `dropped_classes`.
    """
    _check_choice("class_set", class_set, CLASS_SETS)
    _check_choice("clip_selection", clip_selection, SELECTIONS)
    if hub_id is not None and root is not None:
        raise GroundingEvalError("fsd50k: give either root (official layout) or hub_id, not both")

    source = None
    if hub_id is not None:
        all_clips, vocab, mids, source = _read_hub(hub_id, revision, streaming, splits, audio_column, label_column)
        chosen_splits = list(source.splits)
        hashes: dict[str, str] = {}
        cache_root: Path = source.cache_dir
        prov: dict[str, Any] = {"source": "hub", "hub_id": hub_id, "revision": revision, "streaming": bool(streaming),
                                "audio_column": source.audio_column, "label_column": source.label_column}
    else:
        base = Path(root).expanduser() if root is not None else default_root()
        all_clips, vocab, mids, hashes = read_official(base)
        chosen_splits = parse_splits(splits, OFFICIAL_SPLITS)
        cache_root = base
        prov = {"source": "official", "root": str(base.resolve()), "ground_truth_sha256": hashes}

    # The hierarchy is read from every clip available, whatever the chosen splits: more clips, fewer
    # accidental subset relations.
    hierarchy = (ontology_hierarchy(ontology, vocab, mids) if ontology
                 else infer_hierarchy([c.labels for c in all_clips], vocab))
    in_splits = [c for c in all_clips if c.split in chosen_splits]
    classes, pairs, left_out = select(in_splits, hierarchy, class_set, clip_selection)
    shared = clip_selection != "single_label"
    candidates = [
        Candidate(id=f"{clip.id}#{lbl}" if shared else clip.id, concept=lbl, path=clip.path or "",
                  meta={"split": clip.split, "fname": clip.fname, "labels": list(clip.labels), **clip.meta})
        for clip, lbl in pairs
    ]
    if source is not None:
        candidates = _materialize(source, candidates, pairs, clips.max_clips_per_class, clips.seed)
    concepts = [concept_for(lbl, hierarchy.top.get(lbl)) for lbl in classes]
    prov.update({
        "splits": chosen_splits, "class_set": class_set, "clip_selection": clip_selection,
        "hierarchy": hierarchy.source, "n_vocabulary": len(vocab), "n_leaves": len(hierarchy.leaves()),
        "clips_in_splits": len(in_splits), "clips_left_out_by_selection": left_out,
        "max_clips_per_class": clips.max_clips_per_class, "seed": clips.seed,
        "prompts_sha256": hashlib.sha256(PROMPTS_CSV.read_bytes()).hexdigest(),
    })
    return assemble(NAME, concepts, candidates, options=clips, cache_root=cache_root, shared_clips=shared,
                    provenance=prov, progress=progress)


# --- hub copies -------------------------------------------------------------------------------------


def _read_hub(hub_id, revision, streaming, splits, audio_column, label_column):
    wanted = None
    if splits is not None:
        wanted = [s.strip() for s in splits.split(",")] if isinstance(splits, str) else list(splits)
    source = open_hub(hub_id, revision, streaming=streaming, audio_column=audio_column, label_column=label_column,
                      offline_hint=f", or {where_to_put_it()}")
    clips: list[Clip] = []
    mids: dict[str, str] = {}
    vocab: dict[str, None] = {}
    for split in source.splits:
        for index, row in source.rows(split, with_audio=False):
            labels = tuple(label_names(source, row[source.label_column]))
            vocab.update(dict.fromkeys(labels))
            clips.append(Clip(split, source.clip_id(split, index, row).split("/", 1)[1], labels, row=index))
    if wanted is not None:
        missing = [s for s in wanted if s not in source.splits]
        if missing:
            raise GroundingEvalError(f"hub dataset {hub_id} has no split {missing[0]!r}; its splits: {', '.join(source.splits)}")
        source.splits = {s: source.splits[s] for s in wanted}
    return clips, list(vocab), mids, source


def _materialize(source, candidates: list[Candidate], pairs, max_clips_per_class, seed) -> list[Candidate]:
    """Write the audio of the candidates `assemble` may read to disk and fill in their paths.

    Map-style datasets write the first max_clips_per_class * 2 + 8 clips of each class's seeded order
    (the order `assemble` checks them in; the margin replaces broken clips), or all when uncapped.
    Streaming datasets do the same in one pass over the rows.
    """
    by_concept: dict[str, list[Candidate]] = defaultdict(list)
    for cand in candidates:
        by_concept[cand.concept].append(cand)
    needed: list[Candidate] = []
    for concept, cands in by_concept.items():
        order = seeded_order(cands, seed, concept) if max_clips_per_class else cands
        needed.extend(order[: int(max_clips_per_class) * 2 + 8] if max_clips_per_class else order)
    keys = {(c.meta["split"], c.meta["fname"]) for c in needed}
    row_of = {(clip.split, clip.fname): clip.row for clip, _ in pairs}
    path_of: dict[tuple[str, str], str] = {}
    if source.streaming:
        for split in source.splits:
            for index, row in source.rows(split, with_audio=True):
                key = (split, source.clip_id(split, index, row).split("/", 1)[1])
                if key in keys:
                    path_of[key] = source.write_clip(split, index, row)
    else:
        for key in sorted(keys):
            path_of[key] = source.write_clip(key[0], int(row_of[key]))
    out = []
    for cand in candidates:
        key = (cand.meta["split"], cand.meta["fname"])
        if key in path_of:
            cand.path = path_of[key]
            out.append(cand)
    return out


# --- listing ----------------------------------------------------------------------------------------


def describe(root: str | None = None) -> dict[str, Any]:
    """Source, clip and class counts for `grounding-eval datasets`, from the CSVs only (no audio read)."""
    base = Path(root).expanduser() if root else default_root()
    gt = base / GROUND_TRUTH
    if not gt.is_dir():
        return {"source": f"official layout not found at {base} ({ZENODO}); or hub_id=...",
                "clips": f"{OFFICIAL_COUNTS['clips']} (official)",
                "classes": f"{OFFICIAL_COUNTS['classes']}, {OFFICIAL_COUNTS['leaves']} leaves (official)"}
    try:
        clips, vocab, _mids, _h = read_official(base)
    except GroundingEvalError as exc:
        return {"source": f"{base}: {exc}", "clips": "?", "classes": "?"}
    leaves = infer_hierarchy([c.labels for c in clips], vocab).leaves()
    return {"source": f"official layout at {base}", "clips": str(len(clips)),
            "classes": f"{len(vocab)}, {len(leaves)} leaves"}

