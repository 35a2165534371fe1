"""The schema of a generative task (`kind: generative`), checked by the same strict loader as probe tasks
(unknown keys, wrong types and out-of-range values are one line naming the file, the line and what is valid;
`include:` works the same). Every field that changes a number is in `content_hash()`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from grounding_eval.tasks.config import Args, DatasetConfig, EncoderConfig, Float, Section, TaskFile
from grounding_eval.validation import Valid

CONTROLS = ("template", "shuffled_prompts", "silence", "white_noise", "split_half")


def _prompt_ok(template: str) -> str:
    try:
        template.format(concept="x", note="A4", frequency=440.0, duration=1.0, sample_rate=16000)
    except (KeyError, IndexError, ValueError):
        raise PydanticCustomError("template", "bad template") from None
    if "{concept}" not in template:
        raise PydanticCustomError("template", "bad template")
    return template


def _has_concept(template: str) -> str:
    if "{concept}" not in template:
        raise PydanticCustomError("template", "bad template")
    return template


def _positive(ks: list[int]) -> list[int]:
    if not all(k >= 1 for k in ks):
        raise PydanticCustomError("k", "k < 1")
    return ks


def _known_controls(controls: list[str]) -> list[str]:
    if not all(c in CONTROLS for c in controls):
        raise PydanticCustomError("controls", "unknown control")
    return controls


class PromptConfig(Section):
    """What the model is asked: one prompt per concept, or per (concept, note) when `notes` is given."""

    template: Annotated[str, AfterValidator(_prompt_ok),
                        Valid('a string containing "{concept}" and only the fields concept, note, frequency, duration, sample_rate')] = \
        "Write a Python program that synthesises the sound of {concept}."
    """the request; fields: {concept}, and for the notes tier {note}, {frequency} (Hz), {duration} (s)"""
    notes: list[str] = []
    """pitches in scientific notation (A4 = 440 Hz): the notes tier asks for each concept at each pitch"""
    duration: Annotated[Float, Field(gt=0, le=30), Valid("a number in (0, 30]")] = 1.0
    """requested length of each sound, seconds (in the prompt, the template baseline and the duration error)"""


class GeneratorConfig(Section):
    """Sampling: how many programs per prompt, the seed, and the generator's own options (temperature...)."""

    n_samples: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 2
    """programs per prompt; 2 lets the rate of valid audio and the scores average over samples"""
    seed: int = 0
    """seed of sampling (per batch, from the first prompt's id)"""
    args: Args = {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 320}
    """options of the HF generator (temperature, top_p, top_k, max_new_tokens, do_sample, batch_size,
    system_prompt, dtype); all go into the generation cache key"""


class ScoringConfig(Section):
    """How generated clips are compared with the references and the prompts."""

    embedder: EncoderConfig = EncoderConfig(name="aisfx")
    """the embedder of FAD/KAD and of the text-audio probe's audio side; aisfx: pretrained, offline"""
    text_encoder: str = "sentence-transformers/all-MiniLM-L6-v2"
    """the text side of the weight-free text-audio score (a probe trained on the references ranks each clip
    among all concepts); MiniLM because it ships offline"""
    judge_prompt: Annotated[str, AfterValidator(_has_concept), Valid('a string containing "{concept}"')] = "the sound of {concept}"
    """how the judge's text side names a concept"""
    k: Annotated[list[int], Field(min_length=1), AfterValidator(_positive), Valid("a list of integers >= 1")] = [1, 3]
    """accuracy@K of the text-audio score"""
    probe_seeds: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 3
    """probes trained (one seed each) whose similarities are averaged: less dependence on one initialisation"""
    clap: str | None = None
    """a real CLAP checkpoint (hub id or local folder, optionally written clap:ID): adds the CLAP score (cosine
    of CLAP's audio and text vectors) and CLAP zero-shot accuracy@K/MRR; null = none (no CLAP weights ship
    offline)"""
    bootstrap_resamples: Annotated[int, Field(ge=100), Valid("an integer >= 100")] = 1000
    """bootstrap resamples of the clip-level intervals"""
    confidence: Annotated[Float, Field(gt=0, lt=1), Valid("a number strictly between 0 and 1")] = 0.95
    """two-sided level of those intervals"""


class GenerativeTaskConfig(TaskFile):
    """A generative task: the model writes a program per prompt; the program makes the instance."""

    task: Annotated[str, Field(pattern=r"^[a-z0-9_]+$"), Valid("lowercase letters, digits and _")]
    version: Annotated[int, Field(ge=0), Valid("an integer >= 0")]
    kind: Annotated[Literal["generative"], Valid("generative")] = "generative"
    description: str = ""
    unsafe_code: bool = True
    """the programs run on this machine: refuse without --allow-code-execution"""
    dataset: DatasetConfig
    """references: concepts and their real recordings"""
    max_references_per_concept: Annotated[int | None, Field(ge=2), Valid("null or an integer >= 2")] = None
    """at most this many references per concept (drawn with the seed); null = all"""
    prompts: PromptConfig = PromptConfig()
    generator: GeneratorConfig = GeneratorConfig()
    executor: EncoderConfig = EncoderConfig(name="python_guarded")
    """what runs the programs; python_guarded's args: sandbox (auto|bwrap|guard-only; auto refuses without
    bubblewrap), allowed_imports, limits (incl. disk_mb, the program folder's quota)..."""
    sample_rate: Annotated[int, Field(ge=1000, le=192000), Valid("an integer in 1000..192000")] = 16000
    """the rate a program's output is taken at when it returns samples only, and the template baseline's"""
    scoring: ScoringConfig = ScoringConfig()
    main_metric: str = "accuracy@1"
    """the headline number"""
    controls: Annotated[list[str], AfterValidator(_known_controls), Valid(f"a list from: {', '.join(CONTROLS)}")] = \
        list(CONTROLS)
    unavailable: str | None = None
    """what this tier needs that is not here (e.g. the speech tier's references); when set, the task refuses
    to run with this sentence instead of faking a reference"""

    @property
    def perception_encoder(self) -> EncoderConfig:
        """The embedder of the scores: what `grounding-eval tasks` lists as a task's encoder."""
        return self.scoring.embedder

    @property
    def max_instances_per_concept(self) -> int | None:
        """What the shared steps (steps.build_instances) read: the references per concept."""
        return self.max_references_per_concept

    @property
    def seed(self) -> int:
        return self.generator.seed


__all__ = ["GenerativeTaskConfig", "PromptConfig", "GeneratorConfig", "ScoringConfig", "CONTROLS"]
