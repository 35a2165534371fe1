"""Built-in dataset builders."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl


def _distro_sounds(**args):
    from grounding_eval.data.distro_sounds import build_distro_sounds

    return build_distro_sounds(**args)


def _fsd50k(**args):
    from grounding_eval.data.fsd50k import build_fsd50k

    return build_fsd50k(**args)


@hookimpl
def register_datasets(register):
    register(
        "distro_sounds",
        _distro_sounds,
        description="real recordings from Debian sound packages (gcompris-qt-data, minetest-data, "
        "sound-theme-freedesktop), labelled with AudioSet class names; built locally on first use",
    )
    register("fsd50k", _fsd50k, description="FSD50K: official Zenodo layout (root=...) or a hub copy (hub_id=..., revision=...); leaf classes by default")
