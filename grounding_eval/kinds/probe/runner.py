"""`evaluate()`: task YAML -> dataset -> text and perception embeddings (cached) -> protocol -> results.

Every probe task goes through the same path, whatever its modality: what a task supplies and what is done
with it is written down in `grounding_eval.tasks`; the steps themselves are in `steps.py` (this kind's) and
`grounding_eval.embedding` (the embedding steps every kind shares). The command (`command.py`) is a thin
layer over this function; notebooks and other tools call it directly and get the results as a dict shaped by
`results.Results` (`parse_results` gives the typed form).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from rich.console import Console

from grounding_eval import paths, plugins
from grounding_eval.cache import EmbeddingCache
from grounding_eval.data.clips import checks_in
from grounding_eval.devices import pick_device
from grounding_eval.embedding import Instances, build_instances, instance_vectors, perception_encoder, split_model_kind
from grounding_eval.encoders import PerceptionEncoder, TextEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.config import TaskConfig
from grounding_eval.kinds.probe.plots import write_plots
from grounding_eval.kinds.probe.results import DatasetRecord, PerceptionRecord, Results, TaskRecord, TaskResult
from grounding_eval.kinds.probe.steps import (
    ConceptVectors,
    RunOptions,
    View,
    concept_vectors,
    is_clap_pair,
    resolve_metrics,
    resolve_task,
    run_protocol_views,
)
from grounding_eval.parallel import main_first
from grounding_eval.progress import Reporter
from grounding_eval.results import (
    SCHEMA_VERSION,
    Environment,
    ModelRecord,
    check_output_path,
    check_plots,
    environment,
    now_iso,
    write_results,
)
from grounding_eval.tasks.manager import TaskManager
from grounding_eval.text.parallel import current_world

RUNS_FOLDER = "probe-runs"  # inside the embedding cache: each finished protocol run (steps.RunStore)


@dataclass
class TextModel:
    """The language model under test, loaded once for all tasks."""

    spec: str  # what --model said
    kind: str  # registered text encoder kind ("hf", "static", "clap", ...)
    name: str
    encoder: TextEncoder
    _untrained: TextEncoder | None = None

    def untrained(self, task: str) -> TextEncoder:
        """The random-initialisation copy (random_init control), made once."""
        self._untrained = self._untrained or self.encoder.untrained_copy()
        if self._untrained is None:
            raise GroundingEvalError(f"task {task}: text encoder kind {self.kind!r} has no random-initialisation "
                                     "control; drop random_init from controls")
        return self._untrained


@dataclass
class EvalContext:
    """What every task of one call shares."""

    regs: plugins.Registries
    cache: EmbeddingCache
    rep: Reporter
    text: TextModel
    device: str
    batch_size: int | None
    plots: bool
    plot_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry -> matrices the figures need
    cache_dir: str | None = None  # --cache-dir: the dataset checks' verdicts go there too (None: the default cache)


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
    check_plots(plots, output_path)
    if output_path:
        check_output_path(output_path)  # before the work, not after it
    t0 = time.perf_counter()
    main = current_world().is_main  # under accelerate launch: forms the process group, every rank at once
    # One process speaks: the others' consoles are quiet (no spinners, bars or notes from every rank).
    rep = Reporter(console or Console(stderr=True, quiet=not main), show_progress and main)
    regs = plugins.registries()
    configs = load_tasks(tasks, include_paths, audio_backbone, regs)
    opts = RunOptions(audio_backbone, dict(backbone_args or {}), seed, num_runs, limit, controls, batch_size)
    resolved = {name: resolve_task(name, cfg, opts) for name, cfg in configs.items()}
    # Every task's perception encoder is made before the text model loads and runs: a missing backbone
    # checkpoint or a bad backbone option is reported in seconds, not after the text side is done.
    # Making one only resolves its files; its network loads on first use.
    with main_first():  # checkpoint downloads: the main process first, the others find them done
        encoders = {name: make_perception_encoder(name, cfg, regs, pick_device(device), batch_size, rep)
                    for name, cfg in resolved.items()}
        text = load_text_model(model, model_args, device, batch_size, regs, rep)
    ctx = EvalContext(regs, EmbeddingCache(cache_dir or paths.embeddings_dir(), enabled=use_cache), rep, text,
                      pick_device(device), batch_size, plots, cache_dir=cache_dir)
    results: dict[str, TaskResult] = {}
    records: dict[str, TaskRecord] = {}
    for name, cfg in resolved.items():
        for entry, result, record in evaluate_task(name, cfg, ctx, encoders[name]):
            results[entry], records[entry] = result, record
    out = Results(schema_version=SCHEMA_VERSION, results=results, tasks=records,
                  model=ModelRecord(name=model, kind=text.kind, identity=text.encoder.identity()),
                  environment=Environment(**environment(ctx.device)), date=now_iso(),
                  wall_time_seconds=time.perf_counter() - t0).to_json()
    if output_path and main:  # under accelerate launch, one process writes
        out["output_file"] = str(write_results(out, output_path))
        if plots:
            with rep.console.status("writing plots"):
                out["plot_files"] = [str(p) for p in write_plots(out, ctx.plot_inputs, out["output_file"])]
    return out


def load_tasks(tasks: str | Sequence[str], include_paths: Sequence[str], audio_backbone: str | None,
               regs: plugins.Registries) -> dict[str, TaskConfig]:
    """The named tasks' configs; a bad task, backbone or dataset name fails here, before minutes of model loading."""
    manager = TaskManager(list(include_paths))
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    if not names:
        raise GroundingEvalError("--task: give at least one task name; list them with `grounding-eval tasks`")
    configs = {name: manager.get(name) for name in names}
    for name, cfg in configs.items():
        if cfg.kind != "probe":  # each kind has its own run function (the kinds table)
            raise GroundingEvalError(f"task {name} is a {cfg.kind} task: run it on its own (--task {name}), not beside probe tasks")
        regs.perception_encoders.get(audio_backbone or cfg.perception_encoder.name)
        regs.datasets.get(cfg.dataset.name)
    return configs


