"""The embedding steps every task kind shares, each a plain function of its inputs:

    with_backbone       a task config with another perception encoder (the command's --audio-backbone)
    build_instances     config -> dataset, the instances used, their concept indices
    split_model_kind    `--model KIND:NAME` -> the registered kind and the name
    text_vectors        text encoder + texts -> one cached vector per text
    perception_encoder  config -> the task's perception encoder, its args checked
    instance_vectors    perception encoder -> one cached vector per instance

A kind's own steps (the probe's `kinds/probe/steps.py`, the generative runner) are built from these. Both
sides' vectors go through the embedding cache (`grounding_eval.cache`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from grounding_eval.cache import EmbeddingCache
from grounding_eval.data.base import GroundingDataset, Instance
from grounding_eval.encoders import PerceptionEncoder, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.parallel import agree_missing, data_parallel
from grounding_eval.plugins import Registries
from grounding_eval.progress import Reporter
from grounding_eval.registry import check_args
from grounding_eval.tasks.config import TaskFile


def with_backbone(cfg: TaskFile, backbone: str | None, backbone_args: dict[str, Any]) -> TaskFile:
    """The task with another perception encoder and/or options; options add to the task's own only when
    the encoder stays the same (another encoder's options would not fit)."""
    same = backbone in (None, cfg.perception_encoder.name)
    if same and not backbone_args:
        return cfg
    base = dict(cfg.perception_encoder.args) if same else {}
    return cfg.with_overrides(perception_encoder={"name": backbone or cfg.perception_encoder.name,
                                                  "args": {**base, **backbone_args}})


# -- dataset --------------------------------------------------------------------------------------

def select_instances(ds: GroundingDataset, per_concept: int | None, seed: int) -> list[Instance]:
    """At most `per_concept` instances per concept, drawn with `seed` (same seed, same clips)."""
    by_concept: dict[str, list[Instance]] = {}
    for inst in sorted(ds.instances, key=lambda i: i.id):
        by_concept.setdefault(inst.concept, []).append(inst)
    rng = np.random.default_rng([seed, 0xC11F])
    chosen: list[Instance] = []
    for c in ds.concepts:
        items = by_concept.get(c.name, [])
        if per_concept is not None and len(items) > per_concept:
            keep = np.sort(rng.choice(len(items), size=per_concept, replace=False))
            items = [items[i] for i in keep]
        chosen.extend(items)
    return chosen


@dataclass
class Instances:
    """The dataset and the instances a task uses, with each instance's concept index."""

    dataset: GroundingDataset
    instances: list[Instance]
    concept_of: np.ndarray  # instance -> index into dataset.concepts

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.dataset.concepts]


def build_instances(name: str, cfg: TaskFile, regs: Registries) -> Instances:
    """Build the task's dataset and select its instances; a concept with none, or fewer than 3 concepts, fails."""
    ds: GroundingDataset = regs.datasets.build(cfg.dataset.name, cfg.dataset.args, f"task {name}: dataset.args")
    instances = select_instances(ds, cfg.max_instances_per_concept, cfg.seed)
    empty = [c.name for c in ds.concepts if not any(i.concept == c.name for i in instances)]
    if empty:
        raise GroundingEvalError(f"task {name}: concept {empty[0]!r} has no usable instance; fix the data or drop the concept")
    if len(ds.concepts) < 3:
        raise GroundingEvalError(f"task {name}: dataset {cfg.dataset.name} has {len(ds.concepts)} concepts; a probe needs at least 3")
    index = {c.name: i for i, c in enumerate(ds.concepts)}
    return Instances(ds, instances, np.array([index[i.concept] for i in instances]))


# -- text vectors -----------------------------------------------------------------------------------

def split_model_kind(model: str, kinds: Sequence[str]) -> tuple[str, str]:
    """`KIND:NAME` picks a registered kind (a text encoder, a generator); anything else is a Hugging Face model."""
    if ":" in model:
        kind, rest = model.split(":", 1)
        if kind in kinds:
            return kind, rest
    return "hf", model


def concept_span(template: str, text: str) -> tuple[int, int]:
    """Where `text` lands in `template.format(concept=text)`: (start, end) characters (its first occurrence)."""
    marker = "\x00"
    start = template.format(concept=marker).index(marker)
    return start, start + len(text)


def text_vectors(encoder: TextEncoder, texts: list[str], spans: list[tuple[int, int]], cache: EmbeddingCache,
                 rep: Reporter, label: str) -> tuple[np.ndarray, dict[str, int]]:
    """Cached text vectors. Encoders that read the concept's span get it, and it joins each item's key."""
    if encoder.uses_spans:
        keys = [hashlib.sha256(f"{t}\0{a}:{b}".encode()).hexdigest() for t, (a, b) in zip(texts, spans)]
        payloads: list[Any] = list(zip(texts, spans))

        def compute(items, progress):
            return encoder.embed([t for t, _ in items], progress, spans=[s for _, s in items])
    else:
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        payloads, compute = list(texts), encoder.embed
    with rep.bar(f"text: {label}", len(texts)) as advance:
        vecs, stats = cache.embed(encoder.cache_key(), {"kind": "text", **encoder.identity()}, keys, payloads,
                                  compute, encoder.batch_size, advance, agree=agree_missing)
    return vecs, stats


# -- instance vectors (the perception side) -------------------------------------------------------

def perception_encoder(name: str, cfg: TaskFile, regs: Registries, device: str,
                       batch_size: int | None = None) -> PerceptionEncoder:
    """The task's perception encoder, its args checked against the factory's signature first."""
    enc_name = cfg.perception_encoder.name
    args = dict(cfg.perception_encoder.args)
    args.setdefault("device", device)
    if batch_size is not None:
        args.setdefault("batch_size", batch_size)
    entry = regs.perception_encoders.get(enc_name)
    if entry.name != enc_name:  # a prefix entry such as "hear:" takes the full name
        args["name"] = enc_name
    return entry.obj(**check_args(entry.obj, args, f"task {name}: perception_encoder.args", f"perception encoder {enc_name}"))


def instance_vectors(encoder: PerceptionEncoder, instances: list[Instance], cache: EmbeddingCache,
                     rep: Reporter) -> tuple[np.ndarray, dict[str, int]]:
    """Cached perception vectors, one per instance (keyed by its content hash)."""
    keys = [inst.content_hash for inst in instances]
    with rep.bar(f"{encoder.modality}: {encoder.name}", len(instances)) as advance:
        # Encoders that stream batches (`embed_batches`, e.g. audio decoding ahead in workers) have them
        # split across data-parallel processes under `accelerate launch`.
        rank, world, _ = data_parallel()
        return cache.embed(encoder.cache_key(), {"kind": "perception", "name": encoder.name, **encoder.identity()},
                           keys, instances, encoder.embed, encoder.batch_size, advance,
                           stream=getattr(encoder, "embed_batches", None), world=(rank, world), agree=agree_missing)
