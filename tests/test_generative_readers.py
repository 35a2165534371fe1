"""Generative results (kind: generative) read like probe results: typed, compared clip by clip, filed on the
leaderboard with the same checks, and shown as one table per generative task.

The real file is the template baseline on the full notes tier as the harness wrote it
(tests/data/notes_generative_template.json). "Worse by construction" is the same file with every other
program turned into a failure (its clip then scores as the silent clip: the worst rank here), with the
summaries recomputed the way the harness computes them, so it passes every consistency check.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grounding_eval import cli
from grounding_eval.kinds.generative.outcomes import count_outcomes
from grounding_eval.kinds.generative.results import GenerativeResults
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.migrations import local_paths, withhold_local_paths
from grounding_eval.leaderboard.submit import split_by_task, submit
from grounding_eval.results import load, parse_any
from cli_helpers import run_cli

FILE = Path(__file__).resolve().parent / "data" / "notes_generative_template.json"
TASK = "notes_generative"


@pytest.fixture
def real() -> dict:
    return json.loads(FILE.read_text())


def write(tmp_path: Path, data: dict, name: str) -> str:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return str(p)


def degraded(data: dict, every: int = 2) -> dict:
    """Every `every`-th program of the main system fails at run time; summaries recomputed from the clips."""
    out = copy.deepcopy(data)
    r, t = out["results"][TASK], out["tasks"][TASK]
    system = next(iter(r["results"]["systems"]))
    clips = t["executions"][system]
    worst = len(t["concepts"])
    for i, clip in enumerate(clips):
        if i % every == 0:
            clip.update(kind="runtime_error", rank=worst, detail="crafted failure")
    return resummarised(out)


def resummarised(out: dict) -> dict:
    """The main system's outcomes and per-clip scores recomputed from its executions, as the harness does."""
    r, t = out["results"][TASK], out["tasks"][TASK]
    system = next(iter(r["results"]["systems"]))
    clips = t["executions"][system]
    s = r["results"]["systems"][system]
    s["outcomes"] = count_outcomes([c["kind"] for c in clips])
    for scored_on, ranks in (("failures_as_silence", [c["rank"] for c in clips]),
                             ("valid_only", [c["rank"] for c in clips if c["kind"] == "ok"])):
        scores = s[scored_on]
        scores["n_clips"] = len(ranks)
        for metric in r["chance"]:
            per = [1.0 / k if metric == "mrr" else float(k <= int(metric.split("@")[1])) for k in ranks]
            scores[metric] = {"mean": sum(per) / len(per), "ci": None, "n": len(per)}
    return out


