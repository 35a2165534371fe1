"""Embedding packs (`grounding-eval cache export | import`): move one task's
perception embeddings between machines as a pack, so that a model developer's CI job computes only the
language model's side (the audio backbone is loaded, for its identity, but embeds nothing).

A pack is an uncompressed tar:
    manifest.json             format, version, task, task hash, backbone, cache key, item count
    <cache key>/meta.json     the encoder identity (as in the cache)
    <cache key>/vectors.npz   keys (instance content hashes) and float32 vectors
Import never extracts paths from the tar: it reads these three members by name, checks them, and writes
through `EmbeddingNamespace.write` like a run would. So a pack cannot write outside the cache, and a
vector is only ever found under the exact encoder identity and clip content it was computed for.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from typing import Any, Sequence

import numpy as np

from grounding_eval import __version__, paths, plugins
from grounding_eval.atomic import atomic_write
from grounding_eval.cache import EmbeddingCache
from grounding_eval.embedding import perception_encoder, select_instances, with_backbone
from grounding_eval.errors import GroundingEvalError
from grounding_eval.tasks.manager import TaskManager

PACK_FORMAT = "grounding-eval-embedding-pack"
PACK_VERSION = 1
_KEY = re.compile(r"^[0-9a-f]{64}$")


def _cache(cache_dir: str | None) -> EmbeddingCache:
    return EmbeddingCache(cache_dir or paths.embeddings_dir())


# -- export ------------------------------------------------------------------------------------------

def _task_encoder_and_keys(task: str, backbone: str | None, backbone_args: dict[str, Any],
                           include_paths: Sequence[str]) -> tuple[Any, Any, list[str]]:
    """The task's config (backbone override applied), its perception encoder, and the instance keys it embeds."""
    regs = plugins.registries()
    cfg = with_backbone(TaskManager(list(include_paths)).get(task), backbone, backbone_args)
    encoder = perception_encoder(task, cfg, regs, "cpu")
    ds = regs.datasets.build(cfg.dataset.name, cfg.dataset.args, f"task {task}: dataset.args")
    instances = select_instances(ds, cfg.max_instances_per_concept, cfg.seed)
    return cfg, encoder, sorted({i.content_hash for i in instances})


def export_pack(pack: str, task: str, backbone: str | None = None, *, backbone_args: dict[str, Any] | None = None,
                cache_dir: str | None = None, include_paths: Sequence[str] = ()) -> dict[str, Any]:
    """Write the cached perception embeddings of `task`'s instances under `backbone` to `pack`; returns the manifest."""
    cfg, encoder, item_keys = _task_encoder_and_keys(task, backbone, backbone_args or {}, include_paths)
    key = encoder.cache_key()
    meta = {"kind": "perception", "name": encoder.name, **encoder.identity()}
    found = _cache(cache_dir).namespace(key, meta).lookup(item_keys)
    missing = len(item_keys) - len(found)
    if missing:
        raise GroundingEvalError(
            f"cache export: {missing} of {len(item_keys)} {encoder.name} embeddings of task {task} are not in the cache; "
            f"run `grounding-eval --model ANY --task {task} --audio-backbone {encoder.name}` once first")
    manifest = {"format": PACK_FORMAT, "version": PACK_VERSION, "task": task, "task_hash": cfg.content_hash(),
                "backbone": encoder.name, "cache_key": key, "n_items": len(item_keys),
                "grounding_eval": __version__}
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(item_keys, dtype=np.str_), vectors=np.stack([found[k] for k in item_keys]).astype(np.float32))
    members = {"manifest.json": json.dumps(manifest, indent=2).encode(),
               f"{key}/meta.json": json.dumps(meta, indent=2, sort_keys=True, default=str).encode(),
               f"{key}/vectors.npz": buf.getvalue()}

    def write_tar(f) -> None:
        with tarfile.open(fileobj=f, mode="w") as tar:
            for name, blob in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                info.mtime = 0  # same embeddings, same bytes
                tar.addfile(info, io.BytesIO(blob))

    atomic_write(pack, write_tar)
    return manifest


