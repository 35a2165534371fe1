"""Tiny generated datasets in the layouts users bring, for tests and for end-to-end protocol runs.

`write_fsd50k_layout` writes a small FSD50K in the official Zenodo layout: real FSD50K class names in a
small AudioSet-like tree (22 leaves under 5 families), labels propagated to ancestors as in FSD50K,
some clips with two leaves and some with only an intermediate label. Each leaf has its own sound (a
family timbre at a leaf-specific pitch, with per-clip jitter and noise), so a probe can find structure.
The mids are synthetic (/t/syn...), not AudioSet's; `write_ontology` writes the matching ontology.json.

`write_hub_copy` turns such a folder into a hub-style dataset (parquet files, or `save_to_disk` arrow)
with `fname`, `labels`, `mids` and an undecoded `audio` column, as FSD50K mirrors on the hub have.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from grounding_eval.data.fsd50k import DEV_AUDIO, EVAL_AUDIO, GROUND_TRUTH

# (label, parent) in FSD50K spelling; parents come before children.
TREE: tuple[tuple[str, str | None], ...] = (
    ("Animal", None), ("Domestic_animals_and_pets", "Animal"), ("Dog", "Domestic_animals_and_pets"),
    ("Bark", "Dog"), ("Growling", "Dog"), ("Cat", "Domestic_animals_and_pets"), ("Meow", "Cat"), ("Purr", "Cat"),
    ("Bird", "Animal"), ("Chirp_and_tweet", "Bird"), ("Crow", "Bird"),
    ("Music", None), ("Musical_instrument", "Music"), ("Guitar", "Musical_instrument"),
    ("Acoustic_guitar", "Guitar"), ("Electric_guitar", "Guitar"), ("Piano", "Musical_instrument"),
    ("Drum", "Musical_instrument"), ("Snare_drum", "Drum"), ("Bass_drum", "Drum"), ("Trumpet", "Musical_instrument"),
    ("Vehicle", None), ("Car", "Vehicle"), ("Car_passing_by", "Car"), ("Truck", "Vehicle"), ("Bus", "Vehicle"),
    ("Motorcycle", "Vehicle"),
    ("Water", None), ("Rain", "Water"), ("Stream", "Water"),
    ("Domestic_sounds_and_home_sounds", None), ("Door", "Domestic_sounds_and_home_sounds"), ("Knock", "Door"),
    ("Slam", "Door"), ("Toilet_flush", "Domestic_sounds_and_home_sounds"),
    ("Microwave_oven", "Domestic_sounds_and_home_sounds"),
)
PARENT = dict(TREE)
MID = {label: f"/t/syn{i:03d}" for i, (label, _) in enumerate(TREE)}


def ancestors(label: str) -> list[str]:
    """Nearest first."""
    out = []
    while PARENT[label] is not None:
        label = PARENT[label]  # type: ignore[assignment]
        out.append(label)
    return out


def leaves() -> list[str]:
    parents = {p for _, p in TREE if p}
    return [label for label, _ in TREE if label not in parents]


def family(label: str) -> str:
    chain = ancestors(label)
    return chain[-1] if chain else label


def leaf_sound(label: str, rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """A clip of `label`: its family's timbre at a pitch fixed by the leaf, jittered per clip."""
    all_leaves = leaves()
    k = all_leaves.index(label)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 110.0 * 2 ** (k / 4.0) * (1 + rng.uniform(-0.03, 0.03))
    fam = family(label)
    if fam == "Music":  # harmonic tone with a decay
        wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3, 4)) * np.exp(-2.0 * t)
    elif fam == "Animal":  # frequency-modulated call, repeated
        wave = np.sin(2 * np.pi * f0 * t + 4 * np.sin(2 * np.pi * (3 + k % 5) * t)) * (np.sin(2 * np.pi * 2 * t) > -0.2)
    elif fam in ("Vehicle", "Water"):  # noise shaped around f0 (one-pole low-pass on white noise, plus a hum)
        alpha = np.exp(-2 * np.pi * f0 / sample_rate)
        shaped = lfilter([1 - alpha], [1, -alpha], rng.standard_normal(n))
        wave = shaped / (np.abs(shaped).max() + 1e-9) + 0.3 * np.sin(2 * np.pi * f0 * t)
    else:  # impacts: clicks at a leaf-specific rate ringing at f0
        rate = 2 + k % 6
        env = np.exp(-30 * ((t * rate) % 1.0) / rate)
        wave = env * np.sin(2 * np.pi * f0 * t)
    wave = np.asarray(wave, dtype=np.float64) + 0.02 * rng.standard_normal(n)
    return (0.5 * wave / (np.abs(wave).max() + 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class SyntheticFsd50k:
    """What was written: the root and per-split clip counts."""

    root: Path
    n_dev: int
    n_eval: int
    leaves: tuple[str, ...]


def _label_fields(leaf_labels: Sequence[str]) -> tuple[str, str]:
    """FSD50K's labels/mids cells: the leaves first, then their ancestors nearest first, no repeats."""
    ordered = list(dict.fromkeys(list(leaf_labels) + [a for leaf in leaf_labels for a in ancestors(leaf)]))
    return ",".join(ordered), ",".join(MID[label] for label in ordered)


def write_fsd50k_layout(
    root: str | Path,
    *,
    n_leaves: int | None = None,
    dev_clips_per_leaf: int = 4,
    eval_clips_per_leaf: int = 2,
    multi_label_clips: int = 3,
    intermediate_only_clips: int = 2,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> SyntheticFsd50k:
    """Write a small FSD50K in the official layout under `root` (which must not hold one already)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    chosen = leaves()[: n_leaves or None]
    used = set(chosen) | {a for leaf in chosen for a in ancestors(leaf)}
    vocab = [label for label, _ in TREE if label in used]
    (root / GROUND_TRUTH).mkdir(parents=True, exist_ok=True)
    next_fname = iter((rng.permutation(90000) + 10000).tolist())  # unique ids, like Freesound's

    def clip(audio_dir: str, labels: Sequence[str]) -> tuple[str, str, str]:
        fname = str(next(next_fname))
        wave = sum(leaf_sound(leaf, rng, seconds, sample_rate) for leaf in labels if leaf in chosen)
        if not isinstance(wave, np.ndarray):  # an intermediate-only clip: a sound of one of its leaves
            kids = [leaf for leaf in chosen if labels[0] in ancestors(leaf)]
            wave = leaf_sound(kids[int(rng.integers(len(kids)))], rng, seconds, sample_rate)
        wave = (0.5 * wave / (np.abs(wave).max() + 1e-9)).astype(np.float32)
        (root / audio_dir).mkdir(parents=True, exist_ok=True)
        sf.write(root / audio_dir / f"{fname}.wav", wave, sample_rate, subtype="PCM_16")
        if labels[0] in chosen:
            lab, mids = _label_fields(labels)
        else:
            lab, mids = ",".join([labels[0]] + ancestors(labels[0])), ",".join(MID[x] for x in [labels[0]] + ancestors(labels[0]))
        return fname, lab, mids

    dev_rows, eval_rows = [], []
    for leaf in chosen:
        for i in range(dev_clips_per_leaf):
            fname, lab, mids = clip(DEV_AUDIO, [leaf])
            dev_rows.append([fname, lab, mids, "val" if i % 4 == 3 else "train"])
        for _ in range(eval_clips_per_leaf):
            eval_rows.append(list(clip(EVAL_AUDIO, [leaf])))
    # Two leaves in one clip (same family, so the pair is plausible), and clips labelled only with an
    # intermediate node: both are what the selection rules must handle.
    for j in range(multi_label_clips):
        a = chosen[(2 * j) % len(chosen)]
        b = next((x for x in chosen if x != a and family(x) == family(a)), None)
        if b is not None:
            fname, lab, mids = clip(DEV_AUDIO, [a, b])
            dev_rows.append([fname, lab, mids, "train"])
    inner = [label for label in vocab if label not in chosen and PARENT[label] is not None]
    for j in range(min(intermediate_only_clips, len(inner))):
        fname, lab, mids = clip(DEV_AUDIO, [inner[j]])
        dev_rows.append([fname, lab, mids, "train"])

    gt = root / GROUND_TRUTH
    with open(gt / "dev.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["fname", "labels", "mids", "split"])
        w.writerows(dev_rows)
    with open(gt / "eval.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["fname", "labels", "mids"])
        w.writerows(eval_rows)
    with open(gt / "vocabulary.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([i, label, MID[label]] for i, label in enumerate(vocab))
    return SyntheticFsd50k(root, len(dev_rows), len(eval_rows), tuple(chosen))


def write_ontology(path: str | Path) -> Path:
    """An ontology.json in AudioSet's format (id, name, child_ids) for the synthetic tree.

    Names use AudioSet's spelling (", " where FSD50K has "_and_"), so the name matching is exercised.
    """
    children: dict[str, list[str]] = {label: [] for label, _ in TREE}
    for label, parent in TREE:
        if parent:
            children[parent].append(MID[label])
    nodes = [{"id": MID[label], "name": label.replace("_and_", ", ").replace("_", " "), "description": "",
              "child_ids": children[label], "restrictions": []} for label, _ in TREE]
    path = Path(path)
    path.write_text(json.dumps(nodes, indent=1), encoding="utf-8")
    return path


def write_hub_copy(official_root: str | Path, out: str | Path, fmt: str = "parquet") -> Path:
    """A hub-style copy of an official-layout folder: splits `train` (dev) and `test` (eval).

    fmt="parquet" writes out/data/{train,test}-00000-of-00001.parquet (what `push_to_hub` uploads);
    fmt="arrow" writes a `save_to_disk` folder. Needs the `datasets` package.
    """
    from datasets import Audio, Dataset, DatasetDict  # optional (the hub extra), seconds to import: only here

    official_root, out = Path(official_root), Path(out)
    parts = {}
    for split, csv_name, audio_dir in (("train", "dev.csv", DEV_AUDIO), ("test", "eval.csv", EVAL_AUDIO)):
        with open(official_root / GROUND_TRUTH / csv_name, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        audio = [{"bytes": (official_root / audio_dir / f"{r['fname']}.wav").read_bytes(), "path": f"{r['fname']}.wav"}
                 for r in rows]
        ds = Dataset.from_dict({"fname": [int(r["fname"]) for r in rows], "labels": [r["labels"] for r in rows],
                                "mids": [r["mids"] for r in rows], "audio": audio})
        parts[split] = ds.cast_column("audio", Audio(decode=False))
    if fmt == "parquet":
        (out / "data").mkdir(parents=True, exist_ok=True)
        for split, ds in parts.items():
            ds.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))
    elif fmt == "arrow":
        DatasetDict(parts).save_to_disk(str(out))
    else:
        raise ValueError(f"fmt must be parquet or arrow, got {fmt!r}")
    return out
