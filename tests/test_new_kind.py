"""A new task kind costs one package and one registration: tests/toy_kind/ (config, run, results, compare,
leaderboard) and one plugin object whose `register_kinds` names those parts and whose `register_tasks` adds
its YAML file. Nothing in grounding_eval/ knows the toy kind; every command below is the real CLI entry, and
each asserts what the toy kind computed, not only that it ran.

The toy task's items are the numbers 0.2 ... 0.9 (mean 0.55); a model of `--model-args scale=S` scores S * x on
each, chance is a model of scale 0.5 (0.275).
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest
import toy_kind
from toy_kind.run import bootstrap_stderr

from grounding_eval import plugins
from grounding_eval.kinds import KINDS, get_kind, is_kind
from grounding_eval.tasks.manager import TaskManager
from cli_helpers import run_cli

TASK = "toy_task"
NUMBERS = [0.2, 0.4, 0.6, 0.8, 0.9, 0.7, 0.5, 0.3]


@pytest.fixture
def toy():
    """The one registration, undone after the test."""
    plugins.register_plugin(toy_kind.PLUGIN)
    yield toy_kind.PLUGIN
    plugins.unregister_plugin(toy_kind.PLUGIN)


def evaluate(tmp_path, capsys, name: str, *extra: str) -> Path:
    """`grounding-eval --model X --task toy_task --output-path NAME.json ...`, checked to succeed."""
    out = tmp_path / f"{name}.json"
    code, stdout, err = run_cli(["--model", "X", "--task", TASK, "--output-path", str(out), *extra], capsys)
    assert code == 0, err
    assert f"results written to {out}" in stdout
    return out


def test_the_kind_exists_only_through_its_registration(toy, capsys):
    """Unregistered, `toy` is no kind and toy_task no task; registered, both are, from the plugin's row."""
    assert "toy" not in KINDS
    plugins.unregister_plugin(toy)
    assert not is_kind("toy")
    code, _, err = run_cli(["--model", "X", "--task", TASK], capsys)
    assert code == 2 and f"unknown task {TASK!r}" in err
    plugins.register_plugin(toy)
    assert is_kind("toy") and get_kind("toy") is toy_kind.KIND
    assert TaskManager().get(TASK).kind == "toy"


def test_tasks_lists_the_toy_task(toy, capsys):
    """`grounding-eval tasks` lists the plugin's task beside the shipped ones; a kind with no dataset and no
    encoder shows "-" for both (the listing once assumed every kind had them)."""
    code, stdout, err = run_cli(["tasks"], capsys)
    row = next(line for line in stdout.splitlines() if TASK in line)
    assert code == 0 and "distro_sounds_audio_probe" in stdout, err
    assert [c.strip() for c in row.strip("│ ").split("│")][:4] == [TASK, "2", "-", "-"] and "plugin" in row


