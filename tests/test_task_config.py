"""The task YAML system: strict schema errors with file and line, include inheritance, hashing, discovery."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.config import TaskConfig
from grounding_eval.tasks import TaskManager, builtin_task_dir, load_task_file, task_from_dict

REPO_TASKS = Path(__file__).resolve().parent.parent / "tasks"

MINIMAL = """\
task: my_task
version: 1
dataset:
  name: distro_sounds
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(GroundingEvalError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg  # user errors are one line
    return msg


# -- schema ----------------------------------------------------------------------------------------


def test_minimal_file_gets_protocol_defaults(tmp_path):
    cfg = load_task_file(write(tmp_path, "t.yaml", MINIMAL))
    assert cfg.task == "my_task" and cfg.dataset.name == "distro_sounds" and cfg.dataset.args == {}
    assert cfg.prompt_templates == ["the sound of {concept}"]
    assert cfg.perception_encoder.name == "aisfx"
    assert cfg.split.train_fraction == 0.7 and cfg.split.unit == "concept"
    assert cfg.probe.epochs == 20 and cfg.probe.learning_rate == 0.01 and cfg.probe.batch_size is None
    assert cfg.probe.fit_on == "instances"
    assert cfg.metrics == {"accuracy_at_k": {"k": [1, 3, 5]}, "mrr": {}}
    assert cfg.main_metric == "accuracy@3" and cfg.controls == ["permuted_text"]
    assert cfg.num_runs == 5 and cfg.seed == 0 and cfg.max_instances_per_concept is None


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    p = write(tmp_path, "foo.yaml", MINIMAL + "probe:\n  epochs: 10\n  temprature: 0.2\n")
    msg = error_of(load_task_file, p)
    assert msg.startswith(f"{p}:7: unknown key 'temprature' in probe; did you mean 'temperature'?")
    assert "valid: projection_dim, temperature," in msg


def test_unknown_top_level_key(tmp_path):
    p = write(tmp_path, "foo.yaml", MINIMAL + "num_run: 3\n")
    msg = error_of(load_task_file, p)
    assert f"{p}:5: unknown key 'num_run' at the top level; did you mean 'num_runs'?" in msg


@pytest.mark.parametrize(
    "extra, line, field, valid",
    [
        ("num_runs: three\n", 5, "num_runs", "an integer"),
        ("num_runs: 0\n", 5, "num_runs", "an integer >= 1"),
        ("probe:\n  temperature: -1\n", 6, "probe.temperature", "a number > 0"),
        ("probe:\n  optimizer: lbfgs\n", 6, "probe.optimizer", "one of: adam, adamw, sgd"),
        ("probe:\n  fit_on: clips\n", 6, "probe.fit_on", "one of: instances, concept_means"),
        ("probe:\n  learn_temperature: 1\n", 6, "probe.learn_temperature", "true or false"),
        ("split:\n  train_fraction: 1.0\n", 6, "split.train_fraction", "strictly between 0 and 1"),
        ("split:\n  unit: clip\n", 6, "split.unit", "one of: concept"),
        ("prompt_templates: ['a {thing}']\n", 5, "prompt_templates", '"{concept}"'),
        ("prompt_templates: the sound of {concept}\n", 5, "prompt_templates", "a list of strings"),
        ("controls: [permuted_text, 3]\n", 5, "controls[1]", "a string"),
        ("metrics:\n  mrr: [1]\n", 6, "metrics.mrr", "a mapping of arguments"),
        ("probe: 5\n", 5, "probe", "a mapping with keys projection_dim"),
    ],
)
def test_wrong_type_or_range_names_file_line_field_and_valid(tmp_path, extra, line, field, valid):
    p = write(tmp_path, "foo.yaml", MINIMAL + extra)
    msg = error_of(load_task_file, p)
    assert msg.startswith(f"{p}:{line}: {field} must be"), msg
    assert valid in msg


def test_bad_task_name(tmp_path):
    p = write(tmp_path, "foo.yaml", MINIMAL.replace("my_task", "My-Task"))
    assert "[a-z0-9_]+" in error_of(load_task_file, p)


def test_ints_accepted_for_floats_and_yaml12_exponents(tmp_path):
    cfg = load_task_file(write(tmp_path, "t.yaml", MINIMAL + "probe:\n  weight_decay: 0\n  learning_rate: 1e-4\n"))
    assert cfg.probe.weight_decay == 0.0 and isinstance(cfg.probe.weight_decay, float)
    assert cfg.probe.learning_rate == pytest.approx(1e-4)


def test_empty_metric_args(tmp_path):
    cfg = load_task_file(write(tmp_path, "t.yaml", MINIMAL + "metrics:\n  mrr:\n"))
    assert cfg.metrics == {"mrr": {}}


@pytest.mark.parametrize("missing", ["task", "version", "dataset"])
def test_missing_required_field(tmp_path, missing):
    text = {"task": "version: 1\ndataset:\n  name: d\n", "version": "task: t\ndataset:\n  name: d\n", "dataset": "task: t\nversion: 1\n"}
    p = write(tmp_path, "foo.yaml", text[missing])
    msg = error_of(load_task_file, p)
    assert str(p) in msg and f"missing required field {missing!r}" in msg


def test_missing_nested_required_field(tmp_path):
    p = write(tmp_path, "foo.yaml", "task: t\nversion: 1\ndataset:\n  args: {}\n")
    msg = error_of(load_task_file, p)
    assert msg.startswith(f"{p}:3: missing required field 'dataset.name'")


def test_duplicate_key_and_bad_yaml(tmp_path):
    p = write(tmp_path, "dup.yaml", MINIMAL + "seed: 1\nseed: 2\n")
    assert error_of(load_task_file, p).startswith(f"{p}:6: duplicate key 'seed'")
    p = write(tmp_path, "bad.yaml", "task: t\nversion: [1\n")
    assert error_of(load_task_file, p).startswith(f"{p}:")


def test_non_json_args_rejected(tmp_path):
    p = write(tmp_path, "foo.yaml", MINIMAL + "  args:\n    since: 2020-01-01\n")
    msg = error_of(load_task_file, p)
    assert msg.startswith(f"{p}:6: dataset.args.since: unsupported value")


# -- include ---------------------------------------------------------------------------------------


def test_include_inheritance_and_override(tmp_path):
    write(tmp_path, "bases/_base.yaml", """\
        version: 3
        dataset:
          name: base_ds
          args: {root: /data, rate: 16000}
        probe:
          epochs: 50
          temperature: 0.05
        prompt_templates: ["the sound of {concept}", "{concept}"]
        """)
    p = write(tmp_path, "child.yaml", """\
        include: bases/_base.yaml
        task: child
        dataset:
          args: {rate: 22050}
        probe:
          epochs: 10
        prompt_templates: ["a {concept} noise"]
        """)
    cfg = load_task_file(p)
    assert cfg.version == 3  # inherited
    assert cfg.dataset.name == "base_ds"
    assert cfg.dataset.args == {"root": "/data", "rate": 22050}  # mappings merge key by key
    assert cfg.probe.epochs == 10 and cfg.probe.temperature == 0.05
    assert cfg.prompt_templates == ["a {concept} noise"]  # lists replace
    assert "include" not in cfg.to_dict()


def test_include_list_later_wins_and_errors_keep_base_line(tmp_path):
    write(tmp_path, "_a.yaml", "version: 1\nseed: 1\nprobe:\n  epochs: 5\n")
    write(tmp_path, "_b.yaml", "seed: 2\nprobe:\n  temprature: 0.3\n")
    p = write(tmp_path, "t.yaml", "include: [_a.yaml, _b.yaml]\ntask: t\ndataset: {name: d}\n")
    msg = error_of(load_task_file, p)
    # The typo lives in the included file: the error must point there, at its own line.
    assert msg.startswith(f"{tmp_path / '_b.yaml'}:3: unknown key 'temprature' in probe")
    write(tmp_path, "_b.yaml", "seed: 2\n")
    assert load_task_file(p).seed == 2


def test_include_cycle(tmp_path):
    write(tmp_path, "_a.yaml", "include: _b.yaml\nversion: 1\n")
    write(tmp_path, "_b.yaml", "include: _a.yaml\n")
    p = write(tmp_path, "t.yaml", "include: _a.yaml\ntask: t\ndataset: {name: d}\n")
    assert "include cycle" in error_of(load_task_file, p)
    p = write(tmp_path, "self.yaml", "include: self.yaml\ntask: t\n")
    assert "include cycle" in error_of(load_task_file, p)


def test_include_missing_file(tmp_path):
    p = write(tmp_path, "t.yaml", "include: _nope.yaml\n" + MINIMAL)
    assert error_of(load_task_file, p).startswith(f"{p}:1: include '_nope.yaml' not found")


# -- hashing, dicts, overrides ---------------------------------------------------------------------


def test_hash_stable_across_key_order_and_layout(tmp_path):
    a = load_task_file(write(tmp_path, "a.yaml", MINIMAL + "probe: {epochs: 5, temperature: 0.2}\n"))
    b = load_task_file(write(tmp_path, "b.yaml", "probe: {temperature: 0.2, epochs: 5}\ndataset: {name: distro_sounds}\nversion: 1\ntask: my_task\n"))
    write(tmp_path, "_base.yaml", "probe: {epochs: 5}\n")
    c = load_task_file(write(tmp_path, "c.yaml", "include: _base.yaml\n" + MINIMAL + "probe: {temperature: 0.2}\n"))
    assert a.content_hash() == b.content_hash() == c.content_hash()
    assert len(a.content_hash()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"description": "x"},
        {"seed": 1},
        {"num_runs": 4},
        {"probe.epochs": 201},
        {"probe.learning_rate": 0.002},
        {"split.train_fraction": 0.8},
        {"dataset.args": {"a": 1}},
        {"perception_encoder.name": "other"},
        {"prompt_templates": ["{concept}"]},
        {"metrics": {"mrr": {}}},
        {"controls": []},
        {"max_instances_per_concept": 10},
    ],
)
def test_hash_changes_with_any_value(tmp_path, change):
    base = load_task_file(write(tmp_path, "t.yaml", MINIMAL))
    changed = base.with_overrides(**change)
    assert changed.content_hash() != base.content_hash()
    assert base.with_overrides().content_hash() == base.content_hash()


