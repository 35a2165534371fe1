"""Built-in perception encoders: those that need no dependency beyond the core."""

from __future__ import annotations

from grounding_eval.hookspecs import hookimpl


def _logmel(**options):
    from grounding_eval.audio.logmel import LogMelBackbone

    return LogMelBackbone(**options)


@hookimpl
def register_perception_encoders(register):
    register("logmel", _logmel, description="weight-free log-mel statistics (mean and std per band): a baseline", modality="audio")
