"""The probe kind's task file: one evaluation task, fully resolved (includes merged, defaults filled in).

The loader, the provenance of every value and the shared sections (dataset, encoder) are the task loader's
(`grounding_eval.tasks.config`); the heads' settings are `grounding_eval.heads.config`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from grounding_eval.heads.config import ProbeConfig, ProcrustesConfig
from grounding_eval.tasks.config import Args, DatasetConfig, EncoderConfig, Float, Section, TaskFile
from grounding_eval.validation import Valid

__all__ = ["SplitConfig", "StatisticsConfig", "TaskConfig"]


def _templates_ok(templates: list[str]) -> list[str]:
    for t in templates:
        try:
            # format() with only `concept` also catches stray placeholders like "{sound}" before a run does.
            t.format(concept="x")
        except (KeyError, IndexError, ValueError):
            raise PydanticCustomError("template", "bad template") from None
        if "{concept}" not in t:
            raise PydanticCustomError("template", "bad template")
    return templates


def _no_args_is_empty(metrics: Any) -> Any:
    """`mrr:` with nothing after it means "no arguments"."""
    return {k: ({} if v is None else v) for k, v in metrics.items()} if isinstance(metrics, dict) else metrics


class SplitConfig(Section):
    """How concepts are divided between fitting the probe and testing it."""

    train_fraction: Annotated[Float, Field(gt=0, lt=1), Valid("a number strictly between 0 and 1")] = 0.7
    """share of concepts that train the probe; 0.7 leaves enough unseen concepts to rank against"""
    unit: Annotated[Literal["concept"], Valid("one of: concept")] = "concept"
    """what is split; only "concept", because splitting instances would let the probe memorise test concepts"""


class StatisticsConfig(Section):
    """Uncertainty beyond the mean and standard error over runs."""

    bootstrap_resamples: Annotated[int, Field(ge=100), Valid("an integer >= 100")] = 2000
    """bootstrap resamples; 2000 keeps the 2.5/97.5 percentiles stable to about 0.1 point"""
    bootstrap_unit: Annotated[Literal["runs", "runs_and_clips"], Valid("one of: runs, runs_and_clips")] = "runs_and_clips"
    """what is resampled: "runs_and_clips" = runs with replacement, then the test clips within each chosen
    run (both the split and the clip sample vary); "runs" = runs only (any metric)"""
    confidence: Annotated[Float, Field(gt=0, lt=1), Valid("a number strictly between 0 and 1")] = 0.95
    """two-sided confidence level of the interval"""
    paired_test: Annotated[Literal["sign_flip", "t_test"], Valid("one of: sign_flip, t_test")] = "sign_flip"
    """the paired test of the probe against each control over the same splits, one-sided (probe better):
    "sign_flip" = exact permutation test on the per-run differences (no normality assumption); "t_test" =
    paired t-test. Both are always reported; this one is the headline p-value"""


class TaskConfig(TaskFile):
    """One evaluation task, fully resolved (includes merged, defaults filled in)."""

    kind: ClassVar[str] = "probe"  # not a field: probe task files need no `kind:` key (and their hashes predate it)

    task: Annotated[str, Field(pattern=r"^[a-z0-9_]+$"), Valid("lowercase letters, digits and _ ([a-z0-9_]+)")]
    """the task name users type; lowercase so names are stable across filesystems and shells"""
    version: Annotated[int, Field(ge=0), Valid("an integer >= 0")]
    """bump when anything that changes numbers changes, so old results are never compared with new ones"""
    description: str = ""
    """one line for `grounding-eval tasks`; optional because the name often says enough"""
    dataset: DatasetConfig
    """where the concepts and instances come from"""
    prompt_templates: Annotated[list[str], Field(min_length=1), AfterValidator(_templates_ok),
                                Valid('a non-empty list of strings, each containing "{concept}" and no other {placeholder}')] = \
        ["the sound of {concept}"]
    """prompts for each concept; several are averaged, one is the plain baseline wording"""
    perception_encoder: EncoderConfig = EncoderConfig(name="aisfx")
    """what embeds the instances; aisfx because it is the offline default audio backbone"""
    split: SplitConfig = SplitConfig()
    """how concepts are divided; defaults are the protocol's"""
    probe: ProbeConfig = ProbeConfig()
    """the probe's training; defaults are the protocol's"""
    metrics: Annotated[dict[str, Args], BeforeValidator(_no_args_is_empty), Field(min_length=1),
                       Valid("a non-empty mapping of metric name -> arguments")] = \
        {"accuracy_at_k": {"k": [1, 3, 5]}, "mrr": {}}
    """metric name -> its arguments; accuracy@k and MRR are the paper's retrieval measures"""
    main_metric: Annotated[str, Field(min_length=1), Valid("a non-empty metric key such as accuracy@3")] = "accuracy@3"
    """the number reported first and ranked on; accuracy@3 is the paper's headline figure"""
    controls: list[str] = ["permuted_text"]
    """control conditions run alongside; permuted_text shows what a probe gets from structure alone"""
    procrustes: ProcrustesConfig = ProcrustesConfig()
    """the closed-form Procrustes baseline (runs when "procrustes" is among the controls)"""
    statistics: StatisticsConfig = StatisticsConfig()
    """bootstrap interval and paired test"""
    num_runs: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 5
    """repeats with different splits/seeds; 5 gives a usable spread without long runs"""
    seed: Annotated[int, Field(ge=0), Valid("an integer >= 0")] = 0
    """base seed; runs use seed, seed+1, ...; 0 so a bare run is reproducible"""
    max_instances_per_concept: Annotated[int | None, Field(ge=1), Valid("null (all) or an integer >= 1")] = None
    """cap on instances per concept; null = all, since subsampling changes the numbers"""