def load_text_model(model: str, model_args: dict[str, Any] | None, device: str | None, batch_size: int | None,
                    regs: plugins.Registries, rep: Reporter) -> TextModel:
    """`KIND:NAME` or a Hugging Face model, with --model-args; --device and --batch-size fill in what they omit."""
    kind, name = split_model_kind(model, regs.text_encoders.names())
    args = dict(model_args or {})
    if device is not None:
        args.setdefault("device", device)
    if batch_size is not None:
        args.setdefault("batch_size", batch_size)
    with rep.console.status(f"loading text model {name}"):
        return TextModel(model, kind, name, regs.text_encoders.get(kind).obj(name, **args))


def make_perception_encoder(name: str, cfg: TaskConfig, regs: plugins.Registries, device: str,
                            batch_size: int | None, rep: Reporter) -> PerceptionEncoder:
    with rep.console.status(f"loading perception encoder {cfg.perception_encoder.name}"):
        return perception_encoder(name, cfg, regs, device, batch_size)


def evaluate_task(name: str, cfg: TaskConfig, ctx: EvalContext,
                  encoder: PerceptionEncoder | None = None) -> list[tuple[str, TaskResult, TaskRecord]]:
    """One task: dataset, both sides' vectors, the protocol; one (entry, result, record) per reported view.
    `encoder` is the task's perception encoder when the caller made it already."""
    timing: dict[str, float] = {}
    t = time.perf_counter()
    # The main process builds (or downloads) the dataset first; the others then find it built: no two
    # processes race to rename their builds into one folder.
    with main_first(), ctx.rep.console.status(f"building dataset {cfg.dataset.name}"), checks_in(ctx.cache_dir):
        inst = build_instances(name, cfg, ctx.regs)
    timing["dataset"] = time.perf_counter() - t

    t = time.perf_counter()
    untrained = ctx.text.untrained(name) if "random_init" in cfg.controls else None
    text = concept_vectors(name, cfg, inst.dataset.concepts, ctx.text.encoder, untrained, ctx.text.name, ctx.cache, ctx.rep)
    timing["text_embeddings"] = time.perf_counter() - t

    t = time.perf_counter()
    encoder = encoder or make_perception_encoder(name, cfg, ctx.regs, ctx.device, ctx.batch_size, ctx.rep)
    inst_mat, inst_stats = instance_vectors(encoder, inst.instances, ctx.cache, ctx.rep)
    timing["perception_embeddings"] = time.perf_counter() - t
    _note_cache_reuse(ctx.rep, encoder, inst_stats, timing["perception_embeddings"])

    metric_fns, chance = resolve_metrics(name, cfg, len(inst.dataset.concepts), ctx.regs)
    runs_dir = ctx.cache.root / RUNS_FOLDER if ctx.cache.enabled else None  # finished runs: a rerun resumes them
    views = run_protocol_views(name, cfg, text, inst, inst_mat, metric_fns, is_clap_pair(ctx.text.encoder, encoder),
                               ctx.rep, runs_dir)
    out = []
    for view in views:
        if ctx.plots:
            ctx.plot_inputs[view.name] = {"text": view.variants["probe"], "instances": inst_mat,
                                          "instance_concept": inst.concept_of, "standardize": cfg.probe.standardize}
        record = task_record(name, cfg, view, inst, text, encoder, ctx.text.encoder,
                             {"text": text.cache_stats, "perception": inst_stats}, timing)
        out.append((view.name, task_result(cfg, view, chance), record))
    return out