def test_the_toy_package_imports_no_other_kind():
    """The package uses the shared core only (grounding_eval.kinds.probe / .generative are never imported)."""
    imported = set()
    for path in Path(toy_kind.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
    assert "grounding_eval.kinds" in imported  # the table, for its TaskKind row
    assert not [m for m in imported if m.startswith("grounding_eval.kinds.")]


def test_run_writes_typed_results_and_prints_them(toy, tmp_path, capsys):
    """The run scores every item, bootstraps the mean with the task's seed, writes a file that `validate`
    accepts as a toy results file, and prints its table."""
    out = tmp_path / "x.json"
    code, stdout, err = run_cli(["--model", "X", "--task", TASK, "--output-path", str(out)], capsys)
    assert code == 0, err
    data = json.loads(out.read_text())
    r, t = data["results"][TASK], data["tasks"][TASK]
    se = bootstrap_stderr(NUMBERS, 3, 400)
    assert data["kind"] == "toy" and t["items"] == NUMBERS and t["seed"] == 3
    assert r["mean"] == pytest.approx({"mean": 0.55, "stderr": se, "n": 8}) and r["chance"] == pytest.approx(0.275)
    assert t["hash"] == TaskManager().get(TASK).content_hash() and 0.01 < se < 0.2
    assert f"55.0 ± {100 * se:.1f}" in stdout and "27.5" in stdout and "(toy)" in stdout
    assert data["model"]["identity"]["weights_sha256"] == hashlib.sha256(b"X:1.0").hexdigest()
    code, stdout, err = run_cli(["validate", str(out)], capsys)
    assert code == 0 and f"{out}: valid (toy, schema version 1)" in stdout.replace("\n", ""), err


def test_a_bad_toy_task_file_is_one_line_naming_file_and_line(toy, tmp_path, capsys):
    """The strict task loader serves the new kind as it serves the built-in ones."""
    (tmp_path / "bad_toy.yaml").write_text("task: bad_toy\nkind: toy\nversion: 1\nnumbers: [0.5, 2]\n")
    code, _, err = run_cli(["--model", "X", "--task", "bad_toy", "--include-path", str(tmp_path)], capsys)
    assert code == 2 and "bad_toy.yaml:4: numbers must be a list of at least two numbers in [0, 1], got [0.5, 2]" in err, err


def test_schemas_of_the_toy_task_and_results(toy, capsys):
    """`schema toy-task` and `schema toy-results` are the kind's own models."""
    code, stdout, _ = run_cli(["schema", "toy-task"], capsys)
    task = json.loads(stdout)
    assert code == 0 and task["properties"]["kind"]["const"] == "toy"
    assert task["properties"]["numbers"]["description"].startswith("the items: a model of scale S")
    assert {"numbers", "seed", "bootstrap_resamples"} <= set(task["properties"]) and "numbers" in task["required"]
    code, stdout, _ = run_cli(["schema", "toy-results"], capsys)
    res = json.loads(stdout)
    assert code == 0 and res["properties"]["kind"]["const"] == "toy"
    assert {"ToyResult", "ToyRecord", "Score"} <= set(res["$defs"])


def test_compare_passes_a_rerun_and_catches_a_drop(toy, tmp_path, capsys):
    """Another bootstrap seed of the same model passes (exit 0, the seed noted); a model of half the scale
    drops by 27.5 points, beyond the paired t threshold over the items (exit 1)."""
    base = evaluate(tmp_path, capsys, "base")
    rerun = evaluate(tmp_path, capsys, "rerun", "--seed", "7")
    weak = evaluate(tmp_path, capsys, "weak", "--model-args", "scale=0.5")
    code, stdout, err = run_cli(["compare", str(rerun), "--baseline", str(base)], capsys)
    assert code == 0, err
    assert "no metric moved beyond its tolerance" in stdout and "bootstrap seed 3 (baseline) vs 7 (new)" in stdout
    code, stdout, err = run_cli(["compare", str(weak), "--baseline", str(base)], capsys)
    assert code == 1, err
    assert "REGRESSION: toy_task mean dropped by 27.50 points" in stdout and "paired t" in stdout


def test_leaderboard_submit_build_and_model_card(toy, tmp_path, capsys):
    """Two toy entries are checked, filed under the toy kind's axis, ranked and drawn in the toy section of
    the page and the README; the model card has the toy rows; an edited mean is refused."""
    root = tmp_path / "lb"
    base, weak = evaluate(tmp_path, capsys, "base"), evaluate(tmp_path, capsys, "weak", "--model-args", "scale=0.5")
    code, stdout, err = run_cli(["leaderboard", "submit", str(base), str(weak), "--root", str(root)], capsys)
    assert code == 0, err
    entries = sorted((root / "submissions" / TASK / "no-encoder" / "X").glob("sha256-*.json"))
    assert len(entries) == 2 and json.loads(entries[0].read_text())["kind"] == "toy"
    code, stdout, err = run_cli(["leaderboard", "build", "--root", str(root)], capsys)
    assert code == 0 and "2 toy entries in 1 task table(s)" in stdout, err
    page = (root / "index.html").read_text()
    section = page[page.index('<section class="task toy">'):]
    assert section.index("55.0 ±") < section.index("27.5 ±") and "8 items" in section
    assert "## toy\\_task (toy)" in (root / "README.md").read_text()
    code, stdout, _ = run_cli(["leaderboard", "model-index", str(base)], capsys)
    assert code == 0 and "mean (%) over 8 items" in stdout and "value: 55.0" in stdout
    tampered = json.loads(base.read_text())
    tampered["results"][TASK]["mean"]["mean"] = 0.9
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    code, _, err = run_cli(["leaderboard", "submit", str(tmp_path / "tampered.json"), "--root", str(root)], capsys)
    assert code == 2 and "field results.toy_task.mean: 0.9" in err, err
