"""Reference scores that need no probe: CLAP zero-shot retrieval.

When the text encoder is CLAP's text tower (`--model clap:M`) and the audio backbone is the projected
CLAP audio tower of the same weights (`--audio-backbone clap`, embedding=projected), the two already
share a space: each test clip ranks all concepts by the cosine of its audio vector with their text
vectors, on the same class splits as the probe. It is reported as results.<task>.controls.clap_zero_shot
(mean ± standard error over the same runs), an upper reference for what a jointly trained model gets
without any probe.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from grounding_eval.kinds.probe.protocol import class_split, mean_stderr


def clap_pair(text_identity: dict[str, Any], audio_identity: dict[str, Any]) -> bool:
    """Both towers of one CLAP checkpoint, the audio side in the joint (projected) space."""
    return (text_identity.get("architecture") == "ClapModel.get_text_features"
            and audio_identity.get("backbone") == "clap" and audio_identity.get("embedding") == "projected"
            and text_identity.get("weights_sha256") == audio_identity.get("weights_sha256"))


def zero_shot(text: np.ndarray, audio: np.ndarray, instance_concept: np.ndarray, *, num_runs: int, seed: int,
              train_fraction: float, metric_fns: list[Callable[[np.ndarray, np.ndarray], dict[str, float]]]) -> dict[str, Any]:
    """Cosine retrieval among all concepts for the test concepts' clips of each run's split."""
    t = text / np.linalg.norm(text, axis=1, keepdims=True).clip(1e-12)
    a = audio / np.linalg.norm(audio, axis=1, keepdims=True).clip(1e-12)
    per_run: list[dict[str, float]] = []
    for r in range(num_runs):
        split = class_split(len(text), train_fraction, seed + r)
        rows = np.flatnonzero(np.isin(instance_concept, split.test))
        sim = a[rows] @ t.T
        scores: dict[str, float] = {}
        for fn in metric_fns:
            scores.update(fn(sim, instance_concept[rows]))
        per_run.append(scores)
    return {k: mean_stderr([s[k] for s in per_run]) for k in per_run[0]}
