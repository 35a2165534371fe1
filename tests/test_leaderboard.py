"""The leaderboard: a real results file submits, builds and shows; tampered ones are refused or shown inert.

The real results file is the committed golden run (leaderboard/golden/): all-MiniLM-L6-v2 x aisfx on the
offline default task, as the harness wrote it. Tampering is done to copies, one field at a time.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.protocol import mean_stderr
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.checks import canonical_hash, check_results_for_leaderboard
from grounding_eval.leaderboard.page import md_escape
from grounding_eval.leaderboard.submit import decide, entry_path, split_by_task, submit
from cli_helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
TASK = "distro_sounds_audio_probe"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def real() -> dict:
    return json.loads(GOLDEN.read_text())


def write(tmp_path: Path, data: dict, name: str = "res.json") -> str:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return str(p)


def resummarise(res: dict) -> None:
    """Recompute every summary from the runs, as the harness does (for tampering that keeps them consistent)."""
    runs = res["tasks"][TASK]["runs"]
    r = res["results"][TASK]
    for variant, metrics in {"probe": r["probe"], **r["controls"]}.items():
        for m in metrics:
            metrics[m] = mean_stderr([run[variant]["scores"][m] for run in runs])


def test_golden_is_a_valid_entry_of_the_task_as_it_is_now(real):
    # If this fails, the task (or the harness' config resolution) changed: bump the task version and
    # regenerate the golden in the same commit (see docs/ci.md, "The project's own regression check").
    check_results_for_leaderboard(real, str(GOLDEN))


def test_real_results_submit_build_and_show(real, tmp_path, capsys):
    root = tmp_path / "lb"
    code, out, err = run_cli(["leaderboard", "submit", write(tmp_path, real), "--root", str(root)], capsys)
    assert code == 0, err
    entry = root / "submissions" / TASK / "aisfx" / "sentence-transformers__all-MiniLM-L6-v2" / "sha256-7e54b3bcd8c7.json"
    assert json.loads(entry.read_text())["results"] == real["results"]
    code, out, err = run_cli(["leaderboard", "build", "--root", str(root)], capsys)
    assert code == 0, err
    page = (root / "index.html").read_text()
    probe = real["results"][TASK]["probe"]["accuracy@3"]
    shown = f"{100 * probe['mean']:.1f} ± {100 * probe['stderr']:.1f}"
    assert "sentence-transformers/all-MiniLM-L6-v2" in page and shown in page
    ctrl = real["results"][TASK]["controls"]["permuted_text"]["accuracy@3"]
    assert f"{100 * ctrl['mean']:.1f} ± {100 * ctrl['stderr']:.1f}" in page
    assert 'href="submissions/distro_sounds_audio_probe/aisfx/sentence-transformers__all-MiniLM-L6-v2/sha256-7e54b3bcd8c7.json"' in page
    assert "<svg" in page and 'class="chance"' in page and real["environment"]["cpu"] in page
    # Offline: no stylesheet, script or image is fetched from anywhere.
    assert "<link" not in page and "<script src" not in page and "<img" not in page
    assert "https://" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    readme = (root / "README.md").read_text()
    assert "| sentence-transformers/all-MiniLM-L6-v2 |" in readme and shown in readme


def test_multi_task_results_split_into_one_entry_per_task(real):
    both = copy.deepcopy(real)
    both["results"]["other_task"] = both["results"][TASK]
    both["tasks"]["other_task"] = both["tasks"][TASK]
    parts = split_by_task(both)
    assert set(parts) == {TASK, "other_task"}
    assert all(list(p["results"]) == [t] and list(p["tasks"]) == [t] for t, p in parts.items())


def test_changed_score_without_its_runs_is_refused(real, tmp_path, capsys):
    real["results"][TASK]["probe"]["accuracy@3"]["mean"] = 0.5
    root = tmp_path / "lb"
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, real), "--root", str(root)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "results.distro_sounds_audio_probe.probe.accuracy@3" in err and "does not match its 5 runs" in err
    assert not root.exists()  # nothing written


def test_changed_control_and_dropped_runs_are_refused(real, tmp_path):
    bad = copy.deepcopy(real)
    bad["results"][TASK]["controls"]["permuted_text"]["mrr"]["stderr"] = 0.0001
    with pytest.raises(GroundingEvalError, match="controls.permuted_text.mrr"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    del bad["tasks"][TASK]["runs"][0]["probe"]["scores"]["mrr"]
    with pytest.raises(GroundingEvalError, match="no per-run scores"):
        check_results_for_leaderboard(bad, "x.json")


def test_wrong_task_hash_is_refused(real, tmp_path, capsys):
    t = real["tasks"][TASK]
    edited = copy.deepcopy(real)
    edited["tasks"][TASK]["hash"] = "0" * 64  # hash edited alone
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, edited), "--root", str(tmp_path / "lb")], capsys)
    assert code == 2 and "tasks.distro_sounds_audio_probe.hash" in err and "not the hash of the stored config" in err
    # A run of a different protocol, config and hash consistent with each other: named by the field that differs.
    other = copy.deepcopy(real)
    other["tasks"][TASK]["config"]["probe"]["epochs"] = 10
    other["tasks"][TASK]["hash"] = canonical_hash(other["tasks"][TASK]["config"])
    with pytest.raises(GroundingEvalError, match=r"differs from task distro_sounds_audio_probe v\d+ at 'probe.epochs'"):
        check_results_for_leaderboard(other, "x.json")
    limited = copy.deepcopy(real)
    limited["tasks"][TASK]["config"]["max_instances_per_concept"] = 2  # --limit: another dataset
    limited["tasks"][TASK]["hash"] = canonical_hash(limited["tasks"][TASK]["config"])
    with pytest.raises(GroundingEvalError, match="max_instances_per_concept"):
        check_results_for_leaderboard(limited, "x.json")
    old = copy.deepcopy(real)
    old["tasks"][TASK]["version"] = t["version"] + 1
    with pytest.raises(GroundingEvalError, match=f"version {t['version']} now"):
        check_results_for_leaderboard(old, "x.json")


def test_accepted_overrides_other_seeds(real):
    """Seeds are an accepted override: config seed 5 with runs 5..9 hashes like the task with seed=5."""
    from grounding_eval.tasks.manager import TaskManager

    moved = copy.deepcopy(real)
    moved["tasks"][TASK]["config"]["seed"] = 5
    moved["tasks"][TASK]["hash"] = TaskManager().get(TASK).with_overrides(seed=5).content_hash()
    for i, run in enumerate(moved["tasks"][TASK]["runs"]):
        run["seed"] = 5 + i
    moved["tasks"][TASK]["seeds"] = [5 + i for i in range(5)]
    check_results_for_leaderboard(moved, "x.json")
    moved["tasks"][TASK]["seeds"] = [0, 1, 2, 3, 4]  # seeds that are not the runs'
    with pytest.raises(GroundingEvalError, match="tasks.distro_sounds_audio_probe.seeds"):
        check_results_for_leaderboard(moved, "x.json")


def test_provenance_and_ranges_are_required(real):
    bad = copy.deepcopy(real)
    bad["model"]["identity"].pop("weights_sha256")
    with pytest.raises(GroundingEvalError, match="model.identity: no revision or weights_sha256"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    bad["tasks"][TASK]["perception_encoder"]["identity"].pop("checkpoint_sha256")
    with pytest.raises(GroundingEvalError, match="perception_encoder.identity: no checkpoint identity"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    del bad["environment"]["packages"]["torch"]
    with pytest.raises(GroundingEvalError, match="environment.packages: no version for torch"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    bad["tasks"][TASK]["runs"][2]["probe"]["scores"]["accuracy@5"] = 1.7
    resummarise(bad)  # consistent summary, impossible score
    with pytest.raises(GroundingEvalError, match=r"runs.2.probe.scores.accuracy@5: 1.7 is not in \[0, 1\]"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    bad["results"][TASK]["chance"]["accuracy@3"] = 0.01
    with pytest.raises(GroundingEvalError, match="chance.accuracy@3"):
        check_results_for_leaderboard(bad, "x.json")


@pytest.mark.parametrize("name,revision", [
    ("../../../../../../tmp/escaped", "../../../etc/passwd"),
    ("/etc/cron.d/x", ".."),
    ("..", "/"),
    ("a\\..\\..\\b", "....//....//x"),
])
def test_path_traversal_names_stay_inside_the_leaderboard(real, tmp_path, name, revision):
    real["model"]["name"] = name
    real["model"]["identity"]["revision"] = revision
    root = tmp_path / "deep" / "lb"
    placed = submit(write(tmp_path, real), root)
    base = (root / "submissions").resolve()
    assert placed[0].path.is_relative_to(base)
    written = [p for p in tmp_path.rglob("*.json") if p.name not in ("res.json", "format.json")]
    assert written == [placed[0].path] and all(".." not in p.parts for p in written)
    assert len(placed[0].path.relative_to(base).parts) == 4  # task/backbone/model/revision.json, no extra level
    # The page shows the name as submitted, escaped; build accepts the entry where submit put it.
    build(root)


def test_entry_filed_by_hand_in_the_wrong_place_stops_the_build(real, tmp_path):
    root = tmp_path / "lb"
    placed = submit(write(tmp_path, real), root)[0]
    wrong = root / "submissions" / TASK / "logmel" / placed.path.parent.name / placed.path.name
    wrong.parent.mkdir(parents=True)
    shutil.copy(placed.path, wrong)
    with pytest.raises(GroundingEvalError, match="is not where its task, backbone, model and revision put it"):
        build(root)


def test_markup_in_a_name_is_escaped_in_page_and_markdown(real, tmp_path):
    real["model"]["name"] = XSS + "</script><script>alert(2)</script>|*x*"
    root = tmp_path / "lb"
    submit(write(tmp_path, real), root)
    build(root)
    page = (root / "index.html").read_text()
    assert "<img" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("<script>") == 1  # the page's own script only
    readme = (root / "README.md").read_text()
    assert "<img" not in readme and "&lt;img src=x onerror=alert(1)&gt;" in readme and "\\|\\*x\\*" in readme
    assert md_escape("a|b") == "a\\|b"


def test_duplicate_policy_better_or_newer(real, tmp_path):
    root = tmp_path / "lb"
    first = submit(write(tmp_path, real), root)[0]
    assert first.action == "added"
    assert submit(write(tmp_path, real), root)[0].action == "unchanged"
    (entry,) = split_by_task(real).values()
    # Other seeds, as many runs: refused (no re-drawing until lucky) unless forced.
    reseeded = copy.deepcopy(entry)
    for run in reseeded["tasks"][TASK]["runs"]:
        run["seed"] += 5
    reseeded["tasks"][TASK]["seeds"] = [r["seed"] for r in reseeded["tasks"][TASK]["runs"]]
    verdict, why = decide(entry, reseeded)
    assert verdict == "keep" and "other seeds do not replace it" in why
    # Same seeds rerun later: newer, replaces. More runs: better, replaces. Older task version stored: replaced.
    later = copy.deepcopy(entry)
    later["date"] = "2999-01-01T00:00:00+00:00"
    later["tasks"][TASK]["runs"][0]["probe"]["final_loss"] += 1e-6  # a rerun elsewhere: float noise
    assert decide(entry, later)[0] == "replace"
    more = copy.deepcopy(entry)
    more["tasks"][TASK]["runs"].append(dict(more["tasks"][TASK]["runs"][0], seed=5))
    assert decide(entry, more) == ("replace", "better: 6 runs replace 5")
    assert decide(more, entry)[0] == "keep"
    stale = copy.deepcopy(entry)
    stale["tasks"][TASK]["version"] = 0
    assert decide(stale, entry)[0] == "replace"


def test_duplicate_refusal_through_the_cli_names_the_entry(real, tmp_path, capsys):
    root = tmp_path / "lb"
    submit(write(tmp_path, real), root)
    before = {p: p.read_bytes() for p in root.rglob("*.json")}
    entry = split_by_task(copy.deepcopy(real))[TASK]
    path = entry_path(root, entry)
    old = json.loads(path.read_text())
    old["tasks"][TASK]["runs"].append(dict(old["tasks"][TASK]["runs"][0], seed=5))  # stored entry has more runs
    path.write_text(json.dumps(old))
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, real), "--root", str(root)], capsys)
    assert code == 2 and "refused, the stored entry has more runs" in err and err.count("\n") == 1
    assert path.read_text() == json.dumps(old) and set(before) == set(root.rglob("*.json"))


def test_build_leaves_stale_entries_off_and_says_so(real, tmp_path):
    root = tmp_path / "lb"
    placed = submit(write(tmp_path, real), root)[0]
    data = json.loads(placed.path.read_text())
    data["tasks"][TASK]["version"] = 0  # an entry made before the task changed
    placed.path.write_text(json.dumps(data))
    _, _, board = build(root)
    assert board.sections == {} and len(board.stale) == 1
    assert "Not shown (1)" in (root / "index.html").read_text()


def test_build_stops_on_an_edited_hash_and_validate_on_unpaired_tasks(real, tmp_path, capsys):
    """Age makes an entry stale; an edited hash is tampering and stops the build. A file whose 'results'
    and 'tasks' name different tasks is refused by every reader, in one line."""
    root = tmp_path / "lb"
    placed = submit(write(tmp_path, real), root)[0]
    data = json.loads(placed.path.read_text())
    data["tasks"][TASK]["hash"] = "0" * 64
    placed.path.write_text(json.dumps(data))
    with pytest.raises(GroundingEvalError, match="hash: is not the hash of the stored config"):
        build(root)
    orphan = copy.deepcopy(real)
    orphan["tasks"]["other_task"] = orphan["tasks"].pop(TASK)
    for argv in (["validate"], ["compare", "--baseline", str(GOLDEN)]):
        code, _, err = run_cli([argv[0], write(tmp_path, orphan, "orphan.json"), *argv[1:]], capsys)
        assert code == 2 and err.count("\n") == 1 and "'results' and 'tasks' must name the same tasks" in err


def test_committed_leaderboard_builds_from_its_submissions(tmp_path):
    """The seeded leaderboard in the repo is valid, and its page is what `build` makes of it."""
    root = tmp_path / "lb"
    shutil.copytree(REPO / "leaderboard" / "submissions", root / "submissions")
    _, _, board = build(root)
    assert not board.stale
    backbones = {e.backbone for e in board.sections["probe"][TASK] if not e.sweep}
    assert {"aisfx", "logmel"} <= backbones
    assert (root / "index.html").read_text() == (REPO / "leaderboard" / "index.html").read_text()


def test_fewer_runs_than_the_task_asks_are_refused_and_more_are_accepted(real):
    """num_runs is an accepted override only upwards: a consistent file (config, hash, seeds, runs and
    summary all agreeing) with fewer runs than the task's is refused by name."""
    n = real["tasks"][TASK]["config"]["num_runs"]
    fewer = copy.deepcopy(real)
    t = fewer["tasks"][TASK]
    t["runs"] = t["runs"][: n - 2]
    t["seeds"] = t["seeds"][: n - 2]
    t["config"]["num_runs"] = n - 2
    t["hash"] = canonical_hash(t["config"])
    resummarise(fewer)
    with pytest.raises(GroundingEvalError, match=rf"config.num_runs: {n - 2} runs; the task asks for at least {n}"):
        check_results_for_leaderboard(fewer, "x.json")
    more = copy.deepcopy(real)
    t = more["tasks"][TASK]
    extra = copy.deepcopy(t["runs"][-1])
    extra["seed"] += 1
    t["runs"].append(extra)
    t["seeds"].append(extra["seed"])
    t["config"]["num_runs"] = n + 1
    t["hash"] = canonical_hash(t["config"])
    resummarise(more)
    check_results_for_leaderboard(more, "x.json")
