"""Tasks: one YAML file each, validated strictly against the schema in `config`, found by `TaskManager`.

The task abstraction. A grounding task, whatever its modality, supplies four things and nothing else:

1. concepts    the names a language model reads: a dataset builder returns them as `Concept`s
               (`grounding_eval.data.base`), with the text that fills the YAML's `prompt_templates`;
2. instances   perceptual examples of each concept (`Instance`s from the same builder: clips, colours,
               images), one or many per concept, each with a content hash;
3. a perception encoder   a `PerceptionEncoder` (`grounding_eval.encoders`) that maps instances to
               vectors and states in `identity()` everything that changes them;
4. a split policy         `split` in the YAML: which share of the concepts fits the probe; the rest are
               held out and ranked against all concepts.

This package is the loader every kind shares (`config`: the strict YAML reader with line provenance, the
shared sections, `TaskFile`; `manager`: finding tasks by name). A task file's `kind:` picks its model from
the kinds table (`grounding_eval.kinds`); the probe's is `grounding_eval.kinds.probe.config.TaskConfig`.

The runner (`grounding_eval.kinds.probe.runner.evaluate`) does the same with every task: it builds the dataset, embeds
the prompts with the text encoder and the instances with the perception encoder (both through the
embedding cache), splits the concepts per run, fits the probe and its controls on the train concepts,
scores the held-out concepts' instances with the task's metrics, and writes the results JSON. Nothing in
that path looks at the modality (`PerceptionEncoder.modality` is only recorded and shown; a test checks
this), so a new family is a plugin that registers a dataset builder and a perception encoder, plus a YAML
file naming them.
"""

from __future__ import annotations

from grounding_eval.tasks.config import DatasetConfig, EncoderConfig, TaskFile, load_task_file, task_from_dict
from grounding_eval.tasks.manager import TaskManager, builtin_task_dir

__all__ = [
    "DatasetConfig",
    "EncoderConfig",
    "TaskFile",
    "TaskManager",
    "builtin_task_dir",
    "load_task_file",
    "task_from_dict",
]