def _note_cache_reuse(rep: Reporter, encoder: PerceptionEncoder, stats: dict[str, int], seconds: float) -> None:
    if stats["computed"] == 0:
        rep.note(f"[green]reused cached {encoder.name} embeddings for all {stats['cached']} instances[/] ({seconds:.1f} s)")
    elif stats["cached"]:
        rep.note(f"reused {stats['cached']} cached {encoder.name} embeddings, computed {stats['computed']}")


# -- record: the typed results of one view ---------------------------------------------------------

def task_result(cfg: TaskConfig, view: View, chance: dict[str, float]) -> TaskResult:
    """The headline numbers: the probe, each control, chance, the paired tests and the bootstrap settings."""
    summary = view.protocol["summary"]
    return TaskResult(main_metric=cfg.main_metric, probe=summary["probe"],
                      controls={k: v for k, v in summary.items() if k != "probe"}, chance=chance,
                      paired_tests=view.protocol.get("paired_tests", {}), bootstrap=view.protocol.get("bootstrap", {}))


def _named_runs(runs: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """The protocol's runs with concept indices replaced by concept names (train, test, per_class)."""
    out = []
    for run in runs:
        rec = {**run, "train": [names[i] for i in run["train"]], "test": [names[i] for i in run["test"]]}
        for variant, value in run.items():
            if isinstance(value, dict) and "per_class" in value:
                rec[variant] = {**value, "per_class": {names[c]: v for c, v in value["per_class"].items()}}
        out.append(rec)
    return out


def _text_info(name: str, view: View, text: ConceptVectors, encoder: TextEncoder, n_concepts: int) -> dict[str, Any]:
    info: dict[str, Any] = {"cache_key": encoder.cache_key(), "prompts": text.prompts,
                            "concept_spans": [[list(s) for s in text.spans[i * n_concepts:(i + 1) * n_concepts]]
                                              for i in range(len(text.prompts))]}
    if view.layer is not None:
        info["layer"] = view.layer
        info["task"] = name
    return {**info, **text.report}


def task_record(name: str, cfg: TaskConfig, view: View, inst: Instances, text: ConceptVectors,
                encoder: PerceptionEncoder, text_encoder: TextEncoder, cache_stats: dict[str, Any],
                timing: dict[str, float]) -> TaskRecord:
    """Everything needed to reproduce and audit one view: config, dataset, encoders, runs, per-class scores."""
    ds, names = inst.dataset, inst.names
    runs = _named_runs(view.protocol["runs"], names)
    return TaskRecord(
        version=cfg.version, hash=cfg.content_hash(), config=cfg.to_dict(),
        dataset=DatasetRecord(name=ds.name, fingerprint=ds.fingerprint(), n_concepts=len(ds.concepts),
                              n_instances=len(inst.instances),
                              skipped=[{"id": s.id, "reason": s.reason} for s in ds.skipped], provenance=ds.provenance),
        concepts=names,
        perception_encoder=PerceptionRecord.model_validate({"name": encoder.name, "modality": encoder.modality,
                                                            "identity": encoder.identity(), "cache_key": encoder.cache_key()}),
        text_encoder=_text_info(name, view, text, text_encoder, len(names)),
        seeds=[r["seed"] for r in runs], runs=runs,
        # every clip of a concept in every run where it was a test concept, pooled
        per_class={v: {names[c]: vals for c, vals in by_c.items()} for v, by_c in view.protocol["per_class"].items()},
        concept_parents={c.name: c.parent for c in ds.concepts}, cache=cache_stats,
        timing_seconds={**timing, "protocol": view.seconds,
                        **{f"protocol.{k}": v for k, v in view.protocol["timing_seconds"].items()}})

