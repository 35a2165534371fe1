"""The golden check (grounding_eval/kinds/probe/golden.py) on perturbed copies of the committed golden result: one
near-tie flip of one clip (or one one-clip class) in one run passes; anything more, in the probe or in any
control or baseline, fails; a different task or dataset is refused. The copies are perturbed consistently
(a flipped clip moves its class's score, the run's scores, the pooled per-class score, the summary and
the paired tests together), as a real run would."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from grounding_eval.kinds.probe.golden import compare_golden, flip_size, main, run_tolerance, setup_differences
from grounding_eval.kinds.probe.protocol import CLASS_MEAN, mean_stderr
from grounding_eval.stats import paired_tests

GOLDEN = Path(__file__).parent.parent / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


def _task(res):
    return next(iter(res["results"]))


def refresh(res):
    """Recompute every derived number from the runs' per-class scores (as the harness would have)."""
    task = _task(res)
    t, r = res["tasks"][task], res["results"][task]
    summary = {"probe": r["probe"], **r["controls"]}
    for variant, stats in summary.items():
        for run in t["runs"]:
            rec = run[variant]
            n = sum(v["n_instances"] for v in rec["per_class"].values())
            for metric in [m for m in rec["scores"] if not m.endswith(CLASS_MEAN)]:
                vals = [(v["n_instances"], v[metric]) for v in rec["per_class"].values()]
                rec["scores"][metric] = sum(k * v for k, v in vals) / n
                rec["scores"][metric + CLASS_MEAN] = float(np.mean([v for _, v in vals]))
        for metric, stat in stats.items():
            new = mean_stderr([run[variant]["scores"][metric] for run in t["runs"]])
            shift = new["mean"] - stat["mean"]
            stat.update(mean=new["mean"], stderr=new["stderr"])
            if "ci" in stat:  # the bootstrap's percentiles move with the mean
                stat["ci"] = [stat["ci"][0] + shift, stat["ci"][1] + shift]
    for control in r["paired_tests"]:
        for metric in r["paired_tests"][control]:
            r["paired_tests"][control][metric] = paired_tests(
                [run["probe"]["scores"][metric] for run in t["runs"]],
                [run[control]["scores"][metric] for run in t["runs"]], r["paired_tests"][control][metric]["method"])
    return res


def flip(res, variant, metric, run=0, clips=1, concept=None, direction=None):
    """`clips` clips of one test class of `run` change their `metric` value by one near-tie flip each
    (up or down as `direction` says, else whichever stays in [0, 1]); by default in the run's largest class
    where that is possible."""
    res = copy.deepcopy(res)
    t = res["tasks"][_task(res)]
    per_class = t["runs"][run][variant]["per_class"]

    def sign_for(c):
        step = clips * flip_size(metric) / per_class[c]["n_instances"]
        signs = [d for d in ((direction,) if direction else (1.0, -1.0)) if 0.0 <= per_class[c][metric] + d * step <= 1.0]
        return signs[0] if signs else None

    if concept is None:
        concept = next(c for c in sorted(per_class, key=lambda c: -per_class[c]["n_instances"]) if sign_for(c))
    sign = sign_for(concept)
    per_class[concept][metric] += sign * clips * flip_size(metric) / per_class[concept]["n_instances"]
    pooled = t["per_class"][variant][concept]
    pooled[metric] += sign * clips * flip_size(metric) / pooled["n_instances"]
    return refresh(res)


def concept_of(res, run, variant="probe"):
    """The class `flip` picks by default: the run's test class with the most clips."""
    per_class = res["tasks"][_task(res)]["runs"][run][variant]["per_class"]
    return max(per_class, key=lambda c: per_class[c]["n_instances"])


def verdict(golden, new):
    checks, exact = compare_golden(golden, new)
    return [c for c in checks if not c.ok], exact


def test_identical_result_passes_and_tolerances_come_from_the_split_sizes(golden):
    failed, exact = verdict(golden, copy.deepcopy(golden))
    assert failed == [] and exact == []
    rec = golden["tasks"][_task(golden)]["runs"][0]["probe"]
    n = rec["n_test_instances"]
    counts = [v["n_instances"] for v in rec["per_class"].values()]
    assert run_tolerance(rec, "accuracy@3") == pytest.approx(1 / n)
    assert run_tolerance(rec, "mrr") == pytest.approx(0.5 / n)  # rank 1 <-> 2
    assert run_tolerance(rec, "accuracy@3_class_mean") == pytest.approx(1 / (len(counts) * min(counts)))


@pytest.mark.parametrize("variant,metric", [("probe", "accuracy@3"), ("permuted_text", "accuracy@1"),
                                            ("procrustes", "mrr"), ("probe", "accuracy@5")])
def test_one_near_tie_flip_of_one_clip_passes(golden, variant, metric):
    failed, exact = verdict(golden, flip(golden, variant, metric, run=2))
    assert failed == [] and exact == [], [c.field for c in failed]