def test_the_file_is_typed_and_its_schema_is_published(real, capsys):
    res = parse_any(real, "x")
    assert isinstance(res, GenerativeResults) and res.kind == "generative"
    r = res.results[TASK]
    assert r.main_system == "template" and r.main().n == 100 and r.main().mean == pytest.approx(0.1)
    assert len(res.tasks[TASK].executions["template"]) == 100 and all(c.rank for c in res.tasks[TASK].executions["template"])
    assert cli.run(["schema", "generative-results"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "executions" in schema["$defs"]["GenerativeTaskRecord"]["properties"]


def test_compare_flags_a_worse_generative_run_paired_by_clip(real, tmp_path, capsys):
    base, worse = write(tmp_path, real, "template.json"), write(tmp_path, degraded(real), "worse.json")
    code, out, _ = run_cli(["compare", base, "--baseline", base], capsys)
    assert code == 0 and "valid audio" in out and "accuracy@1 (failures as silence)" in out
    code, out, _ = run_cli(["compare", worse, "--baseline", base], capsys)
    assert code == 1, out
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") > 8}
    # half the programs failed: the valid-audio rate halves, with the files' Wilson intervals shown
    assert "DROP" in rows["valid audio"] and "-50.00" in rows["valid audio"] and "[96.3, 100.0]" in rows["valid audio"]
    assert "DROP" not in rows["accuracy@1 (clips valid in both)"]  # the clips that still run are the same clips
    assert "REGRESSION" in out and "paired t" in out
    # the other way round it is a rise: ok one-sided, a failure with --two-sided
    assert run_cli(["compare", base, "--baseline", worse], capsys)[0] == 0
    assert run_cli(["compare", base, "--baseline", worse, "--two-sided"], capsys)[0] == 1
    code, out, _ = run_cli(["compare", worse, "--baseline", base, "--metrics", "mrr"], capsys)
    assert code == 1 and "mrr (failures as silence)" in out


def test_compare_pairs_only_the_clips_both_files_hold(real, tmp_path, capsys):
    one = copy.deepcopy(real)  # one sample per prompt instead of two
    t = one["tasks"][TASK]
    t["executions"]["template"] = [c for c in t["executions"]["template"] if c["sample"] == 0]
    t["n_samples"] = t["config"]["generator"]["n_samples"] = 1
    code, out, _ = run_cli(["compare", write(tmp_path, resummarised(one), "one.json"), "--baseline",
                            write(tmp_path, real, "two.json")], capsys)
    assert code == 0 and "50 (prompt, sample) clips in both files (100 in the baseline, 50 in the new)" in " ".join(out.split())
    code, _, err = run_cli(["compare", str(FILE), "--baseline", str(FILE), "--metrics", "kad"], capsys)
    assert code == 2 and "'kad' is not a per-clip score; valid: mrr, accuracy@K" in err


def test_compare_refuses_a_tampered_or_mismatched_generative_file(real, tmp_path, capsys):
    base = write(tmp_path, real, "template.json")
    tampered = copy.deepcopy(real)
    tampered["results"][TASK]["results"]["systems"]["template"]["failures_as_silence"]["accuracy@1"]["mean"] = 0.9
    code, _, err = run_cli(["compare", write(tmp_path, tampered, "t.json"), "--baseline", base], capsys)
    assert code == 2 and err.count("\n") == 1 and "failures_as_silence.accuracy@1" in err and "does not match its 100 clips" in err
    probe = str(Path(__file__).resolve().parent.parent / "leaderboard" / "golden" / "distro_sounds_audio_probe.json")
    code, _, err = run_cli(["compare", base, "--baseline", probe], capsys)
    assert code == 2 and "a probe results file and the new one a generative one" in err
    other = copy.deepcopy(real)
    other["tasks"][TASK]["embedder"]["identity"]["checkpoint_sha256"] = "0" * 64
    code, out, err = run_cli(["compare", write(tmp_path, other, "o.json"), "--baseline", base], capsys)
    assert code == 2 and "embedder aisfx (baseline) vs aisfx (new) at identity.checkpoint_sha256" in out + err


def test_leaderboard_files_builds_and_refuses_tampered_generative_entries(real, tmp_path, capsys):
    root = tmp_path / "lb"
    (placed,) = submit(write(tmp_path, real, "template.json"), root)
    assert placed.action == "added" and placed.path == (root / "submissions" / TASK / "aisfx" / "template" / "template.json").resolve()
    # the entry is the file as the harness wrote it, less the paths it was written to on the submitter's machine,
    # and with the paths it read from withheld (the recordings' cache folder, the soundfont: <local>/<last part>)
    assert json.loads(placed.path.read_text()) == withhold_local_paths({k: v for k, v in real.items() if k != "output_file"})
    assert local_paths(json.loads(placed.path.read_text())) == [] and local_paths(real) != []
    with_plots = {**real, "plot_files": ["/home/someone/results/x_spectrograms.png"]}
    (entry,) = split_by_task(with_plots).values()
    assert "plot_files" not in entry and "output_file" not in entry
    assert submit(write(tmp_path, real, "again.json"), root)[0].action == "unchanged"
    before = {p: p.read_bytes() for p in root.rglob("*.json")}
    tampers = {
        "outcomes": lambda d: d["results"][TASK]["results"]["systems"]["template"]["outcomes"].update(valid_rate=0.5),
        "executions.template.3.rank": lambda d: d["tasks"][TASK]["executions"]["template"][3].update(rank=None),
        "failures_as_silence.accuracy@1": lambda d: d["tasks"][TASK]["executions"]["template"][3].update(rank=1),
        "tasks.notes_generative.hash": lambda d: d["tasks"][TASK]["config"].update(max_references_per_concept=2),
        "model.identity": lambda d: d["model"]["identity"].update(generator="hf"),
        "chance.mrr": lambda d: d["results"][TASK]["chance"].update(mrr=0.5),
    }
    for field, tamper in tampers.items():
        bad = copy.deepcopy(real)
        tamper(bad)
        code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, bad, "bad.json"), "--root", str(root)], capsys)
        assert code == 2 and err.count("\n") == 1 and field in err, (field, err)
    assert {p: p.read_bytes() for p in root.rglob("*.json")} == before  # nothing written
    # a worse run of the same seed and sample count is not "better" and not later: refused unless forced
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, degraded(real), "w.json"), "--root", str(root)], capsys)
    assert code == 2 and "refused, the stored entry is as recent" in err
    page, readme, board = build(root)
    assert {kind: list(tasks) for kind, tasks in board.sections.items()} == {"generative": [TASK]}
    md = readme.read_text()
    assert "## notes\\_generative (generative)" in md
    row = next(line for line in md.splitlines() if line.startswith("| template |"))
    # main metric with failures as silence, over valid clips, valid-audio rate, template baseline, shuffled, silence, ...
    assert row.startswith("| template | template | aisfx | 10.0 [5.0, 16.0] | 10.0 [5.0, 16.0] | 100.0 [96.3, 100.0] | 10.0 [5.0, 16.0] |")
    assert "| 59.0 [41.0, 74.4] |" in row  # split half: the ceiling at this N
    html = page.read_text()
    assert '<table class="board generative" id="table-notes_generative">' in html and "valid audio %" in html
    assert "<b>accuracy@1</b> in %" in html and "template baseline" in html and "white noise" in html and "50 × 2" in html


