"""The hooks a grounding-eval plugin may implement.

Each hook receives a `register` callback (the pattern of simonw/llm) and calls it once per thing it adds.
A plugin is any module or object with `@hookimpl`-marked functions; first-party plugins under plugins/
and the built-ins register exactly as a third party's would.
"""

from __future__ import annotations

import pluggy

PROJECT = "grounding_eval"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_tasks(register):
    """Add task configs: `register(path)` for a YAML file or folder of them, or `register(dict)` for a config."""


@hookspec
def register_text_encoders(register):
    """Add text encoder kinds: `register(kind, factory, description=...)`.

    `factory(model: str, **model_args) -> TextEncoder`. Users pick a kind with `--model KIND:NAME`;
    a bare `--model NAME` uses the kind `hf` (any Hugging Face model).
    """


@hookspec
def register_perception_encoders(register):
    """Add perception encoders (audio backbones, colour spaces, ...): `register(name, factory, description=..., modality=...)`.

    `factory(**options) -> PerceptionEncoder`; options come from the task YAML and `--backbone-args`,
    plus `device` and `batch_size`. A name may end in ':' to take a suffix (`hear:MODULE`).
    """


@hookspec
def register_datasets(register):
    """Add dataset builders: `register(name, builder, description=...)`; `builder(**args) -> GroundingDataset`."""


@hookspec
def register_metrics(register):
    """Add metrics: `register(name, compute, chance, description=...)`.

    `compute(similarity, target, **args) -> dict[str, float]` over (instances x concepts) similarities
    and true concept indices; `chance(n_concepts, **args) -> dict[str, float]` gives the same keys.
    Optional `per_instance=f(similarity, target, **args) -> dict[str, ndarray]` (each instance's share
    of a mean-over-instances metric) enables the class-mean average, per-class scores and the
    bootstrap over clips for that metric.
    """


@hookspec
def register_generators(register):
    """Add generators for generative tasks: `register(name, factory, description=...)`.

    `factory(model: str, **options) -> Generator` (grounding_eval.kinds.generative.base): it turns prompts into
    `n_samples` texts each (an LM, a replay of saved generations, a template baseline, a vLLM engine).
    """


@hookspec
def register_executors(register):
    """Add executors that turn a generated text into an instance: `register(name, factory, description=...)`.

    `factory(**options) -> Executor` (grounding_eval.kinds.generative.base); e.g. the guarded Python runner.
    """


@hookspec
def register_scorers(register):
    """Add scorers of generated instances: `register(name, factory, description=..., level="set"|"instance")`.

    `factory(**options) -> Scorer` (grounding_eval.kinds.generative.base): compares generated instances with the
    references of their concept and/or with the prompts (FAD, KAD, a text-instance match, signal checks).
    """


@hookspec
def register_kinds(register):
    """Add task kinds: `register(TaskKind(...))` (grounding_eval.kinds): a kind's config, run, results,
    compare and leaderboard parts by import path, as the built-in rows name theirs (docs/plugins.md)."""
