"""The probe kind's steps, in the order `runner.evaluate` calls them (the shared embedding steps are
`grounding_eval.embedding`):

    resolve_task        task config + the caller's options (seed, runs, limit, controls, backbone) -> config
    build_instances     (shared) config -> dataset, the instances used, their concept indices
    concept_vectors     text encoder + prompts -> one vector per concept (and the random-init control's)
    instance_vectors    (shared) perception encoder -> one vector per instance
    resolve_metrics     config -> metric functions and chance levels
    run_protocol_views  vectors -> the protocol's runs and statistics, once per layer of a sweep
    (record)            in `runner`: typed `results` models from all of the above

Each step is a plain function of its inputs, so the grid and cache packs reuse them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from grounding_eval import plugins
from grounding_eval.atomic import atomic_write
from grounding_eval.cache import EmbeddingCache, write_advice
from grounding_eval.code_digest import code_digest
from grounding_eval.embedding import Instances, concept_span, text_vectors, with_backbone
from grounding_eval.encoders import PerceptionEncoder, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.config import TaskConfig
from grounding_eval.kinds.probe.protocol import CLASS_MEAN, Metric, run_protocol
from grounding_eval.kinds.probe.reference import clap_pair, zero_shot
from grounding_eval.plugins import Registries
from grounding_eval.progress import Reporter
from grounding_eval.stats import RunSample

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


# -- concept vectors (the text side) --------------------------------------------------------------

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
                       metric_fns: list[Metric], clap: bool, rep: Reporter, runs_dir: Path | None = None) -> list[View]:
    """The protocol on every view. A per-layer sweep (layer=all gives (concepts, layers, dim)) runs it once per
    layer on the same splits and seeds; each split's perception side is prepared once for all layers.
    `runs_dir` (a folder of the embedding cache) keeps each finished run: a rerun after a crash or Ctrl-C
    resumes them (`RunStore`)."""
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
                                 stats_cfg=cfg.statistics, on_step=advance, prepared=prepared,
                                 store=RunStore.of(runs_dir, cfg, variants, inst_mat, inst.concept_of, layer))
        if clap:  # a CLAP text tower with its own audio tower: the zero-shot reference (grounding_eval/kinds/probe/reference.py)
            proto["summary"]["clap_zero_shot"] = zero_shot(
                variants["probe"], inst_mat, inst.concept_of, num_runs=cfg.num_runs, seed=cfg.seed,
                train_fraction=cfg.split.train_fraction, metric_fns=metric_fns)
        out.append(View(view_name, layer, variants, proto, time.perf_counter() - t))
    return out


def is_clap_pair(text_encoder: TextEncoder, encoder: PerceptionEncoder) -> bool:
    return clap_pair(text_encoder.identity(), encoder.identity())


# -- finished runs, kept for a rerun ----------------------------------------------------------------

class RunStore:
    """The finished runs of one protocol call, one file per run seed under `<runs_dir>/<key>/`, written whole
    (temporary file, then rename). The key hashes everything a run's numbers follow from: the resolved task
    (seed, split, probe, controls, metrics), the text and perception matrices themselves (so both encoders and
    the dataset), the view's layer and the versions of the code that computes them; a rerun of the same call
    finds the runs finished before a crash or Ctrl-C and gives the same numbers as an uninterrupted call."""

    def __init__(self, folder: Path):
        self.dir = folder

    @classmethod
    def of(cls, runs_dir: Path | None, cfg: TaskConfig, variants: dict[str, np.ndarray], inst_mat: np.ndarray,
           concept_of: np.ndarray, layer: int | None) -> "RunStore | None":
        if runs_dir is None:
            return None
        h = hashlib.sha256(json.dumps({"task": cfg.content_hash(), "layer": layer, "versions": _versions(),
                                       "metric_code": metric_code(cfg)}, sort_keys=True).encode())
        for label, mat in [*sorted(variants.items()), ("instances", inst_mat), ("concept_of", concept_of)]:
            arr = np.ascontiguousarray(mat)
            h.update(f"{label}:{arr.dtype.str}:{arr.shape}".encode())
            h.update(arr.tobytes())
        return cls(Path(runs_dir) / h.hexdigest())

    def load(self, run_seed: int) -> tuple[dict[str, Any], dict[str, RunSample]] | None:
        """The run's record and samples, or None when it is not there (or unreadable: then it is run again)."""
        path = self.dir / f"run-{run_seed}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                record = json.loads(str(z["record"]))
                samples = {name: RunSample(scores, {m: z[f"pi::{name}::{m}"] for m in json.loads(str(z[f"metrics::{name}"]))},
                                           z[f"classes::{name}"])
                           for name, scores in json.loads(str(z["scores"])).items()}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        for value in record.values():  # JSON keys are strings; the protocol's concept indices are ints
            if isinstance(value, dict) and "per_class" in value:
                value["per_class"] = {int(c): v for c, v in value["per_class"].items()}
        return record, samples

    def save(self, run_seed: int, record: dict[str, Any], samples: dict[str, RunSample]) -> None:
        arrays: dict[str, np.ndarray] = {"record": np.array(json.dumps(record)),
                                         "scores": np.array(json.dumps({n: s.scores for n, s in samples.items()}))}
        for name, sample in samples.items():
            arrays[f"classes::{name}"] = np.asarray(sample.classes)
            arrays[f"metrics::{name}"] = np.array(json.dumps(list(sample.per_instance)))
            arrays.update({f"pi::{name}::{m}": np.asarray(v) for m, v in sample.per_instance.items()})
        try:
            atomic_write(self.dir / f"run-{run_seed}.npz", lambda f: np.savez(f, **arrays))
        except OSError as exc:
            raise GroundingEvalError(f"probe: cannot keep a finished run in {self.dir} "
                                     f"({exc.strerror or type(exc).__name__}); {write_advice(exc)}") from None


def metric_code(cfg: TaskConfig) -> dict[str, str]:
    """The code digest (grounding_eval.code_digest) of every function computing one of the task's metrics: its
    score, its per-instance form and its chance, with the local helpers they call. A package version does not move
    when a plugin's metric or a helper it imports is edited in place (a local plugin file, an editable install):
    its runs must be computed anew all the same."""
    regs = plugins.registries()
    out: dict[str, str] = {}
    for name in sorted(cfg.metrics):
        entry = regs.metrics.get(name)
        fns = (entry.obj, entry.extra.get("per_instance"), entry.extra.get("chance"))
        out[name] = hashlib.sha256("\0".join(code_digest(fn) if fn is not None else "-" for fn in fns).encode()).hexdigest()
    return out


def _versions() -> dict[str, str]:
    """The versions of the code a run's numbers come from (a new one computes them anew)."""
    out = {}
    for dist in ("grounding-eval", "numpy", "torch", "scipy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "none"
    return out
