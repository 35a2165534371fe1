"""grounding-eval plugin: the aisfx sound-effects CNN as the audio backbone "aisfx".

Install: `pip install grounding-eval-aisfx` then `pip install --no-deps aisfx==0.1.2` (aisfx's own
metadata pins packages that do not install on Python 3.11, so it is installed without them).
"""

from __future__ import annotations

from typing import Any

from grounding_eval.hookspecs import hookimpl


def _factory(**options: Any):
    # Imported lazily so listing plugins does not import torch or check for aisfx.
    from grounding_eval_aisfx.backbone import AisfxBackbone

    return AisfxBackbone(**options)


@hookimpl
def register_perception_encoders(register):
    register(
        "aisfx",
        _factory,
        description="aisfx (ISMIR 2022) pretrained sound-effects CNN, 44.1 kHz, 96 mel bands, 512-d, pooled over 2 s blocks",
        modality="audio",
    )