def test_one_flip_in_the_smallest_class_passes_though_the_class_mean_moves_most(golden):
    runs = golden["tasks"][_task(golden)]["runs"]
    smallest = lambda r: min(v["n_instances"] for v in r["probe"]["per_class"].values())  # noqa: E731
    run = min(range(len(runs)), key=lambda i: smallest(runs[i]))
    per_class = runs[run]["probe"]["per_class"]
    concept = min(per_class, key=lambda c: per_class[c]["n_instances"])
    new = flip(golden, "probe", "accuracy@3", run=run, concept=concept)
    moved = new["tasks"][_task(golden)]["runs"][run]["probe"]["scores"]["accuracy@3_class_mean"] - \
        runs[run]["probe"]["scores"]["accuracy@3_class_mean"]
    assert abs(moved) == pytest.approx(1 / (len(per_class) * per_class[concept]["n_instances"]))
    failed, exact = verdict(golden, new)
    assert failed == [] and exact == []


def test_two_clips_in_one_run_fail(golden):
    failed, _ = verdict(golden, flip(golden, "probe", "accuracy@3", run=1, clips=2))
    fields = {c.field for c in failed}
    task = _task(golden)
    assert f"tasks.{task}.runs.1.probe.scores.accuracy@3" in fields
    assert f"tasks.{task}.runs.1.probe.per_class.{concept_of(golden, 1)}.accuracy@3" in fields


def test_one_flip_in_each_of_two_runs_fails_on_the_summary(golden):
    new = flip(flip(golden, "probe", "accuracy@3", run=0), "probe", "accuracy@3", run=3)
    failed, _ = verdict(golden, new)
    assert f"results.{_task(golden)}.probe.accuracy@3.mean" in {c.field for c in failed}


@pytest.mark.parametrize("variant", ["permuted_text", "procrustes"])
def test_a_real_change_of_a_control_or_baseline_fails(golden, variant):
    new = golden
    for run in range(len(golden["tasks"][_task(golden)]["runs"])):  # two clips one rank better in every run
        new = flip(new, variant, "mrr", run=run, clips=2, direction=1.0)
    failed, _ = verdict(golden, new)
    part = f"controls.{variant}"
    fields = {c.field for c in failed}
    assert f"results.{_task(golden)}.{part}.mrr.mean" in fields
    assert any(f.startswith(f"results.{_task(golden)}.paired_tests.{variant}.mrr") for f in fields)


def test_an_interval_or_paired_p_value_that_moved_alone_fails(golden):
    task = _task(golden)
    wide = copy.deepcopy(golden)
    wide["results"][task]["controls"]["permuted_text"]["mrr"]["ci"][1] += 0.05
    failed, _ = verdict(golden, wide)
    assert [c.field for c in failed] == [f"results.{task}.controls.permuted_text.mrr.ci.high"]
    p = copy.deepcopy(golden)
    p["results"][task]["paired_tests"]["permuted_text"]["accuracy@3"]["p_t_test"] += 0.2
    failed, _ = verdict(golden, p)
    assert [c.field for c in failed] == [f"results.{task}.paired_tests.permuted_text.accuracy@3.p_t_test"]


def test_other_splits_or_a_changed_task_are_named(golden, tmp_path, capsys):
    task = _task(golden)
    other = copy.deepcopy(golden)
    other["tasks"][task]["runs"][1]["test"] = other["tasks"][task]["runs"][1]["test"][::-1]
    _, exact = verdict(golden, other)
    assert exact and exact[0].startswith(f"tasks.{task}.runs.1.test")
    changed = copy.deepcopy(golden)
    changed["tasks"][task]["config"]["probe"]["epochs"] += 1
    assert any("config.probe.epochs" in d for d in setup_differences(golden, changed))
    gpath, npath = tmp_path / "golden.json", tmp_path / "new.json"
    gpath.write_text(json.dumps(golden))
    npath.write_text(json.dumps(changed))
    assert main([str(npath), str(gpath)]) == 2
    assert "config.probe.epochs" in capsys.readouterr().err


def test_main_exit_codes_and_the_moved_field_is_printed(golden, tmp_path, capsys):
    gpath, ok, bad = tmp_path / "g.json", tmp_path / "ok.json", tmp_path / "bad.json"
    gpath.write_text(json.dumps(golden))
    ok.write_text(json.dumps(flip(golden, "probe", "accuracy@3", run=0)))
    bad.write_text(json.dumps(flip(golden, "permuted_text", "mrr", run=0, clips=4)))
    assert main([str(ok), str(gpath)]) == 0
    assert "golden check passed" in capsys.readouterr().out
    assert main([str(bad), str(gpath)]) == 1
    out = capsys.readouterr().out
    assert "GOLDEN CHECK FAILED" in out and "runs.0.permuted_text.scores.mrr" in out
