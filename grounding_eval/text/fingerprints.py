"""What identifies a model folder's files: sha256 of its weights, its config files, its tokenizer files.

Its own module because both model resolution (text/hub.py) and GGUF conversion (text/gguf.py) need them.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                   "merges.txt", "spiece.model", "tokenizer.model", "sentencepiece.bpe.model", "added_tokens.json")


def weights_sha256(path: str) -> str:
    """sha256 over the weight files of a model directory (names and bytes), in name order.

    Computed once per process for the same files (by path, size and mtime): a run builds several encoders
    of one model (controls, random-init, grids), and re-reading tens of GB each time was most of their
    start-up. (A digest per file would hash less again but change every key.)"""
    files = sorted(
        p for p in Path(path).rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt", ".pth", ".h5")
    )
    stamps = tuple((p.relative_to(path).as_posix(), str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in files)
    return _files_sha256(stamps)


@functools.lru_cache(maxsize=64)
def _files_sha256(stamps: tuple[tuple[str, str, int, int], ...]) -> str:
    """sha256 over (name, bytes) of each (name, real path, size, mtime_ns): a rewritten file is read anew."""
    h = hashlib.sha256()
    for name, real, _size, _mtime in stamps:
        h.update(name.encode() + b"\0")
        with open(real, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()


def _named_files_sha256(path: str, names: tuple[str, ...]) -> str:
    """sha256 over (name, bytes) of those of `names` present in the folder, in the order given; cached like the
    weights (by size and mtime), since identities are asked for per cached item."""
    present = [(name, Path(path) / name) for name in names if (Path(path) / name).is_file()]
    return _files_sha256(tuple((name, str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for name, p in present))


def config_sha256(path: str) -> str:
    """sha256 over a model directory's config.json and preprocessor_config.json: an edited layer_norm_eps,
    activation or feature-extractor setting changes the vectors while the weights stay the same."""
    return _named_files_sha256(path, ("config.json", "preprocessor_config.json"))


def tokenizer_sha256(path: str) -> str:
    """sha256 over the tokenizer files of a model directory: a changed vocabulary changes the vectors."""
    return _named_files_sha256(path, TOKENIZER_FILES)


def checkpoint_identity(requested: str, resolved: Any) -> dict[str, Any]:
    """The identity fields every kind's model shares: what was asked for, where it came from, and hashes of
    what was loaded (weights, config; the GGUF file and quantisation when de-quantised from one, absent
    otherwise so that other models' cache keys stay as they were). `resolved`: text/hub.py's ResolvedModel."""
    return {"model": requested, "source": resolved.source, "revision": resolved.revision,
            "weights_sha256": resolved.weights_sha256, "config_sha256": config_sha256(resolved.path),
            **({"gguf": resolved.gguf} if getattr(resolved, "gguf", None) else {})}
