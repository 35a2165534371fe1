"""The set-level scores of generated instances as Hugging Face `evaluate` modules, where the ecosystem looks
for metrics: `evaluate.load(module_path("fad"))`. Each module is a thin wrapper over the harness's own
function (grounding_eval/kinds/generative/distances.py), so it gives the very numbers the results files hold.

- `fad`: FAD at the set's N and FAD-inf (`distances.fad_inf`);
- `kad`: KAD, unbiased MMD² x 1000 (`distances.kad`); with class labels, per class and the mean over classes
  as the results' `kad` (`distances.per_class_kad`).

Inputs are embeddings (any embedder; the harness uses the task's `scoring.embedder`). One example is a
2-D array, a set or a chunk of one: the examples of `predictions` are stacked into the generated set, those
of `references` into the reference set, so `add_batch` can stream chunks.
"""

from __future__ import annotations

from pathlib import Path

MODULES = ("fad", "kad")


def module_path(name: str) -> str:
    """The folder `evaluate.load` takes for the module `name` (one of MODULES)."""
    if name not in MODULES:
        raise ValueError(f"no evaluate module {name!r}; valid: {', '.join(MODULES)}")
    return str(Path(__file__).parent / name)