def test_a_probe_and_a_generative_entry_share_one_page(real, tmp_path):
    root = tmp_path / "lb"
    golden = Path(__file__).resolve().parent.parent / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
    submit(str(golden), root)
    submit(write(tmp_path, real, "template.json"), root)
    page, readme, board = build(root)
    assert {kind: list(tasks) for kind, tasks in board.sections.items()} == {"probe": ["distro_sounds_audio_probe"], "generative": [TASK]}
    html = page.read_text()
    tasks_part, _, profile = html.partition('<section class="profile"')
    assert tasks_part.count('<section class="task') == 2 and tasks_part.count("<tbody>") == 2
    # two kinds on one board: the cross-kind profile follows the task sections (its model table and rho table)
    assert profile.count("<tbody>") == 2 and "too few models" in profile
    res = load(str(golden))
    assert res.kind == "probe" and res.results["distro_sounds_audio_probe"].main().n == 5


def test_model_card_metadata_of_a_generative_file(real):
    from grounding_eval.leaderboard.model_index import model_index

    (block,) = model_index(real)["model-index"][0]["results"]
    got = {(m["config"], m["type"]): m["value"] for m in block["metrics"]}
    assert block["task"]["type"] == "text-generation" and block["dataset"]["config"] == "aisfx"
    assert got[("failures as silence", "accuracy@1")] == 10.0 and got[("valid clips", "valid_audio_rate")] == 100.0
    assert got[("split_half control", "accuracy@1")] == 58.97  # the ceiling: references against references


def test_a_run_whose_programs_had_no_sandbox_says_so_on_the_page(real, tmp_path):
    """`sandbox: guard-only` (no bubblewrap; the audit hook alone is not a boundary) is recorded in the file's
    protections and marked on its row, page and README; a bubblewrap run's row carries no mark."""
    root = tmp_path / "lb"
    unboxed = copy.deepcopy(real)
    unboxed["tasks"][TASK]["protections"]["sandbox"] = "guard-only"
    submit(write(tmp_path, unboxed, "guard_only.json"), root)
    page, readme, _ = build(root)
    assert page.read_text().count("programs ran guard-only: no sandbox") == 1
    assert "(programs ran guard-only: no sandbox)" in readme.read_text()
    assert real["tasks"][TASK]["protections"]["sandbox"] == "bubblewrap"
    submit(write(tmp_path, real, "boxed.json"), tmp_path / "lb2")
    page, readme, _ = build(tmp_path / "lb2")
    assert "no sandbox" not in page.read_text() and "no sandbox" not in readme.read_text()
