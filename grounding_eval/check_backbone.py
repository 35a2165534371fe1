"""The checks behind `grounding-eval check-backbone NAME`: a cheap gate for backbone authors.

Runs random noise and real recordings through the backbone, by the same pipeline as an evaluation
(files decoded, resampled, cropped/padded, batched), and checks: the shape is (clips, dim) with the
declared dim; every value is finite; a second pass gives the same vectors; a batch of one gives the
same vectors as a full batch (no clip's vector depends on its neighbours).
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from grounding_eval import plugins

REAL_CLIPS = ("/usr/share/sounds/freedesktop/stereo/*.oga", "/usr/share/games/minetest/**/sounds/*.ogg")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def real_clips(n: int) -> list[str]:
    """Up to n real recordings from installed Debian sound packages."""
    out: list[str] = []
    for pattern in REAL_CLIPS:
        out.extend(sorted(glob.glob(pattern, recursive=True))[: max(0, n - len(out))])
    return out[:n]


def noise_clips(folder: Path, seconds: Sequence[float] = (1.5, 0.4), rate: int = 22050, seed: int = 0) -> list[str]:
    """Seeded white noise at a rate no backbone uses natively (so resampling runs), written as wav."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths = []
    for i, s in enumerate(seconds):
        p = folder / f"noise-{i}.wav"
        sf.write(p, (0.3 * rng.standard_normal(int(s * rate))).astype(np.float32), rate)
        paths.append(str(p))
    return paths


def make_backbone(name: str, options: dict[str, Any]) -> Any:
    entry = plugins.registries().perception_encoders.get(name)
    opts = dict(options)
    if entry.name != name:
        opts["name"] = name
    return entry.obj(**opts)


def run_checks(backbone: Any, clips: list[str], tol: float = 1e-4) -> list[Check]:
    checks: list[Check] = []
    first = backbone.embed(clips)
    dim = int(getattr(backbone, "embedding_dim", 0) or 0)
    shape_ok = first.ndim == 2 and first.shape[0] == len(clips) and (dim == 0 or first.shape[1] == dim)
    checks.append(Check("shape", shape_ok, f"{first.shape}, declared dim {dim or 'none'}"))
    checks.append(Check("finite", bool(np.isfinite(first).all()), f"{int((~np.isfinite(first)).sum())} non-finite values"))
    second = backbone.embed(clips)
    diff = float(np.max(np.abs(first - second))) if first.size else 0.0
    checks.append(Check("deterministic", diff <= tol, f"max |run1 - run2| = {diff:.2e}"))
    saved = backbone._batch_size
    backbone._batch_size = 1
    try:
        single = backbone.embed(clips)
    finally:
        backbone._batch_size = saved
    diff = float(np.max(np.abs(first - single))) if first.size else 0.0
    checks.append(Check("batch-invariant", diff <= tol, f"max |batch {saved} - batch 1| = {diff:.2e}"))
    spread = float(np.max(np.std(first, axis=0))) if len(first) > 1 else 0.0
    checks.append(Check("clips differ", len(first) < 2 or spread > 0, f"max std across clips {spread:.2e}"))
    return checks
