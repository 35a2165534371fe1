"""One knowledge evaluation, as a short list of steps: the items, the requests, the model's scores (cached), the
controls' scores, the per-question metrics, the intervals and paired tests, the results dict.

Controls (the task's `controls`):
- chance: 1 / number of choices, averaged over questions (always reported);
- choice_only: the same model scores each choice with no question (lm-eval's unconditional request ("",
  choice)); what it gets right it gets from its prior over answers, not from the question;
- random_init: the same architecture and tokenizer with weights drawn with seed 0 (the probe's random_init
  control): what the format alone (lengths, tokenisation) gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grounding_eval.cache import EmbeddingCache
from grounding_eval.kinds.knowledge.config import KnowledgeTaskConfig
from grounding_eval.kinds.knowledge.items import ItemSet, load_items
from grounding_eval.kinds.knowledge.metrics import by_type, summarise
from grounding_eval.kinds.knowledge.scoring import Scorer, cached_loglikelihoods


@dataclass
class Prepared:
    """A task's items and its requests, before any model runs."""

    cfg: KnowledgeTaskConfig
    items: ItemSet

    def requests(self, with_question: bool = True) -> list[tuple[str, str]]:
        """(context, continuation) per (question, choice), questions in order, choices in order."""
        p = self.cfg.prompt
        if with_question:
            return [(p.template.format(question=i.question), p.delimiter + c) for i in self.items.items for c in i.choices]
        return [("", c) for i in self.items.items for c in i.choices]

    def per_item(self, flat: Any) -> list[list[float]]:
        """Flat per-request scores back into one list per question."""
        out, at = [], 0
        for i in self.items.items:
            out.append([float(x) for x in flat[at:at + len(i.choices)]])
            at += len(i.choices)
        return out


def prepare(cfg: KnowledgeTaskConfig) -> Prepared:
    """The items of a task (a missing source is one line before any model loads)."""
    return Prepared(cfg, load_items(cfg.dataset.name, cfg.dataset.args, cfg.limit))


def score_task(prep: Prepared, scorer: Scorer, untrained: Callable[[], Scorer] | None, cache: EmbeddingCache,
               progress: Callable[[str], Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results.<task>, tasks.<task>) of one task."""
    cfg = prep.cfg
    lls = {"model": prep.per_item(cached_loglikelihoods(scorer, prep.requests(), cache, _bar(progress, "model"))[:, 0])}
    variants = {"model": scorer.identity()}
    if "choice_only" in cfg.controls:
        flat = cached_loglikelihoods(scorer, prep.requests(with_question=False), cache, _bar(progress, "choice_only"))
        lls["choice_only"] = prep.per_item(flat[:, 0])
        variants["choice_only"] = {"same_as": "model", "context": ""}
    if "random_init" in cfg.controls and untrained is not None:
        rand = untrained()
        lls["random_init"] = prep.per_item(cached_loglikelihoods(rand, prep.requests(), cache, _bar(progress, "random_init"))[:, 0])
        variants["random_init"] = rand.identity()
    items = [{"id": it.id, "question": it.question, "choices": list(it.choices), "answer": it.answer,
              "type": str(it.meta.get("type", "")), "loglikelihoods": {v: lls[v][k] for v in lls}}
             for k, it in enumerate(prep.items.items)]
    st = cfg.statistics
    summary = summarise(items, list(lls), st.resamples, st.confidence, st.seed)
    result = {"main_metric": cfg.main_metric, "n_items": len(items), **summary, "by_type": by_type(items)}
    record = {"version": cfg.version, "hash": cfg.content_hash(), "config": cfg.to_dict(), "seed": st.seed,
              "items_fingerprint": prep.items.fingerprint, "source": prep.items.source, "variants": variants,
              "items": items}
    return result, record


def _bar(progress: Callable[[str], Any] | None, what: str) -> Any:
    return progress(what) if progress else None


def timer() -> Callable[[], float]:
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0
