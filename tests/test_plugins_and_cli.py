"""The plugin system and the CLI end to end: a test plugin adds a task and a backbone the CLI then runs,
and every kind of bad input gives one line on stderr and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from grounding_eval import plugins
from grounding_eval.data.base import Concept, GroundingDataset, Instance
from grounding_eval.encoders import PerceptionEncoder
from grounding_eval.errors import GroundingEvalError
from grounding_eval.hookspecs import hookimpl
from cli_helpers import run_cli

WORDS = ["dog", "cat", "piano", "violin", "rain", "thunder", "bell", "drum", "car", "train", "bird", "water"]


class PlantedBackbone(PerceptionEncoder):
    """Instances carry their own vector: a stand-in backbone whose output we control."""

    name = "planted_backbone"
    modality = "toy"

    def __init__(self, device="cpu", batch_size=4, scale=1.0):
        self._batch_size = batch_size
        self.scale = float(scale)

    def identity(self):
        return {"scale": self.scale}

    def embed(self, instances, progress=None):
        out = np.stack([np.asarray(i.source, dtype=np.float32) * self.scale for i in instances])
        if progress:
            progress(len(instances))
        return out


def planted_dataset(n_per: int = 3):
    rng = np.random.default_rng(0)
    concepts = [Concept(w, w) for w in WORDS]
    instances = []
    for ci, w in enumerate(WORDS):
        for j in range(n_per):
            vec = rng.normal(size=8) + 3 * np.eye(len(WORDS), 8, k=0)[ci % 8]
            instances.append(Instance(f"{w}-{j}", w, vec.tolist(), f"{w}-{j}-hash"))
    return GroundingDataset("planted", concepts, instances)


class ToyPlugin:
    @hookimpl
    def register_tasks(self, register):
        register({"task": "toy_planted_probe", "version": 1, "dataset": {"name": "planted"},
                  "perception_encoder": {"name": "planted_backbone"}, "num_runs": 2,
                  "probe": {"epochs": 20, "projection_dim": 8}})

    @hookimpl
    def register_perception_encoders(self, register):
        register("planted_backbone", PlantedBackbone, description="test backbone", modality="toy")

    @hookimpl
    def register_datasets(self, register):
        register("planted", lambda **kw: planted_dataset(**kw), description="planted test data")


@pytest.fixture
def toy_plugin():
    plugin = ToyPlugin()
    plugins.register_plugin(plugin)
    yield plugin
    plugins.unregister_plugin(plugin)


def test_plugin_task_and_backbone_run_through_the_cli(toy_plugin, tiny_bert, tmp_path, capsys):
    out_file = tmp_path / "res.json"
    code, out, err = run_cli(["--model", tiny_bert, "--task", "toy_planted_probe", "--output-path", str(out_file),
                              "--quiet"], capsys)
    assert code == 0, err
    assert "toy_planted_probe" in out and "accuracy@3" in out
    res = json.loads(out_file.read_text())
    t = res["tasks"]["toy_planted_probe"]
    assert t["perception_encoder"]["name"] == "planted_backbone"
    assert len(t["runs"]) == 2 and t["seeds"] == [0, 1]
    assert res["results"]["toy_planted_probe"]["chance"]["accuracy@3"] == pytest.approx(3 / 12)
    assert set(res["results"]["toy_planted_probe"]["controls"]) == {"permuted_text"}


def test_plugins_command_lists_builtins_and_runtime_plugin(toy_plugin, capsys):
    code, out, _ = run_cli(["plugins"], capsys)
    assert code == 0
    assert "grounding_eval.builtin.metrics" in out and "planted_backbone" in out and "logmel" in out


def test_unknown_hook_is_rejected():
    class Bad:
        @hookimpl
        def register_wombats(self, register):
            pass

    with pytest.raises(GroundingEvalError, match="register_wombats"):
        plugins.get_plugin_manager()
        plugins.register_plugin(Bad())


def test_same_seed_same_numbers_and_second_run_uses_cache(toy_plugin, tiny_bert, tmp_path):
    from grounding_eval import evaluate

    a = evaluate(tiny_bert, "toy_planted_probe", show_progress=False, cache_dir=str(tmp_path))
    b = evaluate(tiny_bert, "toy_planted_probe", show_progress=False, cache_dir=str(tmp_path))
    assert a["results"] == b["results"]
    assert a["tasks"]["toy_planted_probe"]["cache"]["perception"]["computed"] == 36
    assert b["tasks"]["toy_planted_probe"]["cache"]["perception"] == {"cached": 36, "computed": 0}
    c = evaluate(tiny_bert, "toy_planted_probe", seed=7, show_progress=False, cache_dir=str(tmp_path))
    assert c["tasks"]["toy_planted_probe"]["seeds"] == [7, 8]
    assert c["results"] != a["results"]


BAD_INPUTS = [
    (["--model", "x", "--task", "no_such_task"], "unknown task 'no_such_task'"),
    (["--model", "/nonexistent/model-dir", "--task", "toy_planted_probe"], "no such directory"),
    (["--model", "nobody-org/no-such-model-xyz", "--task", "toy_planted_probe"], "cannot be reached"),
    (["--model", "TINY", "--task", "toy_planted_probe", "--audio-backbone", "pased"], "unknown audio backbone"),
    (["--model", "TINY", "--task", "toy_planted_probe", "--model-args", "pooling=max"], "valid poolings"),
    (["--model", "TINY", "--task", "toy_planted_probe", "--model-args", "layr=2"], "did you mean 'layer'"),
    (["--model", "TINY", "--task", "toy_planted_probe", "--num-runs", "0"], "--num-runs"),
    (["--task", "toy_planted_probe"], "--model"),
]


@pytest.mark.parametrize("argv,needle", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2(argv, needle, toy_plugin, tiny_bert, tmp_path, capsys):
    argv = [tiny_bert if a == "TINY" else a for a in argv] + ["--output-path", str(tmp_path / "out")]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half written


def test_malformed_task_yaml_names_file_and_line(tmp_path, tiny_bert, capsys):
    (tmp_path / "my_task.yaml").write_text(
        "task: my_task\nversion: 1\ndataset:\n  name: distro_sounds\nprobe:\n  temprature: 0.1\n")
    code, _, err = run_cli(["--model", tiny_bert, "--task", "my_task", "--include-path", str(tmp_path)], capsys)
    assert code == 2
    assert "my_task.yaml:6" in err and "did you mean 'temperature'" in err and err.count("\n") == 1


def test_missing_debian_package_is_one_line(monkeypatch, tiny_bert, capsys, tmp_path):
    from grounding_eval.data import distro_sounds

    monkeypatch.setattr(distro_sounds, "PACKAGE_ROOTS",
                        {k: (str(tmp_path / "absent"),) for k in distro_sounds.PACKAGE_ROOTS}, raising=False)
    code, _, err = run_cli(["--model", tiny_bert, "--task", "distro_sounds_audio_probe", "--audio-backbone", "logmel",
                            "--output-path", ""], capsys)
    assert code == 2 and "apt-get install" in err and err.count("\n") == 1


def test_console_script_is_installed_and_errors_cleanly():
    proc = subprocess.run([sys.executable, "-m", "grounding_eval", "--model", "x", "--task", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("grounding-eval: error:")
