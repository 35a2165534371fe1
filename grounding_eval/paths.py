"""Where grounding-eval keeps what it builds: embedding cache and datasets built on first use."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$GROUNDING_EVAL_CACHE, else $XDG_CACHE_HOME/grounding-eval, else ~/.cache/grounding-eval."""
    env = os.environ.get("GROUNDING_EVAL_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "grounding-eval"


def embeddings_dir() -> Path:
    return cache_home() / "embeddings"


def datasets_dir() -> Path:
    return cache_home() / "datasets"
