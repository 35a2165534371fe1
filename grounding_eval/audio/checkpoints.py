"""Checkpoint files of audio backbones: hashing (the cache identity) and fetching published weights.

With internet a backbone downloads its published checkpoint once into a fixed place; offline (or with
HF_HUB_OFFLINE / GROUNDING_EVAL_OFFLINE set) it stops with one line naming the file, where it comes
from and where to put it.
"""

from __future__ import annotations

import functools
import os
import tempfile
import urllib.request
from pathlib import Path

from grounding_eval.atomic import file_sha256
from grounding_eval.errors import GroundingEvalError


def offline() -> bool:
    """True when downloads are switched off (the Hugging Face convention, or our own switch)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "GROUNDING_EVAL_OFFLINE"))


@functools.lru_cache(maxsize=16)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    # Keyed on mtime and size too, so a replaced checkpoint is hashed again.
    return file_sha256(path)


def sha256_file(path: str | os.PathLike[str]) -> str:
    st = os.stat(path)
    return _sha256(os.fspath(path), st.st_mtime_ns, st.st_size)


def local_checkpoint(path: str | os.PathLike[str], backbone: str) -> Path:
    """A user-given checkpoint path, checked to exist."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise GroundingEvalError(f"audio backbone {backbone!r}: checkpoint {str(p)!r} is not a file; pass checkpoint=PATH to an existing file")
    return p


def fetch_published(url: str, dest: Path, backbone: str, *, timeout: float = 60.0) -> Path:
    """`dest` if present; else download `url` to it (atomically); offline, a one-line error saying what to do."""
    if dest.is_file() and dest.stat().st_size > 0:
        return dest
    hint = (f"audio backbone {backbone!r} needs its published checkpoint {dest.name}: download {url} "
            f"and put it at {dest}, or pass --backbone-args checkpoint=PATH")
    if offline():
        raise GroundingEvalError(hint + " (downloads are off: HF_HUB_OFFLINE/GROUNDING_EVAL_OFFLINE)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while block := resp.read(1 << 20):
                out.write(block)
        os.replace(tmp, dest)
    except OSError as exc:
        raise GroundingEvalError(f"{hint} (download failed: {type(exc).__name__})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def build_from_checkpoint(path: str | os.PathLike[str], backbone: str, build) -> object:
    """torch.load (weights only) then `build(state)`; a file that is not such a checkpoint (not a torch
    file, or other keys and shapes) is one line naming it, not an unpickling or state-dict traceback."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return build(state)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise GroundingEvalError(f"audio backbone {backbone!r}: checkpoint {path} is not a {backbone} checkpoint ({first})") from None
