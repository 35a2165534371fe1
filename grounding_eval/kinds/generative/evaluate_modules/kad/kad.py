"""KAD (kernel audio distance: unbiased MMD² with a Gaussian kernel) as an `evaluate` module: the harness's own
`grounding_eval.kinds.generative.distances` functions, so the numbers are the results'."""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from grounding_eval.kinds.generative.distances import kad, median_bandwidth, per_class_kad

_DESCRIPTION = """Kernel Audio Distance (Chung et al. 2025) between the generated and the reference set, on any
embedding: the unbiased MMD² with a Gaussian kernel whose bandwidth is the median pairwise distance within the
references, times 1000. Unbiased, so usable at small N; it can dip slightly below 0 when the sets match.
With class labels it is computed per class (each class's generated rows against that class's references,
one bandwidth from all references) and averaged over classes, as the harness's results report it."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated embeddings; each example a 2-D array (rows = clips), stacked into one set.
    references: reference embeddings, the same way.
    predictions_classes, references_classes: optional labels, one per stacked row of each set.
    bandwidth: the kernel bandwidth (default: the median pairwise distance within the references).
    scale: multiplier (default 1000, as in the KAD paper).
Returns:
    kad and bandwidth; with classes also kad_per_class (NaN for a class with fewer than 2 rows on a side;
    the mean skips those).
Examples:
    >>> import evaluate
    >>> from grounding_eval.kinds.generative.evaluate_modules import module_path
    >>> kad = evaluate.load(module_path("kad"))
    >>> kad.compute(predictions=[generated_embeddings], references=[reference_embeddings])
"""

_CITATION = """@article{chung2025kad, title={KAD: No More FAD! An Effective and Efficient Evaluation Metric for
Audio Generation}, author={Chung, Yoonjin and Eu, Pilsun and Lee, Junwon and Choi, Keunwoo and Nam, Juhan and
Chon, Ben Sangbae}, journal={arXiv:2502.15602}, year={2025}}"""

_SET = datasets.Sequence(datasets.Sequence(datasets.Value("float64")))


def stack(examples) -> np.ndarray:
    """The examples (2-D arrays) as one float64 set."""
    arrays = [np.asarray(e, np.float64).reshape(len(e), -1) for e in examples if len(e)]
    return np.concatenate(arrays) if arrays else np.zeros((0, 0))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Kad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
                                   features=datasets.Features({"predictions": _SET, "references": _SET}),
                                   reference_urls=["https://arxiv.org/abs/2502.15602"])

    def _compute(self, predictions, references, predictions_classes=None, references_classes=None,
                 bandwidth: float | None = None, scale: float = 1000.0):
        gen, ref = stack(predictions), stack(references)
        if (predictions_classes is None) != (references_classes is None):
            raise ValueError("kad: give predictions_classes and references_classes together, or neither")
        if predictions_classes is None:
            bw = median_bandwidth(ref) if bandwidth is None else float(bandwidth)
            return {"kad": kad(gen, ref, bw, scale), "bandwidth": bw}
        gen_c, ref_c = np.asarray(predictions_classes), np.asarray(references_classes)
        if len(gen_c) != len(gen) or len(ref_c) != len(ref):
            raise ValueError(f"kad: {len(gen_c)} predictions_classes for {len(gen)} rows, {len(ref_c)} references_classes "
                             f"for {len(ref)} rows; give one label per row")
        if bandwidth is not None or scale != 1000.0:
            raise ValueError("kad: with classes the bandwidth is the references' median and the scale 1000, as in the harness")
        names, gen_i = np.unique(gen_c, return_inverse=True)
        ref_i = np.array([int(np.searchsorted(names, c)) if c in names else -1 for c in ref_c])
        per = per_class_kad(gen, gen_i, ref, ref_i)
        finite = [v for v in per.values() if np.isfinite(v)]
        return {"kad": float(np.mean(finite)) if finite else float("nan"), "bandwidth": median_bandwidth(ref),
                "kad_per_class": {str(names[c]): v for c, v in per.items()}}
