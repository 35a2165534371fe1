"""Built-in dataset builders."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl


def _distro_sounds(**args):
    from grounding_eval.data.distro_sounds import build_distro_sounds

    return build_distro_sounds(**args)


@hookimpl
def register_datasets(register):
    register(
        "distro_sounds",
        _distro_sounds,
        description="real recordings from Debian sound packages (gcompris-qt-data, minetest-data, "
        "sound-theme-freedesktop), labelled with AudioSet class names; built locally on first use",
    )
