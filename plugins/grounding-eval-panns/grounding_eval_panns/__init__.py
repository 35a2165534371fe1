"""grounding-eval plugin: PANNs CNN14 (Kong et al., 2020) through panns-inference as the audio backbone "panns".

Install: `pip install grounding-eval-panns` (brings panns-inference, torchlibrosa, librosa).
"""

from __future__ import annotations

from typing import Any

from grounding_eval.hookspecs import hookimpl


def _factory(**options: Any):
    from grounding_eval_panns.backbone import PannsBackbone

    return PannsBackbone(**options)


@hookimpl
def register_perception_encoders(register):
    register(
        "panns",
        _factory,
        description="PANNs CNN14 (AudioSet, panns-inference), 32 kHz, 64 mel bands; embedding=embedding (2048-d) | logits (527)",
        modality="audio",
    )
