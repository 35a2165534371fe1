"""The leaderboard recomputes what it shows from what the file stores (issue 24, case 5).

A probe run's scores are tied to its per-class values (the clip mean is the clip-weighted mean of the
per-class values, the class mean their plain mean, the counts add up to the run's test clips), so editing
run scores and recomputing the summary is caught. A summary's bootstrap interval must hold its mean, carry
the task's confidence level, and is recomputed exactly where the file holds what it was drawn from (unit
"runs": the runs' scores and the task's seed). A generative entry's per-clip intervals are recomputed from
the executions' ranks and the generator seed.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.checks import check_results_for_leaderboard, check_units
from grounding_eval.stats import RunSample, bootstrap_ci, mean_stderr
from cli_helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
TASK = "distro_sounds_audio_probe"
GEN_FILE = REPO / "tests" / "data" / "notes_generative_template.json"
GEN_TASK = "notes_generative"


@pytest.fixture
def real() -> dict:
    return json.loads(GOLDEN.read_text())


def write(tmp_path: Path, data: dict, name: str = "res.json") -> str:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return str(p)


def test_edited_run_scores_with_a_recomputed_summary_are_refused(real, tmp_path, capsys):
    """The issue's attack: one variant's run scores for the main metric scaled up, mean and stderr recomputed
    from them (so the summary matches its runs), the old interval kept: the page would show 32.1 ± 15.8."""
    main_metric = real["results"][TASK]["main_metric"]
    runs = real["tasks"][TASK]["runs"]
    for run in runs:
        run["probe"]["scores"][main_metric] = min(1.0, run["probe"]["scores"][main_metric] * 1.83)
    stat = real["results"][TASK]["probe"][main_metric]
    stat.update(mean_stderr([run["probe"]["scores"][main_metric] for run in runs]))
    assert stat["mean"] > 0.3  # the forged headline
    root = tmp_path / "lb"
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, real), "--root", str(root)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "res.json" in err and f"tasks.{TASK}.runs.0.probe.scores.{main_metric}" in err and "per-class" in err
    assert not root.exists()


def test_edited_run_scores_with_the_interval_dropped_are_refused(real):
    """The same edit with the whole summary replaced by mean_stderr (no interval left to contradict it)."""
    runs = real["tasks"][TASK]["runs"]
    runs[3]["permuted_text"]["scores"]["mrr_class_mean"] += 0.05
    real["results"][TASK]["controls"]["permuted_text"]["mrr_class_mean"] = mean_stderr(
        [run["permuted_text"]["scores"]["mrr_class_mean"] for run in runs])
    with pytest.raises(GroundingEvalError, match=rf"field tasks\.{TASK}\.runs\.3\.permuted_text\.scores\.mrr_class_mean: .*per-class"):
        check_results_for_leaderboard(real, "x.json")


def test_per_class_counts_and_classes_must_be_the_runs(real):
    bad = copy.deepcopy(real)
    bad["tasks"][TASK]["runs"][1]["probe"]["n_test_instances"] += 3
    with pytest.raises(GroundingEvalError, match=rf"tasks\.{TASK}\.runs\.1\.probe\.n_test_instances"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    run = bad["tasks"][TASK]["runs"][2]
    run["procrustes"]["per_class"]["not a test class"] = next(iter(run["procrustes"]["per_class"].values()))
    with pytest.raises(GroundingEvalError, match=rf"tasks\.{TASK}\.runs\.2\.procrustes\.per_class"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    bad["tasks"][TASK]["runs"][0]["probe"]["per_class"] = {}  # dropped to escape the check
    with pytest.raises(GroundingEvalError, match=rf"tasks\.{TASK}\.runs\.0\.probe\.per_class"):
        check_results_for_leaderboard(bad, "x.json")


def test_an_interval_that_does_not_hold_its_mean_is_refused(real):
    """Runs untouched; the interval moved off its mean (or given another level than the task's)."""
    bad = copy.deepcopy(real)
    bad["results"][TASK]["probe"]["accuracy@3"]["ci"] = [0.25, 0.40]
    with pytest.raises(GroundingEvalError, match=rf"field results\.{TASK}\.probe\.accuracy@3\.ci: .*does not hold its mean"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    bad["results"][TASK]["controls"]["procrustes"]["mrr"]["ci_level"] = 0.5
    with pytest.raises(GroundingEvalError, match=rf"field results\.{TASK}\.controls\.procrustes\.mrr\.ci_level"):
        check_results_for_leaderboard(bad, "x.json")
    bad = copy.deepcopy(real)
    bad["results"][TASK]["bootstrap"]["resamples"] = 50
    with pytest.raises(GroundingEvalError, match=rf"field results\.{TASK}\.bootstrap"):
        check_results_for_leaderboard(bad, "x.json")


def _as_unit_runs(real: dict) -> dict:
    """The golden with a runs-only bootstrap, its intervals drawn as the harness draws them (bootstrap_ci on
    the runs' scores, the task's seed). Only check_units is asked (the task hash would name the edit)."""
    out = copy.deepcopy(real)
    t, r = out["tasks"][TASK], out["results"][TASK]
    t["config"]["statistics"]["bootstrap_unit"] = "runs"
    r["bootstrap"]["unit"] = "runs"
    st = t["config"]["statistics"]
    samples = {v: [RunSample(run[v]["scores"], {}, np.zeros(0, int)) for run in t["runs"]]
               for v in ["probe", *r["controls"]]}
    cis = bootstrap_ci(samples, resamples=st["bootstrap_resamples"], confidence=st["confidence"], unit="runs",
                       seed=t["config"]["seed"])
    for v, by_metric in cis.items():
        for m, ci in by_metric.items():
            (r["probe"] if v == "probe" else r["controls"][v])[m]["ci"] = ci
    return out


def test_a_runs_only_interval_is_recomputed_exactly(real):
    honest = _as_unit_runs(real)
    check_units(honest, TASK, "x.json")
    stat = honest["results"][TASK]["probe"]["accuracy@3"]
    lo, hi = stat["ci"]
    stat["ci"] = [lo - 0.02, hi + 0.01]  # wider, still around the mean: not what the runs give
    with pytest.raises(GroundingEvalError, match=rf"field results\.{TASK}\.probe\.accuracy@3\.ci: .*runs give"):
        check_units(honest, TASK, "x.json")


def test_every_committed_entry_and_the_golden_still_pass(real, tmp_path):
    check_results_for_leaderboard(real, str(GOLDEN))
    root = tmp_path / "lb"
    shutil.copytree(REPO / "leaderboard" / "submissions", root / "submissions")
    _, _, board = build(root)
    assert not board.stale and board.sections


def test_a_generative_interval_is_recomputed_from_the_clips(tmp_path, capsys):
    real = json.loads(GEN_FILE.read_text())
    check_results_for_leaderboard(copy.deepcopy(real), str(GEN_FILE))
    system = next(iter(real["results"][GEN_TASK]["results"]["systems"]))
    stat = real["results"][GEN_TASK]["results"]["systems"][system]["failures_as_silence"]["mrr"]
    assert stat["ci"] is not None
    stat["ci"] = [stat["ci"][0] - 0.01, stat["ci"][1]]
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, real, "gen.json"), "--root", str(tmp_path / "lb")],
                           capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"results.{GEN_TASK}.results.systems.{system}.failures_as_silence.mrr.ci" in err


def test_generative_kad_and_fad_are_marked_as_submitted(tmp_path):
    """KAD and FAD cannot be recomputed from the file (no per-concept KAD, no embeddings): an edit is
    accepted, and the page says they are not shown / as submitted rather than showing them as checked."""
    real = json.loads(GEN_FILE.read_text())
    system = next(iter(real["results"][GEN_TASK]["results"]["systems"]))
    real["results"][GEN_TASK]["results"]["systems"][system]["valid_only"]["kad"]["mean"] = 0.123456
    check_results_for_leaderboard(real, "x.json")
    from grounding_eval.leaderboard.submit import submit

    root = tmp_path / "lb"
    submit(write(tmp_path, real, "gen.json"), root)
    build(root)
    page = (root / "index.html").read_text()
    assert "12.3" not in page and "0.123456" not in page
    assert "KAD and FAD" in page and "as submitted" in page
