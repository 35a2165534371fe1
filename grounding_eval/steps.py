"""The named steps of an evaluation, in the order `runner.evaluate` calls them.

    resolve_task        task config + the caller's options (seed, runs, limit, controls, backbone) -> config
    build_instances     config -> dataset, the instances used, their concept indices
    concept_vectors     text encoder + prompts -> one vector per concept (and the random-init control's)
    instance_vectors    perception encoder -> one vector per instance
    resolve_metrics     config -> metric functions and chance levels
    run_protocol_views  vectors -> the protocol's runs and statistics, once per layer of a sweep
    (record)            in `runner`: typed `results` models from all of the above

Each step is a plain function of its inputs, so the grid, cache packs and other task kinds reuse them.
Both sides' vectors go through the embedding cache (`grounding_eval.cache`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from grounding_eval.cache import EmbeddingCache
from grounding_eval.data.base import GroundingDataset, Instance
from grounding_eval.encoders import PerceptionEncoder, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.parallel import agree_missing, data_parallel
from grounding_eval.plugins import Registries
from grounding_eval.progress import Reporter
from grounding_eval.protocol import CLASS_MEAN, Metric, run_protocol
from grounding_eval.reference import clap_pair, zero_shot
from grounding_eval.registry import check_args
from grounding_eval.tasks.config import TaskConfig

KNOWN_CONTROLS = ("permuted_text", "random_init", "procrustes")


# -- resolve options ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunOptions:
    """What the caller overrides in every task (None = the task's own value)."""

    audio_backbone: str | None = None
    backbone_args: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    num_runs: int | None = None
    limit: int | None = None  # at most this many instances per concept
    controls: Sequence[str] | None = None
    batch_size: int | None = None


def with_backbone(cfg: TaskConfig, backbone: str | None, backbone_args: dict[str, Any]) -> TaskConfig:
    """The task with another perception encoder and/or options; options add to the task's own only when
    the encoder stays the same (another encoder's options would not fit)."""
    same = backbone in (None, cfg.perception_encoder.name)
    if same and not backbone_args:
        return cfg
    base = dict(cfg.perception_encoder.args) if same else {}
    return cfg.with_overrides(perception_encoder={"name": backbone or cfg.perception_encoder.name,
                                                  "args": {**base, **backbone_args}})


def resolve_task(name: str, cfg: TaskConfig, opts: RunOptions) -> TaskConfig:
    """The task's config with the caller's overrides applied and re-validated."""
    overrides: dict[str, Any] = {}
    for key, value in (("seed", opts.seed), ("num_runs", opts.num_runs), ("max_instances_per_concept", opts.limit)):
        if value is not None:
            overrides[key] = value
    if opts.controls is not None:
        overrides["controls"] = list(opts.controls)
    if overrides:
        cfg = cfg.with_overrides(**overrides)
    cfg = with_backbone(cfg, opts.audio_backbone, opts.backbone_args)
    unknown = [c for c in cfg.controls if c not in KNOWN_CONTROLS]
    if unknown:
        raise GroundingEvalError(f"task {name}: unknown control {unknown[0]!r}; valid: {', '.join(KNOWN_CONTROLS)}")
    return cfg


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


def build_instances(name: str, cfg: TaskConfig, regs: Registries) -> Instances:
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


# -- concept vectors (the text side) --------------------------------------------------------------

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


@dataclass
class ConceptVectors:
    """The text side of a task: the prompts, and per text variant one vector per concept."""

    prompts: list[list[str]]  # template -> concept -> prompt
    spans: list[tuple[int, int]]  # per flattened prompt: where the concept's text is
    variants: dict[str, np.ndarray]  # "probe" (and "random_init") -> (concepts, dim) or (concepts, layers, dim)
    cache_stats: dict[str, int]
    report: dict[str, Any]  # what the encoder reports about the prompts (truncation, pooled tokens, ...)


def concept_vectors(name: str, cfg: TaskConfig, concepts: Sequence[Any], encoder: TextEncoder,
                    untrained: TextEncoder | None, label: str, cache: EmbeddingCache, rep: Reporter) -> ConceptVectors:
    """Every template filled with every concept, embedded; several templates are averaged per concept.
    `untrained` is the encoder's random-init copy: given when the task runs the random_init control."""
    prompts = [[tpl.format(concept=c.text) for c in concepts] for tpl in cfg.prompt_templates]
    flat = [p for group in prompts for p in group]
    spans = [concept_span(tpl, c.text) for tpl in cfg.prompt_templates for c in concepts]

    def per_concept(vectors: np.ndarray) -> np.ndarray:  # (templates * concepts, ...) -> (concepts, ...)
        return vectors.reshape(len(prompts), len(concepts), *vectors.shape[1:]).mean(0)

    vecs, stats = text_vectors(encoder, flat, spans, cache, rep, label)
    variants = {"probe": per_concept(vecs)}
    if untrained is not None:
        rnd, _ = text_vectors(untrained, flat, spans, cache, rep, f"{label} (random init)")
        variants["random_init"] = per_concept(rnd)
    return ConceptVectors(prompts, spans, variants, stats, encoder.report(flat, spans))


# -- instance vectors (the perception side) -------------------------------------------------------

def perception_encoder(name: str, cfg: TaskConfig, regs: Registries, device: str,
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


# -- metrics and protocol -------------------------------------------------------------------------

def resolve_metrics(name: str, cfg: TaskConfig, n_concepts: int, regs: Registries) -> tuple[list[Metric], dict[str, float]]:
    """The task's metric functions and each score's chance level (class means included)."""
    metric_fns = []
    chance: dict[str, float] = {}
    for metric_name, margs in cfg.metrics.items():
        entry = regs.metrics.get(metric_name)
        per_inst = entry.extra.get("per_instance")
        metric_fns.append(Metric(lambda s, y, _f=entry.obj, _a=dict(margs): _f(s, y, **_a),
                                 None if per_inst is None else
                                 (lambda s, y, _f=per_inst, _a=dict(margs): _f(s, y, **_a))))
        chance.update(entry.extra["chance"](n_concepts, **margs))
    chance.update({k + CLASS_MEAN: v for k, v in list(chance.items())})  # chance is the same per class
    if cfg.main_metric not in chance:
        raise GroundingEvalError(f"task {name}: main_metric {cfg.main_metric!r} is not computed; the metrics give {', '.join(chance)}")
    return metric_fns, chance


@dataclass
class View:
    """One reported entry: the whole task, or one layer of a per-layer sweep ("<task>@layer<k>")."""

    name: str
    layer: int | None
    variants: dict[str, np.ndarray]  # text variant -> (concepts, dim)
    protocol: dict[str, Any]  # what `run_protocol` returned (+ clap_zero_shot in the summary)
    seconds: float


def run_protocol_views(name: str, cfg: TaskConfig, text: ConceptVectors, inst: Instances, inst_mat: np.ndarray,
                       metric_fns: list[Metric], clap: bool, rep: Reporter) -> list[View]:
    """The protocol on every view. A per-layer sweep (layer=all gives (concepts, layers, dim)) runs it once per
    layer on the same splits and seeds; each split's perception side is prepared once for all layers."""
    views: list[tuple[str, int | None]] = [(name, None)]
    if text.variants["probe"].ndim == 3:
        views = [(f"{name}@layer{k}", k) for k in range(text.variants["probe"].shape[1])]
    prepared: dict = {}  # run seed -> the split's perception side, the same for every layer
    out = []
    for view_name, layer in views:
        t = time.perf_counter()
        variants = text.variants if layer is None else {v: m[:, layer] for v, m in text.variants.items()}
        n_steps = cfg.num_runs * (len(variants) + ("permuted_text" in cfg.controls))
        with rep.bar(f"probe: {cfg.num_runs} runs" + ("" if layer is None else f", layer {layer}"), n_steps) as advance:
            proto = run_protocol(variants, inst_mat, inst.concept_of, train_fraction=cfg.split.train_fraction,
                                 num_runs=cfg.num_runs, seed=cfg.seed, probe_cfg=cfg.probe, metric_fns=metric_fns,
                                 permuted_control="permuted_text" in cfg.controls,
                                 procrustes_cfg=cfg.procrustes if "procrustes" in cfg.controls else None,
                                 stats_cfg=cfg.statistics, on_step=advance, prepared=prepared)
        if clap:  # a CLAP text tower with its own audio tower: the zero-shot reference (grounding_eval/reference.py)
            proto["summary"]["clap_zero_shot"] = zero_shot(
                variants["probe"], inst_mat, inst.concept_of, num_runs=cfg.num_runs, seed=cfg.seed,
                train_fraction=cfg.split.train_fraction, metric_fns=metric_fns)
        out.append(View(view_name, layer, variants, proto, time.perf_counter() - t))
    return out


def is_clap_pair(text_encoder: TextEncoder, encoder: PerceptionEncoder) -> bool:
    return clap_pair(text_encoder.identity(), encoder.identity())
