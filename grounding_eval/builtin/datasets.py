"""Built-in dataset builders.

Each registration may carry `describe` (a no-argument function giving source, clip and class counts
for `grounding-eval datasets`, without reading audio) and `progress=True` (the builder accepts
`progress` and shows a bar while it checks files).
"""

from __future__ import annotations

from collections import Counter

from grounding_eval.data import folds, fsd50k, ktuberling
from grounding_eval.data.distro_sounds import (EDITION_PACKAGES, LATEST_EDITION, build_distro_sounds,
                                               read_label_map)
from grounding_eval.data.local import build_audiofolder, build_csv_manifest
from grounding_eval.data.notes import build_notes
from grounding_eval.hookspecs import hookimpl


def _describe_distro_sounds():
    rows, _ = read_label_map()
    counts = Counter(r.label for r in rows if r.label)
    big = {c: n for c, n in counts.items() if n >= 3}
    return {"source": f"edition {LATEST_EDITION}: {len(EDITION_PACKAGES[LATEST_EDITION])} Debian packages "
                      f"(edition 1: {', '.join(EDITION_PACKAGES[1])})",
            "clips": f"{sum(counts.values())} labelled (of {len(rows)} listed); {sum(big.values())} in classes of >= 3",
            "classes": f"{len(counts)}; {len(big)} with >= 3 clips (the default task's)"}


@hookimpl
def register_datasets(register):
    register(
        "distro_sounds",
        build_distro_sounds,
        description="real recordings from Debian game, education and music-sample packages, labelled with "
        "AudioSet class names by our own map; built locally on first use; args edition (1 or 2), packages, "
        "and the clip options (min_clips_per_class, ...)",
        describe=_describe_distro_sounds,
    )
    register("fsd50k", fsd50k.build_fsd50k, description="FSD50K: official Zenodo layout (root=...) or a hub copy (hub_id=..., revision=...); leaf classes by default",
             describe=fsd50k.describe, progress=True)
    register("esc50", folds.build_esc50, description="ESC-50 (meta/esc50.csv + audio/), folds and esc10_only selectable",
             describe=lambda: folds.describe(folds.ESC50), progress=True)
    register("urbansound8k", folds.build_urbansound8k, description="UrbanSound8K (metadata/UrbanSound8K.csv + audio/foldN/)",
             describe=lambda: folds.describe(folds.URBANSOUND8K), progress=True)
    register("notes", build_notes, description="instrument notes: fluidsynth renders (FluidR3 GM soundfont) of each instrument "
             "at each pitch, plus the gcompris instrument recordings; references of the generative notes tier")
    register("ktuberling_words", ktuberling.build_ktuberling_words, description="people saying single words in 26 "
             "languages (Debian ktuberling-data, read in place): one class per word; references of the generative speech tier",
             describe=ktuberling.describe)
    register("audiofolder", build_audiofolder, description="your recordings: root=DIR with one sub-folder per class",
             describe=lambda: {"source": "your folder: args root=DIR (DIR/<label>/<clips>)"}, progress=True)
    register("csv_manifest", build_csv_manifest, description="your recordings listed in a CSV: manifest=FILE.csv with columns path,label",
             describe=lambda: {"source": "your CSV: args manifest=FILE.csv (path,label)"}, progress=True)
