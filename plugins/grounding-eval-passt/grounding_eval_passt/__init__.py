"""grounding-eval plugin: PaSST (Koutini et al., 2022) through hear21passt as the audio backbone "passt".

Install: `pip install grounding-eval-passt` (brings hear21passt, timm, torchvision, torchaudio; pin them to
a matching torch stack, as .ci/install does).
"""

from __future__ import annotations

from typing import Any

from grounding_eval.hookspecs import hookimpl


def _factory(**options: Any):
    # Imported lazily so listing plugins does not import torch, timm or hear21passt.
    from grounding_eval_passt.backbone import PasstBackbone

    return PasstBackbone(**options)


@hookimpl
def register_perception_encoders(register):
    register(
        "passt",
        _factory,
        description="PaSST-S (AudioSet, hear21passt), 32 kHz, 10 s windows; embedding=embed (768-d) | all (527 logits + 768) | logits",
        modality="audio",
    )
