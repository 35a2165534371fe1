"""A grounding family the core has never heard of runs with a plugin object and one YAML file, and the core
modules (runner, protocol, probe, metrics, cache, results) never branch on the modality.

The toy family stands in for vision ("a photo of a {concept}" against image features). Its structure is
planted, so the test can demand more than "it ran": a text vector and the features of that concept's
instances are linked by a fixed linear map, and the probe must beat its permuted control by far.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
import pytest

import grounding_eval
from grounding_eval import evaluate, plugins
from grounding_eval.data.base import Concept, GroundingDataset, Instance
from grounding_eval.encoders import PerceptionEncoder, TextEncoder
from grounding_eval.hookspecs import hookimpl
from grounding_eval.results import validate_results

NAMES = [f"object{i:02d}" for i in range(30)]
PROMPT = "a photo of a {concept}"
TEXT_DIM, FEAT_DIM = 16, 10


def hashed_vector(text: str) -> np.ndarray:
    """A fixed pseudo-random vector per text: the toy text model."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).normal(size=TEXT_DIM)


class HashedText(TextEncoder):
    name = "hashed"

    def __init__(self, model: str, **_: object):
        self.model = model

    def identity(self):
        return {"model": self.model}

    def embed(self, texts, progress=None):
        if progress:
            progress(len(texts))
        return np.stack([hashed_vector(t) for t in texts]).astype(np.float32)


class ImageFeatures(PerceptionEncoder):
    """Reads the 'image' (here a feature vector already) and returns it: the toy vision backbone."""

    name = "toy_image_features"
    modality = "toy-vision"

    def __init__(self, device=None, batch_size=64):
        self._batch_size = batch_size

    def identity(self):
        return {"version": 1}

    def embed(self, instances, progress=None):
        if progress:
            progress(len(instances))
        return np.stack([np.asarray(i.source, dtype=np.float32) for i in instances])


def toy_images() -> GroundingDataset:
    """Four 'images' per object: a fixed linear map of the object's prompt vector, plus noise."""
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(FEAT_DIM, TEXT_DIM))
    instances = []
    for name in NAMES:
        centre = mix @ hashed_vector(PROMPT.format(concept=name))
        for j in range(4):
            feat = (centre + 0.3 * rng.normal(size=FEAT_DIM)).round(6).tolist()
            instances.append(Instance(f"{name}/{j}.png", name, tuple(feat), hashlib.sha256(repr(feat).encode()).hexdigest()))
    return GroundingDataset("toy_images", [Concept(n, n) for n in NAMES], instances)


TASK_YAML = f"""\
task: toy_vision_probe
version: 1
description: a third family, registered by a plugin object and this file only
dataset:
  name: toy_images
prompt_templates: ["{PROMPT}"]
perception_encoder:
  name: toy_image_features
probe:
  projection_dim: 8
  epochs: 150
  learning_rate: 0.01
num_runs: 3
"""


class ToyVisionFamily:
    """Everything a grounding family supplies: concepts + instances (a dataset), a perception encoder, a task."""

    def __init__(self, task_dir: Path):
        self.task_dir = task_dir

    @hookimpl
    def register_tasks(self, register):
        register(self.task_dir)

    @hookimpl
    def register_datasets(self, register):
        register("toy_images", lambda **kw: toy_images(**kw), description="planted toy images")

    @hookimpl
    def register_perception_encoders(self, register):
        register("toy_image_features", ImageFeatures, modality="toy-vision", description="toy image features")

    @hookimpl
    def register_text_encoders(self, register):
        register("hashed", HashedText, description="a fixed random vector per text")


@pytest.fixture
def toy_family(tmp_path):
    task_dir = tmp_path / "toy_tasks"
    task_dir.mkdir()
    (task_dir / "toy_vision_probe.yaml").write_text(TASK_YAML)
    plugin = ToyVisionFamily(task_dir)
    plugins.register_plugin(plugin)
    yield plugin
    plugins.unregister_plugin(plugin)


