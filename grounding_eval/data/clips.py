"""From candidate clips on disk to a `GroundingDataset`: integrity checks, per-class caps, skip reasons.

Every audio builder (FSD50K, ESC-50, UrbanSound8K, audiofolder, CSV manifest, distro_sounds) lists
*candidates* (id, concept, path) in its own layout and hands them to `assemble` with its `ClipOptions`
(options.py), so integrity rules, the seeded cap on clips per class, the minimum per class and the
failure when a class is left empty are the same for all of them.

A clip is skipped, with a reason that ends up in the results JSON, when it is
  missing | empty (0 bytes) | not an audio file (by extension) | unreadable (libsndfile cannot decode it)
  | silent (peak below `silence_db`) | too short (below `min_seconds`) | a duplicate of another clip.
Checks are cached per file (size and mtime), so a rerun over 50 000 clips does not decode them again.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections import Counter, defaultdict
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from grounding_eval.audio.io import is_silent
from grounding_eval.data.base import Concept, GroundingDataset, Instance, SkippedInstance
from grounding_eval.data.options import ClipOptions
from grounding_eval.errors import GroundingEvalError
from grounding_eval.paths import datasets_dir

# Extensions libsndfile (>= 1.1) decodes; anything else in a folder is "not an audio file".
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64"})

# Bump when a check changes meaning, so cached verdicts are recomputed.
CHECK_VERSION = 3  # 3: reasons without Python object addresses; 2: keyed on size, mtime, ctime and inode


@dataclass(frozen=True)
class ClipCheck:
    """What makes a clip usable. Every field changes which clips a dataset keeps."""

    min_seconds: float = 0.0  # shorter clips are skipped as "too short"
    silence_db: float | None = -60.0  # clips whose peak stays below this are "silent"; None: keep them
    decode: bool = True  # False: only missing/empty/extension checks (fast, for huge trusted sets)

    def __post_init__(self) -> None:
        if self.min_seconds < 0:
            raise GroundingEvalError(f"min_seconds must be >= 0, got {self.min_seconds}")

    @classmethod
    def of(cls, options: ClipOptions) -> ClipCheck:
        """The file checks a dataset's clip options ask for."""
        return cls(min_seconds=options.min_seconds, silence_db=options.silence_db, decode=options.check_audio)

    def key(self) -> str:
        return json.dumps({**asdict(self), "v": CHECK_VERSION}, sort_keys=True)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one file: its content hash, or why it cannot be used."""

    sha256: str | None
    reason: str | None
    seconds: float | None = None


@dataclass
class Candidate:
    """A clip a layout says stands for `concept`, before any check."""

    id: str
    concept: str
    path: str
    meta: dict[str, Any] = field(default_factory=dict)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decoder_message(exc: BaseException) -> str:
    """A decoder's error on one line, without the Python object addresses libsndfile's message carries
    ("Error opening <_io.BytesIO object at 0x7f...>"): a skip reason must read the same in every run."""
    text = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the file", " ".join(str(exc).split()))
    return text or type(exc).__name__


def inspect_file(path: str, check: ClipCheck) -> Verdict:
    """Check one file against `check`; never raises for a bad file, returns the reason instead."""
    p = Path(path)
    if not p.is_file():
        return Verdict(None, "missing")
    if p.suffix.lower() not in AUDIO_EXTENSIONS:
        return Verdict(None, f"not an audio file (extension {p.suffix or 'none'!r})")
    data = p.read_bytes()
    if not data:
        return Verdict(None, "empty (0 bytes)")
    sha = _digest(data)
    if not check.decode:
        return Verdict(sha, None)
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for garbage; all mean "cannot decode"
        return Verdict(None, f"unreadable ({decoder_message(exc)})")
    if samples.shape[0] == 0:
        return Verdict(None, "unreadable (no samples)")
    if not np.all(np.isfinite(samples)):
        return Verdict(None, "unreadable (NaN or infinite samples)")
    seconds = samples.shape[0] / float(rate)
    if seconds < check.min_seconds:
        return Verdict(None, f"too short ({seconds:.3f} s < {check.min_seconds:g} s)", seconds)
    if check.silence_db is not None and is_silent(samples.mean(axis=1), check.silence_db):
        return Verdict(None, f"silent (peak below {check.silence_db:g} dBFS)", seconds)
    return Verdict(sha, None, seconds)


# Where the verdicts go while a run builds its datasets: the run's --cache-dir (`checks_in`), else the default.
_CHECKS_DIR: ContextVar[Path | None] = ContextVar("grounding_eval_checks_dir", default=None)
CHECKS_FOLDER = "dataset-checks"  # the verdicts' folder inside a run's --cache-dir


@contextlib.contextmanager
def checks_in(cache_dir: str | os.PathLike[str] | None):
    """While building: keep the dataset checks' verdicts under `cache_dir` (a run's --cache-dir), in its
    CHECKS_FOLDER; None keeps the default, datasets_dir()/checks."""
    token = _CHECKS_DIR.set(Path(cache_dir) / CHECKS_FOLDER if cache_dir else None)
    try:
        yield
    finally:
        _CHECKS_DIR.reset(token)


class VerdictCache:
    """Verdicts of earlier runs, keyed by absolute path and valid while size, mtime and check agree.

    One JSON file per dataset root under datasets_dir()/checks (a run's --cache-dir/dataset-checks: `checks_in`);
    written atomically, so a killed run
    leaves either the old or the new file.
    """

    def __init__(self, root: str | os.PathLike[str] | None, check: ClipCheck):
        self.check_key = check.key()
        self.file: Path | None = None
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if root is None:
            return
        tag = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
        self.file = (_CHECKS_DIR.get() or datasets_dir() / "checks") / f"{tag}.json"
        try:
            blob = json.loads(self.file.read_text(encoding="utf-8"))
            if blob.get("check") == self.check_key:
                self.entries = blob["entries"]
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    @staticmethod
    def _stat(path: str) -> tuple[int, int, int, int] | None:
        # Size and mtime alone miss a same-size file copied in with its old mtime (cp -p, rsync -t, tar;
        # every ESC-50 clip has the same size): ctime and inode change on any such replacement.
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino

    def verdict(self, path: str, check: ClipCheck) -> Verdict:
        path = os.path.abspath(path)
        stat = self._stat(path)
        if stat is None:
            return Verdict(None, "missing")  # never cached: the file may appear later
        hit = self.entries.get(path)
        if hit is not None and tuple(hit[:4]) == stat:
            return Verdict(*hit[4:])
        v = inspect_file(path, check)
        self.entries[path] = [*stat, v.sha256, v.reason, v.seconds]
        self.dirty = True
        return v

    def save(self) -> None:
        if self.file is None or not self.dirty:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".checks-", dir=self.file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"check": self.check_key, "entries": self.entries}, f)
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.dirty = False


def seeded_order(items: Sequence[Candidate], seed: int, salt: str) -> list[Candidate]:
    """A permutation of `items` fixed by (seed, salt): same seed, same clips, whatever the file order."""
    ordered = sorted(items, key=lambda c: c.id)
    salt_int = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:4], "little")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, salt_int])
    return [ordered[i] for i in rng.permutation(len(ordered))]


def _progress_bar(total: int, label: str, enabled: bool):
    """A rich bar on stderr for long scans (builders called outside the runner, e.g. `datasets --count`).

    Off inside the runner, whose status spinner is already a live display on the terminal.
    """
    if not enabled or total < 200:
        return contextlib.nullcontext(lambda n=1: None)

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task(label, total=total)
            yield lambda n=1: prog.advance(task, n)

    return bar()


def assemble(
    name: str,
    concepts: Sequence[Concept],
    candidates: Iterable[Candidate],
    *,
    options: ClipOptions,
    cache_root: str | os.PathLike[str] | None,
    shared_clips: bool = False,
    skipped: Sequence[SkippedInstance] = (),
    provenance: dict[str, Any] | None = None,
    progress: bool = False,
) -> GroundingDataset:
    """Check candidates, cap them per class with the seed, drop small classes, and return the dataset.

    Classes are visited in `concepts` order and each class's candidates in a seeded order, checking
    files until `max_clips_per_class` usable ones are found (unchecked extras are not reported). A
    class with no candidate at all is dropped (listed in provenance `dropped_classes`), as is one with
    fewer than `min_clips_per_class` usable clips; a class whose candidates were all skipped is an error,
    since the user's data is broken, not merely sparse. `shared_clips` lets one file stand for several
    classes (multi-label selections); otherwise a file whose bytes were already used is a duplicate.
    """
    by_concept: dict[str, list[Candidate]] = defaultdict(list)
    known = {c.name for c in concepts}
    for cand in candidates:
        if cand.concept not in known:
            raise GroundingEvalError(f"{name}: clip {cand.id} has label {cand.concept!r}, which is not a class")
        by_concept[cand.concept].append(cand)

    check = ClipCheck.of(options)
    cache = VerdictCache(cache_root, check)
    out_skipped = list(skipped)
    instances: list[Instance] = []
    dropped: dict[str, str] = {}
    emptied: dict[str, Counter[str]] = {}
    first_with_hash: dict[str, str] = {}
    cap, least = options.max_clips_per_class, options.min_clips_per_class
    # When capped, only about max * classes files are read; the bar counts every candidate either way.
    total = sum(len(v) for v in by_concept.values())
    try:
        with _progress_bar(total, f"{name}: checking clips", progress) as advance:
            for concept in concepts:
                cands = by_concept.get(concept.name, [])
                if not cands:
                    dropped[concept.name] = "no clip"
                    continue
                order = seeded_order(cands, options.seed, concept.name) if cap else sorted(cands, key=lambda c: c.id)
                kept, reasons = _usable_clips(concept.name, order, cache, check, cap, shared_clips,
                                              first_with_hash, out_skipped, advance)
                if not kept:
                    emptied[concept.name] = reasons
                elif len(kept) < least:
                    dropped[concept.name] = f"{len(kept)} usable clip(s), fewer than {least} = min_clips_per_class"
                    for inst in kept:
                        out_skipped.append(SkippedInstance(inst.id, f"class dropped ({dropped[concept.name]})"))
                else:
                    instances.extend(kept)
    finally:
        cache.save()
    if emptied:
        cname, reasons = next(iter(emptied.items()))
        why = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        more = f" (and {len(emptied) - 1} more class(es))" if len(emptied) > 1 else ""
        raise GroundingEvalError(f"{name}: class {cname!r} has no usable clip ({why}){more}; fix or remove its files, or drop the class")
    kept_concepts = [c for c in concepts if c.name not in dropped]
    out_skipped.sort(key=lambda s: s.id)
    prov = dict(provenance or {})
    prov["check"] = asdict(check)
    prov["skipped_by_reason"] = dict(sorted(Counter(reason_kind(s.reason) for s in out_skipped).items()))
    if dropped:
        prov["dropped_classes"] = dict(sorted(dropped.items()))
    return GroundingDataset(name=name, concepts=kept_concepts, instances=instances, skipped=out_skipped, provenance=prov)


def _usable_clips(concept: str, order: list[Candidate], cache: VerdictCache, check: ClipCheck,
                  max_clips: int | None, shared_clips: bool, first_with_hash: dict[str, str],
                  out_skipped: list[SkippedInstance], advance) -> tuple[list[Instance], Counter[str]]:
    """One class's candidates in `order`, checked until `max_clips` usable ones are found: the usable clips,
    and the skip reasons by kind. Skips go to `out_skipped`; `first_with_hash` (content -> first clip id)
    is shared across classes so that a file used once is a duplicate elsewhere (unless `shared_clips`)."""
    kept: list[Instance] = []
    reasons: Counter[str] = Counter()
    for cand in order:
        if max_clips and len(kept) >= int(max_clips):
            break
        v = cache.verdict(cand.path, check)
        advance(1)
        reason = v.reason
        if reason is None and v.sha256 is not None:
            dup = first_with_hash.get(v.sha256)
            if dup is not None and not (shared_clips and dup.split("#")[0] == cand.id.split("#")[0]):
                reason = f"duplicate content of {dup}"
            else:
                first_with_hash.setdefault(v.sha256, cand.id)
        if reason is not None:
            out_skipped.append(SkippedInstance(cand.id, reason))
            reasons[reason_kind(reason)] += 1
            continue
        meta = dict(cand.meta)
        meta.setdefault("path", cand.path)
        if v.seconds is not None:
            meta.setdefault("seconds", round(v.seconds, 3))
        kept.append(Instance(id=cand.id, concept=concept, source=os.path.abspath(cand.path),
                             content_hash=str(v.sha256), meta=meta))
    return kept, reasons


def reason_kind(reason: str) -> str:
    """The reason's first words ("unreadable", "too short", "duplicate content", ...), for the per-reason counts."""
    return re.split(r" \(| of ", reason, maxsplit=1)[0].strip()


def read_csv_rows(path: Path, required: Sequence[str], hint: str = "") -> list[dict[str, str]]:
    """The rows of a CSV file with a header naming at least the `required` columns; else a one-line error
    naming the file, the first missing column, the columns it has and `hint` (default: the expected header)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        missing = [c for c in required if c not in cols]
        if missing:
            raise GroundingEvalError(f"{path}: no column {missing[0]!r} (columns: {', '.join(cols)}); "
                                     f"{hint or 'expected header ' + ','.join(required)}")
        return list(reader)
