"""`grounding-eval cache ls|rm|export|import ...`: show and clear the embedding cache, move it as packs.
`cache ls` also names the other folders of the cache with their sizes; `cache rm` never touches those.

Actions are looked up in ACTIONS, a name -> function taking (argv, console) and returning an exit code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval import paths
from grounding_eval.cache import EmbeddingCache
from grounding_eval.cache_packs import export_pack, import_pack
from grounding_eval.cli.args import Parser, key_values
from grounding_eval.errors import GroundingEvalError


def _cache(cache_dir: str | None) -> EmbeddingCache:
    return EmbeddingCache(cache_dir or paths.embeddings_dir())


def _describe(meta: dict[str, Any]) -> str:
    """What an encoder configuration is, in a few words: kind, name/model and what sets it apart."""
    kind = meta.get("kind", "?")
    name = meta.get("name") or meta.get("model") or meta.get("backbone") or "?"
    extra = [f"{k}={meta[k]}" for k in ("embedding", "layer", "pooling", "dtype", "sample_rate", "crop", "max_seconds") if k in meta]
    return f"{kind}: {name}" + (f" ({', '.join(extra)})" if extra else "")


def _matches(row: dict[str, Any], pattern: str) -> bool:
    meta = row["meta"]
    return row["key"].startswith(pattern) or pattern in (meta.get("name"), meta.get("model"), meta.get("backbone"), meta.get("kind"))


def _other_stores(cache: EmbeddingCache, explicit_dir: bool, keys: set[str]) -> list[tuple[Path, int]]:
    """(folder, bytes) of what runs keep beside the embeddings (probe runs, datasets, converted models,
    generations, ...), which `cache rm` leaves alone: inside the embedding cache, and next to it unless
    --cache-dir named it (then everything lives inside)."""
    roots = [cache.root] + ([] if explicit_dir else [cache.root.parent])
    out = []
    for root in roots:
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            if not d.is_dir() or d.is_symlink() or d.name.startswith(".") or d.name in keys or d == cache.root:
                continue
            out.append((d, _folder_bytes(d)))
    return out


def _folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder`; what cannot be read (permissions, a file removed meanwhile)
    is left out rather than stopping the listing."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):  # os.walk skips unreadable folders and never follows links
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


def cmd_ls(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval cache ls", description="list cached encoder configurations")
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args(argv)
    cache = _cache(args.cache_dir)
    rows = cache.list_namespaces()
    table = Table(title=f"embedding cache: {cache.root}")
    for col in ("key", "encoder", "items", "shards", "MB"):
        table.add_column(col, justify="right" if col in ("items", "shards", "MB") else "left")
    for r in rows:
        table.add_row(r["key"][:16], _describe(r["meta"]), str(r["items"]), str(r["shards"]), f"{r['bytes'] / 1e6:.2f}")
    console.print(table)
    console.print(f"{len(rows)} configurations, {sum(r['items'] for r in rows)} embeddings, "
                  f"{sum(r['bytes'] for r in rows) / 1e6:.2f} MB")
    # The rest of the cache is listed so its disk use is not a surprise after `cache rm --all`.
    others = _other_stores(cache, args.cache_dir is not None, {r["key"] for r in rows})
    if others:
        rest = Table(title="also in the cache, never removed by `cache rm` (delete a folder to free it)")
        rest.add_column("folder")
        rest.add_column("MB", justify="right")
        for d, size in others:
            rest.add_row(str(d), f"{size / 1e6:.2f}")
        console.print(rest)
    return 0


def cmd_rm(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval cache rm",
                description="remove cached configurations: by key prefix (from `cache ls`), by encoder name, or --all")
    p.add_argument("targets", nargs="*", help="key prefix or encoder name (e.g. aisfx, passt, text)")
    p.add_argument("--all", action="store_true", help="remove every cached encoder configuration (not the datasets, models or generations beside them: `cache ls` lists those)")
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args(argv)
    if not args.targets and not args.all:
        raise GroundingEvalError("grounding-eval cache rm: name a key prefix or encoder (see `grounding-eval cache ls`), or pass --all")
    cache = _cache(args.cache_dir)
    rows = cache.list_namespaces()
    chosen = rows if args.all else [r for r in rows if any(_matches(r, t) for t in args.targets)]
    if not chosen:
        raise GroundingEvalError(f"grounding-eval cache rm: nothing in {cache.root} matches {', '.join(args.targets)}; see `grounding-eval cache ls`")
    for leftover in cache.root.glob(".rm-*"):  # trash of an rm that was interrupted
        shutil.rmtree(leftover, ignore_errors=True)
    for r in chosen:
        # Renamed first, then deleted: a reader never sees a half-deleted configuration.
        d = cache.root / r["key"]
        # A fresh trash name each time: a `.rm-` folder left by an interrupted rm must not block this one.
        trash = Path(tempfile.mkdtemp(prefix=f".rm-{r['key']}-", dir=cache.root))
        d.rename(trash / r["key"])
        shutil.rmtree(trash)
        console.print(f"removed {r['key'][:16]} {_describe(r['meta'])}: {r['items']} embeddings")
    return 0


def cmd_export(argv: Sequence[str], console: Console) -> int:
    """`grounding-eval cache export PACK.tar --task T [--backbone B]`."""
    p = Parser(prog="grounding-eval cache export", description="write a task's perception embeddings to a pack")
    p.add_argument("pack", help="output .tar")
    p.add_argument("--task", required=True)
    p.add_argument("--backbone", default=None, help="perception encoder (default: the task's)")
    p.add_argument("--backbone-args", default=None)
    p.add_argument("--include-path", action="append", default=[])
    p.add_argument("--cache-dir", default=None, help="default: $GROUNDING_EVAL_CACHE or ~/.cache/grounding-eval")
    args = p.parse_args(argv)
    m = export_pack(args.pack, args.task, args.backbone, backbone_args=key_values(args.backbone_args, "--backbone-args"),
                    cache_dir=args.cache_dir, include_paths=args.include_path)
    console.print(f"{args.pack}: {m['n_items']} {m['backbone']} embeddings of task {m['task']} (cache key {m['cache_key'][:16]})")
    return 0


def cmd_import(argv: Sequence[str], console: Console) -> int:
    """`grounding-eval cache import PACK.tar [...]`."""
    p = Parser(prog="grounding-eval cache import", description="add a pack's embeddings to the cache")
    p.add_argument("pack", nargs="+")
    p.add_argument("--cache-dir", default=None, help="default: $GROUNDING_EVAL_CACHE or ~/.cache/grounding-eval")
    args = p.parse_args(argv)
    for pack in args.pack:
        m = import_pack(pack, args.cache_dir)
        console.print(f"{pack}: {m['n_items']} {m['backbone']} embeddings of task {m['task']} into {m['cache']} "
                      f"({m['already_cached']} were already there)")
    return 0


ACTIONS = {"ls": cmd_ls, "rm": cmd_rm, "export": cmd_export, "import": cmd_import}


def cmd(argv: Sequence[str], console: Console) -> int:
    """`grounding-eval cache [--cache-dir DIR] ACTION ...`."""
    argv = list(argv)
    # `--cache-dir` may stand before the action too; each action's own parser takes it.
    if argv and argv[0] == "--cache-dir" and len(argv) >= 2:
        argv = argv[2:] + ["--cache-dir", argv[1]]
    elif argv and argv[0].startswith("--cache-dir="):
        argv = argv[1:] + [argv[0]]
    if not argv or argv[0] not in ACTIONS:
        got = f" {argv[0]!r}" if argv else ""
        raise GroundingEvalError(f"grounding-eval cache: unknown action{got}; valid: {', '.join(ACTIONS)}")
    return ACTIONS[argv[0]](list(argv[1:]), console)
