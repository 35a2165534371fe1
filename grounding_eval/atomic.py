"""Every file grounding-eval writes goes through here: a temporary file beside the target, then a rename.

A crash or a kill therefore leaves either the old file or the new one, never half of one; a rerun finds
only finished files.

The files grounding-eval reads as identities (a GGUF, a word-vector file, a backbone checkpoint) are hashed
here too, by `file_sha256`: one reading, so the same bytes give the same hex digest in every cache key and
model identity.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Create `path` by calling `write(f)` on a binary temporary file, then renaming it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results, pages and packs are files to share
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], data: Any, **dump_args: Any) -> Path:
    """JSON with a trailing newline; `dump_args` go to json.dumps (default indent=2)."""
    dump_args.setdefault("indent", 2)
    return atomic_write_text(path, json.dumps(data, **dump_args) + "\n")


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read `chunk` bytes at a time (the digest does not depend on `chunk`)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
