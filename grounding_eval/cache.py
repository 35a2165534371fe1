"""A content-addressed, resumable on-disk store of embeddings.

Layout: <root>/<encoder key>/meta.json (the encoder identity, for humans and `cache ls`) and
shard-<hash>.npz files, each holding the item keys and vectors of one batch. A shard is written to a
temporary file and renamed into place, so a kill mid-write leaves no broken shard; a rerun finds every
finished shard and computes only what is missing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import zipfile
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from grounding_eval.atomic import atomic_write
from grounding_eval.encoders import ProgressCallback
from grounding_eval.errors import GroundingEvalError

# Data parallel: seconds without any new shard from the other processes before a process gives up waiting
# (GROUNDING_EVAL_DP_TIMEOUT overrides). Generous: the others may still be loading a large model.
DP_IDLE_SECONDS = 1800.0


def write_advice(exc: OSError) -> str:
    """What to do about a failed write into the cache: the advice that fits the error."""
    elsewhere = "point --cache-dir / GROUNDING_EVAL_CACHE at another folder"
    if exc.errno == errno.EROFS:
        return f"that filesystem is read-only: {elsewhere}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"you lack write permission there: give yourself write permission or {elsewhere}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space there or {elsewhere}"
    return f"check that folder, or {elsewhere}"


class EmbeddingNamespace:
    """The embeddings of one encoder configuration (one cache key)."""

    def __init__(self, root: Path, key: str, meta: dict[str, Any]):
        self.dir = root / key
        self.key = key
        self.meta = meta
        self._index: dict[str, np.ndarray] | None = None
        self._read: set[str] = set()  # shard files already in the index (shards never change once written)

    def _load_index(self) -> dict[str, np.ndarray]:
        if self._index is None:
            self._index = {}
            self._read = set()
            self.refresh()
        return self._index

    def refresh(self) -> None:
        """Read the shards written since the last look (by other processes): only the new files."""
        if self._index is None:
            self._load_index()
            return
        if not self.dir.is_dir():
            return
        for shard in sorted(self.dir.glob("shard-*.npz")):
            if shard.name in self._read:
                continue
            try:
                with np.load(shard, allow_pickle=False) as z:
                    for k, v in zip(z["keys"].tolist(), z["vectors"]):
                        self._index[k] = v
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue  # unreadable shard (foreign file, disk error): recompute its items
            self._read.add(shard.name)

    def dim(self) -> int | None:
        """The width of the vectors already stored here (None when there are none)."""
        index = self._load_index()
        return int(next(iter(index.values())).shape[-1]) if index else None

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        index = self._load_index()
        return {k: index[k] for k in keys if k in index}

    def write(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]
        keys_arr = np.array(list(keys), dtype=np.str_)
        try:
            if not (self.dir / "meta.json").exists():
                blob = json.dumps(self.meta, indent=2, sort_keys=True, default=str).encode()
                atomic_write(self.dir / "meta.json", lambda f: f.write(blob))
            atomic_write(self.dir / f"shard-{name}.npz", lambda f: np.savez(f, keys=keys_arr, vectors=vectors))
        except OSError as exc:  # a full disk, a quota, a read-only or vanished folder: the user's to fix
            # atomic_write left nothing half written; every shard finished before stays, so a rerun resumes.
            raise GroundingEvalError(
                f"embedding cache: cannot write a shard in {self.dir} ({exc.strerror or type(exc).__name__}); "
                f"{write_advice(exc)} (finished shards are kept: a rerun resumes)") from None
        index = self._load_index()
        for k, v in zip(keys, vectors):
            index[k] = v


class EmbeddingCache:
    """Embeddings on disk under `root`, one namespace per encoder configuration."""

    def __init__(self, root: str | os.PathLike[str], enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def namespace(self, key: str, meta: dict[str, Any]) -> EmbeddingNamespace:
        return EmbeddingNamespace(self.root, key, meta)

    def embed(
        self,
        key: str,
        meta: dict[str, Any],
        item_keys: Sequence[str],
        payloads: Sequence[Any],
        compute: Callable[[Sequence[Any], ProgressCallback | None], np.ndarray],
        batch_size: int,
        progress: ProgressCallback | None = None,
        stream: Callable[[Sequence[Any], ProgressCallback | None], Iterator[np.ndarray]] | None = None,
        world: tuple[int, int] = (0, 1),
        agree: Callable[[list[int]], list[int]] | None = None,
    ) -> tuple[np.ndarray, dict[str, int]]:
        """Vectors for `item_keys` in order, computing only the missing ones, one shard per batch.

        `stream`, when given, is called once with all missing payloads and yields one array per
        `batch_size` of them (so an encoder can keep worker processes busy across batches); otherwise
        `compute` is called per batch. `world` = (rank, size) splits the missing batches across
        data-parallel processes, which then wait for each other's shards. `agree` (data parallel) takes this
        process's missing item positions and returns every process's (`parallel.agree_missing`). Returns
        the (n, dim) array and counts {"cached": ..., "computed": ...}.
        """
        ns = self.namespace(key, meta)
        found = ns.lookup(item_keys) if self.enabled else {}
        # Data parallel: an item's owner follows from its position among ALL keys, never from what this
        # process happened to find cached, so processes that start at different times still agree.
        position = {k: i for i, k in enumerate(dict.fromkeys(item_keys))}
        if agree is not None:
            # ... and every process computes (or waits for) what ANY of them misses: each makes the same
            # calls (a text batch is a collective) and all end with the same vectors.
            lacking = set(agree([i for k, i in position.items() if k not in found]))
            found = {k: v for k, v in found.items() if position[k] not in lacking}
        # Identical items (same content) are computed once.
        missing: dict[str, Any] = {}
        for k, p in zip(item_keys, payloads):
            if k not in found and k not in missing:
                missing[k] = p
        if progress and found:
            progress(sum(1 for k in item_keys if k in found))
        bs = max(1, batch_size)
        rank, size = world if self.enabled else (0, 1)  # without a shared cache, every process computes all
        todo = [(k, p) for k, p in missing.items() if (position[k] // bs) % size == rank]
        others = [k for k in missing if (position[k] // bs) % size != rank]
        mine = [todo[s : s + bs] for s in range(0, len(todo), bs)]
        batches: Iterator[np.ndarray]
        if stream is not None:
            batches = stream([p for c in mine for _, p in c], progress)
        else:
            batches = (compute([p for _, p in c], progress) for c in mine)
        computed: dict[str, np.ndarray] = {}
        for chunk in mine:
            vecs = np.asarray(next(batches), dtype=np.float32)
            if vecs.shape[0] != len(chunk) or not np.all(np.isfinite(vecs)):
                raise RuntimeError(
                    f"encoder returned {vecs.shape[0]} vectors (finite: {bool(np.all(np.isfinite(vecs)))}) "
                    f"for {len(chunk)} items"
                )
            if self.enabled:
                ns.write([k for k, _ in chunk], vecs)
            computed.update({k: v for (k, _), v in zip(chunk, vecs)})
        if others:
            computed.update(self._wait_for_others(ns, others, progress))
        table = {**found, **computed}
        out = np.stack([table[k] for k in item_keys]) if item_keys else np.zeros((0, 0), np.float32)
        n_cached = sum(1 for k in item_keys if k in found)
        return out, {"cached": n_cached, "computed": len(item_keys) - n_cached}

    @staticmethod
    def _wait_for_others(ns: EmbeddingNamespace, keys: list[str], progress: ProgressCallback | None,
                         poll_seconds: float = 1.0) -> dict[str, np.ndarray]:
        """Data parallel: read the shards the other processes write (the shared cache is the channel).

        Gives up after GROUNDING_EVAL_DP_TIMEOUT seconds (default DP_IDLE_SECONDS) in which no new shard
        arrived: a slow peer keeps the wait going, a cache the processes do not share ends it.
        """
        raw = os.environ.get("GROUNDING_EVAL_DP_TIMEOUT", str(DP_IDLE_SECONDS))
        try:
            timeout = float(raw)
        except ValueError:
            raise GroundingEvalError(f"environment GROUNDING_EVAL_DP_TIMEOUT={raw!r}: give seconds, e.g. {DP_IDLE_SECONDS:.0f}") from None
        got: dict[str, np.ndarray] = {}
        last_arrival = time.monotonic()
        while True:
            ns.refresh()
            new = ns.lookup([k for k in keys if k not in got])
            if new:
                last_arrival = time.monotonic()
                if progress:
                    progress(len(new))
            got.update(new)
            if len(got) == len(keys):
                return got
            if time.monotonic() - last_arrival > timeout:
                raise GroundingEvalError(
                    f"data parallel: {len(keys) - len(got)} embeddings from the other processes did not appear in "
                    f"{ns.dir} for {timeout:.0f} s: every process must use one cache on a filesystem they all see "
                    "(--cache-dir / GROUNDING_EVAL_CACHE), or another process died; GROUNDING_EVAL_DP_TIMEOUT sets "
                    "this wait (finished shards are kept: a rerun resumes)")
            time.sleep(poll_seconds)

    def list_namespaces(self) -> list[dict[str, Any]]:
        """One row per encoder configuration: key, meta, shard count, item count, bytes."""
        rows = []
        if not self.root.is_dir():
            return rows
        for d in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not (d / "meta.json").exists() and not any(d.glob("shard-*.npz")):
                continue  # not an encoder configuration: a folder a run keeps beside them (dataset-checks, generations, ...)
            meta = {}
            if (d / "meta.json").exists():
                try:
                    meta = json.loads((d / "meta.json").read_text())
                except (OSError, ValueError):
                    meta = {}
                if not isinstance(meta, dict):  # a foreign or damaged meta.json: list the shards anyway
                    meta = {}
            shards = list(d.glob("shard-*.npz"))
            ns = EmbeddingNamespace(self.root, d.name, meta)
            rows.append(
                {
                    "key": d.name,
                    "meta": meta,
                    "shards": len(shards),
                    "items": len(ns._load_index()),
                    "bytes": sum(s.stat().st_size for s in shards),
                }
            )
        return rows
