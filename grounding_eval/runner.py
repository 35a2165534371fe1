"""`evaluate()`: task YAML -> dataset -> text and perception embeddings (cached) -> protocol -> results.

Every task goes through the same path, whatever its modality: what a task supplies and what is done with
it is written down in `grounding_eval.tasks`. The CLI is a thin layer over this function; notebooks and
other tools call it directly and get the results as a dict that follows `grounding_eval.results.RESULTS_SCHEMA`.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grounding_eval import paths, plugins
from grounding_eval.registry import check_args
from grounding_eval.cache import EmbeddingCache
from grounding_eval.data.base import GroundingDataset, Instance
from grounding_eval.encoders import PerceptionEncoder, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.protocol import CLASS_MEAN, Metric, run_protocol
from grounding_eval.results import SCHEMA_VERSION, check_output_path, environment, now_iso, write_results
from grounding_eval.parallel import data_parallel
from grounding_eval.reference import clap_pair, zero_shot
from grounding_eval.text.parallel import current_world

KNOWN_CONTROLS = ("permuted_text", "random_init", "procrustes")


@dataclass
class _Reporter:
    """Rich progress bars on stderr, and one-line notes (cache reuse, timings)."""

    console: Console
    enabled: bool

    @contextlib.contextmanager
    def bar(self, description: str, total: int) -> Iterator[Any]:
        if not self.enabled or total == 0:
            yield lambda n=1: None
            return
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False) as prog:
            task = prog.add_task(description, total=total)
            yield lambda n=1: prog.advance(task, n)

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text)


def split_model_kind(model: str, kinds: Sequence[str]) -> tuple[str, str]:
    """`KIND:NAME` picks a registered text encoder kind; anything else is a Hugging Face model."""
    if ":" in model:
        kind, rest = model.split(":", 1)
        if kind in kinds:
            return kind, rest
    return "hf", model


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


def concept_span(template: str, text: str) -> tuple[int, int]:
    """Where `text` lands in `template.format(concept=text)`: (start, end) characters (its first occurrence)."""
    marker = "\x00"
    start = template.format(concept=marker).index(marker)
    return start, start + len(text)


def _text_embeddings(encoder: TextEncoder, texts: list[str], spans: list[tuple[int, int]], cache: EmbeddingCache,
                     rep: _Reporter, label: str):
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
                                  compute, encoder.batch_size, advance)
    return vecs, stats


def _per_concept(vectors: np.ndarray, n_templates: int, n_concepts: int) -> np.ndarray:
    """(templates * concepts, ...) prompt vectors -> (concepts, ...) averaged over the templates."""
    return vectors.reshape(n_templates, n_concepts, *vectors.shape[1:]).mean(0)


def _perception_embeddings(encoder: PerceptionEncoder, instances: list[Instance], cache: EmbeddingCache, rep: _Reporter):
    keys = [inst.content_hash for inst in instances]
    with rep.bar(f"{encoder.modality}: {encoder.name}", len(instances)) as advance:
        # Encoders that stream batches (`embed_batches`, e.g. audio decoding ahead in workers) have them
        # split across data-parallel processes under `accelerate launch`.
        rank, world, _ = data_parallel()
        vecs, stats = cache.embed(encoder.cache_key(), {"kind": "perception", "name": encoder.name, **encoder.identity()},
                                  keys, instances, encoder.embed, encoder.batch_size, advance,
                                  stream=getattr(encoder, "embed_batches", None), world=(rank, world))
    return vecs, stats


def evaluate(
    model: str,
    tasks: str | Sequence[str],
    *,
    audio_backbone: str | None = None,
    backbone_args: dict[str, Any] | None = None,
    model_args: dict[str, Any] | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    num_runs: int | None = None,
    limit: int | None = None,
    controls: Sequence[str] | None = None,
    output_path: str | None = None,
    include_paths: Sequence[str] = (),
    cache_dir: str | None = None,
    use_cache: bool = True,
    show_progress: bool = True,
    console: Console | None = None,
    plots: bool = False,
) -> dict[str, Any]:
    """Run `tasks` with the text model `model` and return the results dict (also written if `output_path`).

    `audio_backbone` overrides the task's perception encoder, `limit` caps instances per concept (quick
    runs), `seed`/`num_runs` override the task's, `controls` overrides the task's list of controls.
    """
    from grounding_eval.tasks.manager import TaskManager
    from grounding_eval.text.hf import pick_device

    if plots and not output_path:
        raise GroundingEvalError("--plots writes PNG files next to the results JSON: give --output-path too")
    if output_path:
        check_output_path(output_path)  # before the work, not after it
    t0 = time.perf_counter()
    rep = _Reporter(console or Console(stderr=True), show_progress and current_world().is_main)
    regs = plugins.registries()
    manager = TaskManager(list(include_paths))
    task_names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    if not task_names:
        raise GroundingEvalError("--task: give at least one task name; list them with `grounding-eval tasks`")
    configs = {name: manager.get(name) for name in task_names}  # fail on a bad name before loading anything
    for cfg in configs.values():  # likewise a bad backbone or dataset name: before minutes of model loading
        regs.perception_encoders.get(audio_backbone or cfg.perception_encoder.name)
        regs.datasets.get(cfg.dataset.name)

    cache = EmbeddingCache(cache_dir or paths.embeddings_dir(), enabled=use_cache)
    kind, model_name = split_model_kind(model, regs.text_encoders.names())
    text_args = dict(model_args or {})
    if device is not None:
        text_args.setdefault("device", device)
    if batch_size is not None:
        text_args.setdefault("batch_size", batch_size)
    with rep.console.status(f"loading text model {model_name}"):
        text_encoder: TextEncoder = regs.text_encoders.get(kind).obj(model_name, **text_args)
    resolved_device = pick_device(device) if device not in (None, "auto") else pick_device(None)

    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "results": {}, "tasks": {},
                           "model": {"name": model, "kind": kind, "identity": text_encoder.identity()}}
    untrained: TextEncoder | None = None
    plot_inputs: dict[str, dict[str, Any]] = {}  # task -> the matrices the figures need (not in the JSON)
    for name, cfg in configs.items():
        overrides: dict[str, Any] = {}
        if seed is not None:
            overrides["seed"] = seed
        if num_runs is not None:
            overrides["num_runs"] = num_runs
        if limit is not None:
            overrides["max_instances_per_concept"] = limit
        if controls is not None:
            overrides["controls"] = list(controls)
        if audio_backbone is not None and audio_backbone != cfg.perception_encoder.name:
            overrides["perception_encoder"] = {"name": audio_backbone, "args": {}}
        if backbone_args:
            base = dict(cfg.perception_encoder.args) if audio_backbone in (None, cfg.perception_encoder.name) else {}
            overrides["perception_encoder"] = {"name": audio_backbone or cfg.perception_encoder.name,
                                               "args": {**base, **backbone_args}}
        if overrides:
            cfg = cfg.with_overrides(**overrides)
        unknown = [c for c in cfg.controls if c not in KNOWN_CONTROLS]
        if unknown:
            raise GroundingEvalError(f"task {name}: unknown control {unknown[0]!r}; valid: {', '.join(KNOWN_CONTROLS)}")
        timing: dict[str, float] = {}

        t = time.perf_counter()
        with rep.console.status(f"building dataset {cfg.dataset.name}"):
            ds: GroundingDataset = regs.datasets.build(cfg.dataset.name, cfg.dataset.args, f"task {name}: dataset.args")
        instances = select_instances(ds, cfg.max_instances_per_concept, cfg.seed)
        concept_index = {c.name: i for i, c in enumerate(ds.concepts)}
        empty = [c.name for c in ds.concepts if not any(i.concept == c.name for i in instances)]
        if empty:
            raise GroundingEvalError(f"task {name}: concept {empty[0]!r} has no usable instance; fix the data or drop the concept")
        if len(ds.concepts) < 3:
            raise GroundingEvalError(f"task {name}: dataset {cfg.dataset.name} has {len(ds.concepts)} concepts; a probe needs at least 3")
        timing["dataset"] = time.perf_counter() - t

        t = time.perf_counter()
        prompts = [[tpl.format(concept=c.text) for c in ds.concepts] for tpl in cfg.prompt_templates]
        flat = [p for group in prompts for p in group]
        spans = [concept_span(tpl, c.text) for tpl in cfg.prompt_templates for c in ds.concepts]
        text_all, text_stats = _text_embeddings(text_encoder, flat, spans, cache, rep, model_name)
        # Several templates: average each concept's vectors over the templates.
        text_variants = {"probe": _per_concept(text_all, len(prompts), len(ds.concepts))}
        if "random_init" in cfg.controls:
            untrained = untrained or text_encoder.untrained_copy()
            if untrained is None:
                raise GroundingEvalError(f"task {name}: text encoder kind {kind!r} has no random-initialisation control; drop random_init from controls")
            rnd, _ = _text_embeddings(untrained, flat, spans, cache, rep, f"{model_name} (random init)")
            text_variants["random_init"] = _per_concept(rnd, len(prompts), len(ds.concepts))
        text_report = text_encoder.report(flat, spans)
        timing["text_embeddings"] = time.perf_counter() - t

        t = time.perf_counter()
        enc_args = dict(cfg.perception_encoder.args)
        enc_args.setdefault("device", resolved_device)
        if batch_size is not None:
            enc_args.setdefault("batch_size", batch_size)
        enc_name = cfg.perception_encoder.name
        entry = regs.perception_encoders.get(enc_name)
        if entry.name != enc_name:  # a prefix entry such as "hear:" takes the full name
            enc_args["name"] = enc_name
        check_args(entry.obj, enc_args, f"task {name}: perception_encoder.args", f"perception encoder {enc_name}")
        with rep.console.status(f"loading perception encoder {enc_name}"):
            encoder: PerceptionEncoder = entry.obj(**enc_args)
        inst_mat, inst_stats = _perception_embeddings(encoder, instances, cache, rep)
        timing["perception_embeddings"] = time.perf_counter() - t
        if inst_stats["computed"] == 0:
            rep.note(f"[green]reused cached {encoder.name} embeddings for all {inst_stats['cached']} instances[/] "
                     f"({timing['perception_embeddings']:.1f} s)")
        elif inst_stats["cached"]:
            rep.note(f"reused {inst_stats['cached']} cached {encoder.name} embeddings, computed {inst_stats['computed']}")

        metric_fns = []
        chance: dict[str, float] = {}
        for metric_name, margs in cfg.metrics.items():
            entry = regs.metrics.get(metric_name)
            per_inst = entry.extra.get("per_instance")
            metric_fns.append(Metric(lambda s, y, _f=entry.obj, _a=dict(margs): _f(s, y, **_a),
                                     None if per_inst is None else
                                     (lambda s, y, _f=per_inst, _a=dict(margs): _f(s, y, **_a))))
            chance.update(entry.extra["chance"](len(ds.concepts), **margs))
        chance.update({k + CLASS_MEAN: v for k, v in list(chance.items())})  # chance is the same per class
        if cfg.main_metric not in chance:
            raise GroundingEvalError(f"task {name}: main_metric {cfg.main_metric!r} is not computed; the metrics give {', '.join(chance)}")

        # A per-layer sweep (layer=all) gives (concepts, layers, dim): the protocol runs once per layer, on
        # the same splits and seeds, and each layer is reported as its own entry "<task>@layer<k>".
        views: list[tuple[str, int | None]] = [(name, None)]
        if text_variants["probe"].ndim == 3:
            views = [(f"{name}@layer{k}", k) for k in range(text_variants["probe"].shape[1])]
        y = np.array([concept_index[i.concept] for i in instances])
        names = [c.name for c in ds.concepts]
        prepared: dict = {}  # run seed -> the split's perception side, the same for every layer
        for entry_name, layer in views:
            t = time.perf_counter()
            variants = text_variants if layer is None else {v: m[:, layer] for v, m in text_variants.items()}
            n_steps = cfg.num_runs * (len(variants) + ("permuted_text" in cfg.controls))
            with rep.bar(f"probe: {cfg.num_runs} runs" + ("" if layer is None else f", layer {layer}"), n_steps) as advance:
                proto = run_protocol(variants, inst_mat, y, train_fraction=cfg.split.train_fraction,
                                     num_runs=cfg.num_runs, seed=cfg.seed, probe_cfg=cfg.probe, metric_fns=metric_fns,
                                     permuted_control="permuted_text" in cfg.controls,
                                     procrustes_cfg=cfg.procrustes if "procrustes" in cfg.controls else None,
                                     stats_cfg=cfg.statistics, on_step=advance, prepared=prepared)
            layer_timing = {**timing, "protocol": time.perf_counter() - t,
                            **{f"protocol.{k}": v for k, v in proto["timing_seconds"].items()}}
            if clap_pair(text_encoder.identity(), encoder.identity()):  # see grounding_eval/reference.py
                proto["summary"]["clap_zero_shot"] = zero_shot(
                    variants["probe"], inst_mat, y, num_runs=cfg.num_runs, seed=cfg.seed,
                    train_fraction=cfg.split.train_fraction, metric_fns=metric_fns)
            if plots:
                plot_inputs[entry_name] = {"text": variants["probe"], "instances": inst_mat, "instance_concept": y,
                                           "standardize": cfg.probe.standardize}

            runs = []
            for run in proto["runs"]:
                rec = dict(run)
                rec["train"] = [names[i] for i in run["train"]]
                rec["test"] = [names[i] for i in run["test"]]
                for variant in proto["summary"]:
                    if isinstance(run.get(variant), dict) and "per_class" in run[variant]:
                        rec[variant] = {**run[variant],
                                        "per_class": {names[c]: v for c, v in run[variant]["per_class"].items()}}
                runs.append(rec)
            out["results"][entry_name] = {
                "main_metric": cfg.main_metric,
                "probe": proto["summary"]["probe"],
                "controls": {k: v for k, v in proto["summary"].items() if k != "probe"},
                "chance": chance,
                "paired_tests": proto.get("paired_tests", {}),
                "bootstrap": proto.get("bootstrap", {}),
            }
            text_info: dict[str, Any] = {"cache_key": text_encoder.cache_key(), "prompts": prompts,
                                         "concept_spans": [[list(s) for s in spans[i * len(names):(i + 1) * len(names)]]
                                                           for i in range(len(prompts))]}
            if layer is not None:
                text_info["layer"] = layer
                text_info["task"] = name
            text_info.update(text_report)
            out["tasks"][entry_name] = {
                "version": cfg.version,
                "hash": cfg.content_hash(),
                "config": cfg.to_dict(),
                "dataset": {"name": ds.name, "fingerprint": ds.fingerprint(), "n_concepts": len(ds.concepts),
                            "n_instances": len(instances), "skipped": [{"id": s.id, "reason": s.reason} for s in ds.skipped],
                            "provenance": ds.provenance},
                "concepts": names,
                "perception_encoder": {"name": encoder.name, "modality": encoder.modality, "identity": encoder.identity(),
                                       "cache_key": encoder.cache_key()},
                "text_encoder": text_info,
                "seeds": [r["seed"] for r in runs],
                "runs": runs,
                # every clip of a concept in every run where it was a test concept, pooled
                "per_class": {v: {names[c]: vals for c, vals in by_c.items()} for v, by_c in proto["per_class"].items()},
                "concept_parents": {c.name: c.parent for c in ds.concepts},
                "cache": {"text": text_stats, "perception": inst_stats},
                "timing_seconds": layer_timing,
            }
    out["environment"] = environment(resolved_device)
    out["date"] = now_iso()
    out["wall_time_seconds"] = time.perf_counter() - t0
    if output_path and current_world().is_main:  # under accelerate launch, one process writes
        out["output_file"] = str(write_results(out, output_path))
        if plots:
            from grounding_eval.plots import write_plots

            with rep.console.status("writing plots"):
                out["plot_files"] = [str(p) for p in write_plots(out, plot_inputs, out["output_file"])]
    return out
