"""`grounding-eval schema task|results`: the published JSON Schemas agree with what the loaders accept."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from grounding_eval.cli import main
from grounding_eval.kinds.probe.config import TaskConfig
from grounding_eval.tasks import TaskManager

GOLDEN = Path(__file__).resolve().parent.parent / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"


def _schema(kind: str, capsys) -> dict:
    try:
        main(["schema", kind])
    except SystemExit as exc:
        assert exc.code == 0
    return json.loads(capsys.readouterr().out)


def test_task_schema_accepts_every_shipped_task_and_names_every_key(capsys):
    schema = _schema("task", capsys)
    assert set(schema["properties"]) == {"include", "kind", *TaskConfig.model_fields}
    assert schema["additionalProperties"] is False
    validator = jsonschema.Draft202012Validator(schema)
    # every other kind's tasks against that kind's schema (`<kind>-task`)
    by_kind = {"probe": validator}
    manager = TaskManager()
    for name in manager.names():
        cfg = manager.get(name)
        kind = getattr(cfg, "kind", "probe")
        if kind not in by_kind:
            by_kind[kind] = jsonschema.Draft202012Validator(_schema(f"{kind}-task", capsys))
        by_kind[kind].validate(cfg.to_dict())
    assert {"probe", "generative", "knowledge"} <= set(by_kind)
    # a typo an editor should flag, as the loader does
    bad = {**manager.get("distro_sounds_audio_probe").to_dict(), "num_run": 3}
    assert any("num_run" in e.message for e in validator.iter_errors(bad))
    probe = schema["$defs"]["ProbeConfig"]["properties"]["epochs"]
    assert probe["minimum"] == 1 and "optimiser steps" in probe["description"]


def test_task_schema_accepts_a_shipped_file_with_include(capsys):
    validator = jsonschema.Draft202012Validator(_schema("task", capsys))
    tasks = Path(__file__).resolve().parent.parent / "tasks"
    with_include = [p for p in sorted(tasks.glob("*_probe.yaml")) if "include" in (yaml.safe_load(p.read_text()) or {})]
    assert with_include
    validator.validate(yaml.safe_load(with_include[0].read_text()))


def test_results_schema_accepts_the_golden_and_refuses_a_broken_copy(capsys):
    validator = jsonschema.Draft202012Validator(_schema("results", capsys))
    data = json.loads(GOLDEN.read_text())
    validator.validate(data)
    del next(iter(data["results"].values()))["probe"]
    assert list(validator.iter_errors(data))