def test_with_overrides_validates_and_is_new(tmp_path):
    base = load_task_file(write(tmp_path, "t.yaml", MINIMAL))
    new = base.with_overrides(num_runs=1, **{"probe.epochs": 3})
    assert (new.num_runs, new.probe.epochs) == (1, 3) and (base.num_runs, base.probe.epochs) == (5, 20)
    assert "num_runs must be an integer >= 1" in error_of(base.with_overrides, num_runs=0)
    assert "did you mean 'epochs'" in error_of(base.with_overrides, **{"probe.epoch": 3})
    with pytest.raises(Exception):
        base.num_runs = 3  # frozen


def test_task_from_dict_same_validation():
    cfg = task_from_dict({"task": "d", "version": 0, "dataset": {"name": "x"}}, source="<plugin p>")
    assert isinstance(cfg, TaskConfig) and cfg.dataset.name == "x"
    msg = error_of(task_from_dict, {"task": "d", "version": 0, "dataset": {"name": "x"}, "sead": 1}, source="<plugin p>")
    assert msg.startswith("<plugin p>: unknown key 'sead' at the top level; did you mean 'seed'?")
    assert cfg.to_dict() == task_from_dict(cfg.to_dict()).to_dict()


# -- discovery -------------------------------------------------------------------------------------


