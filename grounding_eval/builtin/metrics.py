"""Built-in retrieval metrics."""

from __future__ import annotations

from grounding_eval import metrics
from grounding_eval.hookspecs import hookimpl


@hookimpl
def register_metrics(register):
    register("accuracy_at_k", metrics.accuracy_at_k, metrics.accuracy_at_k_chance,
             per_instance=metrics.accuracy_at_k_per_instance,
             description="share of instances whose true concept is among the K most similar (args: k)")
    register("mrr", metrics.mrr, metrics.mrr_chance, per_instance=metrics.mrr_per_instance,
             description="mean reciprocal rank of the true concept")
