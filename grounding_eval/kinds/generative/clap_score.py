"""The CLAP score of generated clips, when a real CLAP checkpoint is named (`scoring.clap`).

Both towers of ONE checkpoint: the text tower (the `clap` text encoder, `ClapModel.get_text_features`) on
the judge prompt of every concept, the audio tower (the `clap` perception encoder, embedding=projected,
`ClapModel.get_audio_features`) on each clip. Scores, per clip, from the cosine of its audio vector with
every concept's text vector:

- `clap_score`: the cosine with its own concept's text (the CLAP score of text-to-audio papers), mean
  over clips with a bootstrap interval;
- accuracy@K and MRR: the rank of its own concept among all concepts (zero-shot retrieval, no probe).

Offline no CLAP weights ship, so the shipped tasks leave `scoring.clap` null; naming a checkpoint that
cannot be found stops the run before anything is generated, with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from grounding_eval.errors import GroundingEvalError
from grounding_eval.metrics import true_ranks


@dataclass
class ClapScorer:
    """CLAP's towers for one task: the audio encoder, and the unit text vectors of every concept."""

    checkpoint: str
    text_encoder: Any
    audio_encoder: Any
    text_vecs: np.ndarray  # (concepts, dim), unit rows

    def similarity(self, audio_vecs: np.ndarray) -> np.ndarray:
        """Cosine of each clip with each concept's text, (clips, concepts)."""
        if len(audio_vecs) == 0:
            return np.zeros((0, len(self.text_vecs)))
        a = np.asarray(audio_vecs, np.float64)
        a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
        return a @ self.text_vecs.T

    def identity(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "text": self.text_encoder.identity(), "audio": self.audio_encoder.identity()}


def checkpoint_name(value: str) -> str:
    """`scoring.clap` takes `clap:ID_OR_PATH` (as `--model clap:...`) or the bare id or folder."""
    return value[len("clap:"):] if value.startswith("clap:") else value


def load_clap(task: str, value: str, regs: Any, device: str | None, batch_size: int | None) -> tuple[Any, Any]:
    """(text encoder, audio encoder) of the checkpoint; one line naming the task field when it cannot load."""
    ckpt = checkpoint_name(value)
    text_args = {"device": device} if device else {}
    audio_args: dict[str, Any] = {"model": ckpt, "embedding": "projected", "device": device or "cpu"}
    if batch_size is not None:
        audio_args["batch_size"] = batch_size
    try:
        text = regs.text_encoders.get("clap").obj(ckpt, **text_args)
        audio = regs.perception_encoders.get("clap").obj(**audio_args)
    except GroundingEvalError as exc:
        raise GroundingEvalError(f"task {task}: scoring.clap={value}: {exc} (or set scoring.clap: null to score without "
                                 f"CLAP)") from None
    return text, audio


def clap_scores(sim: np.ndarray, target: np.ndarray, k: list[int], interval: Callable[[np.ndarray], dict]) -> dict[str, Any]:
    """clap_score (cosine with the target concept's text), accuracy@K and MRR of the target's rank."""
    out: dict[str, Any] = {"n_clips": int(len(sim))}
    if len(sim) == 0:
        return out
    out["clap_score"] = interval(sim[np.arange(len(sim)), target])
    out["clap_score"]["unit"] = "cosine of the clip's CLAP audio vector with its concept's CLAP text vector"
    ranks = true_ranks(sim, target)
    for kk in k:
        out[f"accuracy@{kk}"] = interval((ranks <= kk).astype(float))
    out["mrr"] = interval(1.0 / ranks)
    return out