def test_every_shipped_yaml_loads():
    files = sorted(REPO_TASKS.rglob("*.yaml"))
    assert files, "tasks/ is empty"
    tasks = [p for p in files if not p.name.startswith("_")]
    assert tasks
    for p in tasks:
        cfg = load_task_file(p)
        assert cfg.content_hash()
    default = load_task_file(REPO_TASKS / "distro_sounds_audio_probe.yaml")
    assert (default.version, default.dataset.name, default.perception_encoder.name, default.num_runs) == (
        4, "distro_sounds", "aisfx", 5)
    assert default.dataset.args == {"edition": 2, "min_clips_per_concept": 3}


def test_an_earlier_version_is_reached_by_name_at_version(tmp_path):
    """`NAME@N` gives the archived file of version N (never listed as a task of its own), `NAME@current` the
    current file; an unknown version or an archived file claiming another name/version is one line."""
    tm = TaskManager(plugin_tasks=[])
    assert "distro_sounds_audio_probe@3" not in tm.names()
    old, now = tm.get("distro_sounds_audio_probe@3"), tm.get("distro_sounds_audio_probe")
    assert (old.task, old.version, old.dataset.args) == ("distro_sounds_audio_probe", 3, {"edition": 1})
    # Version 3 as it was: the probe schedule and everything else written out, so base changes cannot move it.
    assert (old.probe.epochs, old.probe.learning_rate, old.probe.fit_on) == (20, 0.01, "instances")
    assert tm.get(f"distro_sounds_audio_probe@{now.version}") is now
    with pytest.raises(GroundingEvalError, match=r"has no version '1': available 3, 4"):
        tm.get("distro_sounds_audio_probe@1")
    write(tmp_path, "mine.yaml", "task: mine\nversion: 2\ndataset: {name: d}\n")
    write(tmp_path, "old/mine@1.yaml", "task: mine\nversion: 2\ndataset: {name: d}\n")
    user = TaskManager([str(tmp_path)], plugin_tasks=[])
    assert "mine" in user.names()
    with pytest.raises(GroundingEvalError, match=r"mine@1.yaml: an archived task file must say task: mine and version: 1"):
        user.get("mine@1")


