"""Built-in dataset builders. Builders are imported when used, so listing them stays cheap.

Each registration may carry `describe` (a no-argument function giving source, clip and class counts
for `grounding-eval datasets`, without reading audio) and `progress=True` (the builder accepts
`progress` and shows a bar while it checks files).
"""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl
from grounding_eval.registry import lazy


_distro_sounds = lazy("grounding_eval.data.distro_sounds", "build_distro_sounds")


def _describe_distro_sounds():
    from collections import Counter

    from grounding_eval.data.distro_sounds import EDITION_PACKAGES, LATEST_EDITION, read_label_map

    rows, _ = read_label_map()
    counts = Counter(r.label for r in rows if r.label)
    big = {c: n for c, n in counts.items() if n >= 3}
    return {"source": f"edition {LATEST_EDITION}: {len(EDITION_PACKAGES[LATEST_EDITION])} Debian packages "
                      f"(edition 1: {', '.join(EDITION_PACKAGES[1])})",
            "clips": f"{sum(counts.values())} labelled (of {len(rows)} listed); {sum(big.values())} in classes of >= 3",
            "classes": f"{len(counts)}; {len(big)} with >= 3 clips (the default task's)"}


_fsd50k = lazy("grounding_eval.data.fsd50k", "build_fsd50k")


def _describe_fsd50k():
    from grounding_eval.data.fsd50k import describe

    return describe()


_esc50 = lazy("grounding_eval.data.folds", "build_esc50")


def _describe_esc50():
    from grounding_eval.data.folds import ESC50, describe

    return describe(ESC50)


_urbansound8k = lazy("grounding_eval.data.folds", "build_urbansound8k")


def _describe_urbansound8k():
    from grounding_eval.data.folds import URBANSOUND8K, describe

    return describe(URBANSOUND8K)


_audiofolder = lazy("grounding_eval.data.local", "build_audiofolder")


_csv_manifest = lazy("grounding_eval.data.local", "build_csv_manifest")
_notes = lazy("grounding_eval.data.notes", "build_notes")


@hookimpl
def register_datasets(register):
    register(
        "distro_sounds",
        _distro_sounds,
        description="real recordings from Debian game, education and music-sample packages, labelled with "
        "AudioSet class names by our own map; built locally on first use; args edition (1 or 2), "
        "min_clips_per_concept, packages",
        describe=_describe_distro_sounds,
    )
    register("fsd50k", _fsd50k, description="FSD50K: official Zenodo layout (root=...) or a hub copy (hub_id=..., revision=...); leaf classes by default",
             describe=_describe_fsd50k, progress=True)
    register("esc50", _esc50, description="ESC-50 (meta/esc50.csv + audio/), folds and esc10_only selectable",
             describe=_describe_esc50, progress=True)
    register("urbansound8k", _urbansound8k, description="UrbanSound8K (metadata/UrbanSound8K.csv + audio/foldN/)",
             describe=_describe_urbansound8k, progress=True)
    register("notes", _notes, description="instrument notes: fluidsynth renders (FluidR3 GM soundfont) of each instrument "
             "at each pitch, plus the gcompris instrument recordings; references of the generative notes tier")
    register("audiofolder", _audiofolder, description="your recordings: root=DIR with one sub-folder per class",
             describe=lambda: {"source": "your folder: args root=DIR (DIR/<label>/<clips>)"}, progress=True)
    register("csv_manifest", _csv_manifest, description="your recordings listed in a CSV: manifest=FILE.csv with columns path,label",
             describe=lambda: {"source": "your CSV: args manifest=FILE.csv (path,label)"}, progress=True)