def test_a_third_family_runs_from_a_plugin_and_a_yaml_file(toy_family, tmp_path):
    res = evaluate("hashed:toy", "toy_vision_probe", output_path=str(tmp_path / "out.json"), show_progress=False,
                   cache_dir=str(tmp_path / "cache"))
    validate_results(res, "toy results")
    r, t = res["results"]["toy_vision_probe"], res["tasks"]["toy_vision_probe"]
    assert t["perception_encoder"] == {**t["perception_encoder"], "name": "toy_image_features", "modality": "toy-vision"}
    assert t["dataset"]["n_concepts"] == 30 and t["dataset"]["n_instances"] == 120
    assert t["text_encoder"]["prompts"][0][0] == "a photo of a object00"
    probe, permuted = r["probe"]["accuracy@3"]["mean"], r["controls"]["permuted_text"]["accuracy@3"]["mean"]
    assert probe > 0.7 and permuted < 0.4, (probe, permuted)  # chance is 0.1


# -- the static guarantee ---------------------------------------------------------------------------

CORE = ["kinds/probe/runner.py", "kinds/probe/steps.py", "embedding.py", "progress.py", "kinds/probe/protocol.py", "heads",
        "metrics.py", "cache.py", "results.py", "kinds/probe/results.py"]
MODALITY_WORDS = {"audio", "sound", "colour", "color", "vision", "image", "video", "text-audio"}


def _core_files() -> list[Path]:
    root = Path(grounding_eval.__file__).parent
    files = []
    for item in CORE:
        p = root / item
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return files


def _branch_problems(tree: ast.AST) -> list[str]:
    """`.modality` anywhere but as a displayed/recorded value; modality words or modality-specific classes in a test."""
    problems = []
    allowed_modality: set[int] = set()
    for node in ast.walk(tree):
        # Recording it (a dict value) or showing it (an f-string) is fine; anything else could steer control flow.
        if isinstance(node, ast.Dict):
            allowed_modality.update(id(v) for v in node.values if isinstance(v, ast.Attribute))
        if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Attribute):
            allowed_modality.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "modality" and id(node) not in allowed_modality:
            problems.append(f"line {node.lineno}: .modality used outside a recorded value")
        if isinstance(node, (ast.Compare, ast.Match)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.lower() in MODALITY_WORDS:
                    problems.append(f"line {node.lineno}: compares with {sub.value!r}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if mod and (mod.startswith("grounding_eval.audio") or mod.startswith("grounding_eval_")):
                problems.append(f"line {node.lineno}: imports {mod}, a modality's own code")
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("isinstance", "issubclass"):
            names = {getattr(n, "id", getattr(n, "attr", "")) for n in ast.walk(node.args[1])} if len(node.args) > 1 else set()
            if any(w in n.lower() for n in names for w in ("audio", "backbone", "colour", "color", "vision")):
                problems.append(f"line {node.lineno}: isinstance check on a modality's class")
    return problems


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: p.name)
def test_core_never_branches_on_modality(path):
    assert _branch_problems(ast.parse(path.read_text())) == []


def test_the_modality_check_catches_a_branch():
    """The checker itself must fail on the kinds of branch it is there to forbid."""
    for code in ('if encoder.modality == "audio":\n    pass\n',
                 'x = {"audio": 1}[encoder.modality]\n',
                 'from grounding_eval.audio.io import load_audio\n',
                 'if isinstance(encoder, AudioBackbone):\n    pass\n',
                 'y = 1 if kind == "colour" else 2\n'):
        assert _branch_problems(ast.parse(code)), code
    assert _branch_problems(ast.parse('rec = {"modality": encoder.modality}\nlabel = f"{encoder.modality}: x"\n')) == []


def test_perception_encoder_flag_is_the_modality_neutral_name_of_audio_backbone():
    from grounding_eval.cli.evaluate import build_parser

    args = build_parser().parse_args(["--model", "m", "--task", "t", "--perception-encoder", "cielab"])
    assert args.audio_backbone == "cielab"