def test_builtin_dir_found_and_bases_not_listed():
    assert builtin_task_dir() == REPO_TASKS
    names = TaskManager(plugin_tasks=[]).names()
    assert "distro_sounds_audio_probe" in names
    assert not any(n.startswith("_") or "base" in n for n in names)


def test_include_path_discovery_recursive(tmp_path):
    write(tmp_path, "_shared.yaml", "version: 2\ndataset: {name: d}\n")
    write(tmp_path, "deep/er/one.yaml", "include: ../../_shared.yaml\ntask: one\n")
    write(tmp_path, "two.yaml", "task: two\nversion: 1\ndataset: {name: d}\n")
    tm = TaskManager([str(tmp_path)], plugin_tasks=[])
    assert {"one", "two", "distro_sounds_audio_probe"} <= set(tm.names())
    assert tm.get("one").version == 2
    rows = {r["name"]: r for r in tm.describe()}
    assert rows["one"]["dataset"] == "d" and rows["one"]["source"].endswith("one.yaml")
    assert set(rows["two"]) == {"name", "version", "dataset", "encoder", "source"}


def test_include_path_must_exist(tmp_path):
    assert "no such file or directory" in error_of(TaskManager, [str(tmp_path / "nope")], plugin_tasks=[])


def test_plugin_registered_dict_and_path(tmp_path, monkeypatch):
    folder = tmp_path / "plugin_tasks"
    write(folder, "p_file.yaml", "task: p_file\nversion: 1\ndataset: {name: d}\n")
    regs = SimpleNamespace(tasks=[
        ("my_plugin", {"task": "p_dict", "version": 4, "dataset": {"name": "colours"}, "perception_encoder": {"name": "cielab"}}),
        ("my_plugin", str(folder)),
        ("builtin", str(REPO_TASKS)),  # the same shipped files again: not a duplicate
    ])
    from grounding_eval import plugins

    monkeypatch.setattr(plugins, "registries", lambda: regs)
    tm = TaskManager()
    assert {"p_dict", "p_file", "distro_sounds_audio_probe"} <= set(tm.names())
    cfg = tm.get("p_dict")
    assert (cfg.version, cfg.dataset.name, cfg.perception_encoder.name) == (4, "colours", "cielab")
    assert tm.source("p_dict") == "<plugin my_plugin>"
    assert "(plugin my_plugin)" in tm.source("p_file")