# -- import ------------------------------------------------------------------------------------------

def _member(tar: tarfile.TarFile, name: str, pack: str) -> bytes:
    try:
        info = tar.getmember(name)
    except KeyError:
        raise GroundingEvalError(f"{pack}: no {name} in the pack; make packs with `grounding-eval cache export`") from None
    f = tar.extractfile(info) if info.isfile() else None
    if f is None:
        raise GroundingEvalError(f"{pack}: {name} is not a regular file")
    return f.read()


def import_pack(pack: str, cache_dir: str | None = None) -> dict[str, Any]:
    """Check `pack` and add its embeddings to the cache; returns the manifest plus counts."""
    try:
        tar = tarfile.open(pack, mode="r:*")
    except FileNotFoundError:
        raise GroundingEvalError(f"{pack}: no such pack file") from None
    except tarfile.TarError as exc:
        raise GroundingEvalError(f"{pack}: not a tar file ({exc})") from None
    with tar:
        try:
            manifest = json.loads(_member(tar, "manifest.json", pack))
        except ValueError:
            raise GroundingEvalError(f"{pack}: manifest.json is not valid JSON") from None
        except tarfile.TarError as exc:  # a truncated pack fails only when its members are read
            raise GroundingEvalError(f"{pack}: damaged tar file ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
            raise GroundingEvalError(f"{pack}: field format: not a {PACK_FORMAT}")
        if manifest.get("version") != PACK_VERSION:
            raise GroundingEvalError(f"{pack}: field version: {manifest.get('version')!r}; this harness reads version {PACK_VERSION}")
        key = manifest.get("cache_key")
        if not isinstance(key, str) or not _KEY.match(key):
            raise GroundingEvalError(f"{pack}: field cache_key: {key!r} is not 64 hex digits")
        try:
            meta = json.loads(_member(tar, f"{key}/meta.json", pack))
            with np.load(io.BytesIO(_member(tar, f"{key}/vectors.npz", pack)), allow_pickle=False) as z:
                keys, vectors = [str(k) for k in z["keys"].tolist()], np.asarray(z["vectors"])
        except (ValueError, KeyError, OSError, EOFError, tarfile.TarError) as exc:
            raise GroundingEvalError(f"{pack}: {key}/vectors.npz or meta.json is unreadable ({exc})") from None
    for field_name in ("task", "backbone"):
        if not isinstance(manifest.get(field_name), str):
            raise GroundingEvalError(f"{pack}: field {field_name}: {manifest.get(field_name)!r}; a pack names its task and backbone")
    if not isinstance(meta, dict):
        raise GroundingEvalError(f"{pack}: {key}/meta.json: must be a JSON object, got {type(meta).__name__}")
    if vectors.ndim != 2 or len(keys) != len(vectors) or len(keys) != manifest.get("n_items"):
        raise GroundingEvalError(f"{pack}: field n_items: {manifest.get('n_items')!r} items declared, "
                                 f"{len(keys)} keys and vectors of shape {vectors.shape}")
    if not np.all(np.isfinite(vectors)) or vectors.dtype != np.float32:
        raise GroundingEvalError(f"{pack}: {key}/vectors.npz: vectors must be finite float32")
    if not all(keys):
        raise GroundingEvalError(f"{pack}: {key}/vectors.npz: an item key is empty")
    cache = _cache(cache_dir)
    ns = cache.namespace(key, meta)
    width = ns.dim()
    if width is not None and vectors.shape[1] != width:
        raise GroundingEvalError(f"{pack}: {key}/vectors.npz: {vectors.shape[1]}-d vectors, but the cache holds {width}-d "
                                 "vectors for this configuration; the pack is not from the same encoder")
    already = len(ns.lookup(keys))
    ns.write(keys, vectors)
    return {**manifest, "cache": str(cache.root), "already_cached": already}
