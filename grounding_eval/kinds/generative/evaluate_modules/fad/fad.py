"""FAD (Fréchet distance between Gaussians fitted to two sets of embeddings) and FAD-inf, as an `evaluate`
module: the harness's own `grounding_eval.kinds.generative.distances.fad_inf`, so the numbers are the results'."""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from grounding_eval.kinds.generative.distances import fad_inf

_DESCRIPTION = """Fréchet Audio Distance (Kilgour et al. 2019) between the generated and the reference set, on any
embedding, at the generated set's own N, and FAD-inf: the intercept of FAD against 1/N over random subsets
of N/2..N (fadtk's extrapolation; Gui et al. 2023). FAD grows as N shrinks: compare it only at equal N and
embedder, or use fad_inf. Lower is better."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated embeddings; each example a 2-D array (rows = clips), stacked into one set.
    references: reference embeddings, the same way.
    seed: seed of the FAD-inf subsets (default 0, the harness's generator seed).
    steps: subset sizes from N/2 to N (default 5). draws: subsets per size below N (default 4).
Returns:
    fad: FAD at N (None under 2 rows); fad_inf: the extrapolation (None under 8 generated rows); n_generated, n_reference.
Examples:
    >>> import evaluate
    >>> from grounding_eval.kinds.generative.evaluate_modules import module_path
    >>> fad = evaluate.load(module_path("fad"))
    >>> fad.compute(predictions=[generated_embeddings], references=[reference_embeddings])
"""

_CITATION = """@inproceedings{kilgour2019fad, title={Fr\\'echet Audio Distance: A Reference-Free Metric for
Evaluating Music Enhancement Algorithms}, author={Kilgour, Kevin and Zuluaga, Mauricio and Roblek, Dominik and
Sharifi, Matthew}, booktitle={Interspeech}, year={2019}}"""

_SET = datasets.Sequence(datasets.Sequence(datasets.Value("float64")))


def stack(examples) -> np.ndarray:
    """The examples (2-D arrays) as one float64 set."""
    arrays = [np.asarray(e, np.float64).reshape(len(e), -1) for e in examples if len(e)]
    return np.concatenate(arrays) if arrays else np.zeros((0, 0))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Fad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
                                   features=datasets.Features({"predictions": _SET, "references": _SET}),
                                   reference_urls=["https://arxiv.org/abs/1812.08466", "https://arxiv.org/abs/2311.01616"])

    def _compute(self, predictions, references, seed: int = 0, steps: int = 5, draws: int = 4):
        return fad_inf(stack(predictions), stack(references), seed=seed, steps=steps, draws=draws)