def test_plugin_dict_errors_name_the_plugin():
    tm = TaskManager(plugin_tasks=[("my_plugin", {"task": "bad", "version": 1, "dataset": {"name": "d"}, "num_runs": -1})])
    assert error_of(tm.get, "bad").startswith("<plugin my_plugin>: num_runs must be an integer >= 1")


def test_duplicate_task_names_name_both_files(tmp_path):
    write(tmp_path, "a/x.yaml", "task: same\nversion: 1\ndataset: {name: d}\n")
    write(tmp_path, "b/y.yaml", "task: same\nversion: 1\ndataset: {name: d}\n")
    msg = error_of(TaskManager([str(tmp_path)], plugin_tasks=[]).names)
    assert "task 'same' is defined twice" in msg and "x.yaml" in msg and "y.yaml" in msg


def test_include_path_may_not_shadow_builtin(tmp_path):
    write(tmp_path, "mine.yaml", "task: distro_sounds_audio_probe\nversion: 9\ndataset: {name: d}\n")
    msg = error_of(TaskManager([str(tmp_path)], plugin_tasks=[]).get, "distro_sounds_audio_probe")
    assert "distro_sounds_audio_probe.yaml" in msg and "mine.yaml" in msg


def test_plugin_dict_may_not_shadow_file(tmp_path):
    write(tmp_path, "t.yaml", "task: clash\nversion: 1\ndataset: {name: d}\n")
    tm = TaskManager([str(tmp_path)], plugin_tasks=[("p", {"task": "clash", "version": 1, "dataset": {"name": "d"}})])
    msg = error_of(tm.names)
    assert "<plugin p>" in msg and "t.yaml" in msg


def test_unknown_task_suggests(tmp_path):
    msg = error_of(TaskManager(plugin_tasks=[]).get, "distro_sound_audio_probe")
    assert msg == ("unknown task 'distro_sound_audio_probe': did you mean 'distro_sounds_audio_probe'? "
                   "list them with `grounding-eval tasks`")


def test_malformed_file_only_errors_when_it_matters(tmp_path):
    write(tmp_path, "good.yaml", "task: good\nversion: 1\ndataset: {name: d}\n")
    write(tmp_path, "typo.yaml", "task: typo\nversion: 1\ndataset: {name: d}\nsede: 1\n")
    write(tmp_path, "broken.yaml", "task: broken\nversion: [1\n")
    tm = TaskManager([str(tmp_path)], plugin_tasks=[])
    assert tm.get("good").task == "good"  # unaffected by its neighbours
    assert ":4: unknown key 'sede'" in error_of(tm.get, "typo")
    assert "broken.yaml:" in error_of(tm.names)  # listing all must not hide a broken file
    assert "broken.yaml:" in error_of(tm.get, "broken")  # its name cannot be read: the note says why


def test_user_task_includes_the_shipped_base(tmp_path):
    """A task outside the repo can `include:` a base that ships with grounding-eval."""
    from grounding_eval.tasks.config import load_task_file

    f = tmp_path / "mine.yaml"
    f.write_text("include: _audio_probe_base.yaml\ntask: mine\nversion: 1\ndataset:\n  name: distro_sounds\n")
    cfg = load_task_file(f)
    assert cfg.prompt_templates == ["the sound of {concept}"] and cfg.probe.projection_dim == 128


def test_a_user_file_can_include_a_plugin_task_by_name(tmp_path):
    """The colour plugin registers its tasks/ folder: a one-file variant of its task needs no path."""
    pytest.importorskip("grounding_eval_colour")
    p = write(tmp_path, "mine.yaml", "include: xkcd_color_probe.yaml\ntask: my_xkcd\nprobe:\n  epochs: 5\n")
    cfg = load_task_file(p)
    assert (cfg.task, cfg.dataset.name, cfg.probe.epochs, cfg.probe.projection_dim) == ("my_xkcd", "xkcd_colors", 5, 16)
    missing = write(tmp_path, "nope.yaml", "include: no_such_probe.yaml\ntask: nope\n")
    assert "the plugins' task folders" in error_of(load_task_file, missing)
