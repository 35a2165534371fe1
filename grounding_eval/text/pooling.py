"""Which tokens of a prompt make its vector, and how they are averaged.

Poolings:
- `mean` (alias `prompt`): mean over every real token of the prompt (special tokens included, as
  sentence-transformers does);
- `label`: mean over the tokens of the concept's own words only ("dog bark" in "the sound of dog bark"),
  found from the tokenizer's character offsets and the concept's character span in the prompt;
- `first` / `last`: the first / last real token (for a decoder, `last` is the one that has read the
  whole prompt).
Padding never counts: every choice is a 0/1 weight per token that is 0 on padding, so left and right
padding give the same vectors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from grounding_eval.errors import GroundingEvalError

POOLINGS = ("mean", "label", "first", "last")
ALIASES = {"prompt": "mean"}  # --model-args pooling=prompt means mean (text/hf.py HFModelArgs)


def label_token_mask(offsets: Sequence[tuple[int, int]], span: tuple[int, int]) -> np.ndarray:
    """1 for each token whose characters overlap the concept's span; special tokens (empty offsets) are 0."""
    start, end = span
    return np.array([1.0 if (b > a and a < end and b > start) else 0.0 for a, b in offsets], dtype=np.float32)


def token_weights(pooling: str, attention: np.ndarray, label_masks: list[np.ndarray] | None = None) -> np.ndarray:
    """(batch, seq) weights, rows summing to 1, from the padded attention mask (and label masks for `label`).

    `label_masks[i]` is aligned with the unpadded tokens of row i; the real tokens of row i are the ones
    where `attention[i]` is 1, whichever side the padding is on.
    """
    attention = attention.astype(np.float32)
    w = np.zeros_like(attention)
    for i, row in enumerate(attention):
        real = np.flatnonzero(row > 0)
        if pooling == "mean":
            w[i, real] = 1.0
        elif pooling == "first":
            w[i, real[0]] = 1.0
        elif pooling == "last":
            w[i, real[-1]] = 1.0
        elif pooling == "label":
            assert label_masks is not None
            lm = label_masks[i]
            if lm.sum() == 0:
                raise GroundingEvalError(
                    "pooling=label: the concept's tokens were cut off by max_length; raise --model-args max_length"
                )
            w[i, real[: len(lm)]] = lm
        else:  # pragma: no cover - HFModelArgs allows only POOLINGS
            raise ValueError(pooling)
    return w / w.sum(1, keepdims=True)
