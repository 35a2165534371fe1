"""The generative golden check (grounding_eval/kinds/generative/golden.py) on copies of the committed golden
(leaderboard/golden/notes_generative_template.json, the template baseline on the notes tier): the golden
passes against itself; every single near-tie flip of the judge's ranking (recomputed consistently: ranks,
means and bootstrap intervals, as the harness would) passes; two clips' worth, a moved control, KAD, FAD,
pitch or valid rate fails (exit 1); another task config is not comparable (exit 2)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grounding_eval.kinds.generative.golden import compare_golden, layouts, main, setup_differences
from grounding_eval.leaderboard.checks import check_results_for_leaderboard
from grounding_eval.leaderboard.submit import LOCAL_PATHS
from grounding_eval.metrics import rank_score
from grounding_eval.stats import mean_interval

GOLDEN = Path(__file__).parent.parent / "leaderboard" / "golden" / "notes_generative_template.json"
TASK = "notes_generative"


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


def _scores(res):
    return res["results"][TASK]["results"]


def verdict(golden, new):
    checks, exact = compare_golden(golden, new)
    return [c for c in checks if not c.ok], exact


def rescore(res, system="template"):
    """Recompute the system's accuracy@K and MRR (mean and bootstrap interval) from its clips' ranks, as the
    harness does (`mean_interval`, the generator seed, the task's resamples and confidence)."""
    t = res["tasks"][TASK]
    sc = t["config"]["scoring"]
    clips = t["executions"][system]
    s = _scores(res)["systems"][system]
    for scored_on, pool in (("failures_as_silence", clips), ("valid_only", [c for c in clips if c["kind"] == "ok"])):
        for metric in ("mrr", *(f"accuracy@{k}" for k in sc["k"])):
            values = [rank_score(metric, c["rank"]) for c in pool]
            s[scored_on][metric].update(mean_interval(values, sc["bootstrap_resamples"], sc["confidence"], t["seed"]))
    return res


def flip(res, wave, position, system="template"):
    """One near-tie flip: the judge swaps the concepts at `position` and `position + 1` in its ranking of one
    waveform (all clips with that sha256), so those clips' ranks swap too."""
    res = copy.deepcopy(res)
    for c in res["tasks"][TASK]["executions"][system]:
        if c.get("sha256") == wave and c["rank"] in (position, position + 1):
            c["rank"] = position + 1 if c["rank"] == position else position
    return rescore(res)


def every_flip(res, system="template"):
    clips = res["tasks"][TASK]["executions"][system]
    last = len(res["tasks"][TASK]["concepts"]) - 1  # positions 1..C-1 have a next concept to swap with
    return sorted({(c["sha256"], p) for c in clips if c["kind"] == "ok" for p in (c["rank"] - 1, c["rank"]) if 1 <= p <= last})


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_the_golden_passes_against_itself_and_is_a_clean_entry(golden, tmp_path, capsys):
    assert main([str(GOLDEN), str(GOLDEN)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal's width
    assert "generative golden check passed:" in out and "(0 moved at all)" in out
    assert not set(LOCAL_PATHS) & set(golden)  # no path of the machine that ran it
    check_results_for_leaderboard(copy.deepcopy(golden), str(GOLDEN))  # the task as it is now (else: bump, --update)


def test_tolerances_come_from_which_clips_share_a_waveform(golden):
    lay = layouts(golden["tasks"][TASK], golden["results"][TASK])
    # the template plays one tone per pitch for all 10 instruments, 2 samples each: a flip touches 2 x 2 clips
    # and moves no mean (what one concept's clips lose, the other's gain)
    assert (lay["systems.template.valid_only"].net, lay["systems.template.valid_only"].touched) == (0, 4)
    assert (lay["controls.silence"].net, lay["controls.silence"].touched) == (0, 20)  # one clip, 10 per concept
    assert (lay["controls.split_half"].net, lay["controls.split_half"].touched) == (1, 1)  # distinct references


def test_every_single_near_tie_flip_passes(golden):
    flips = every_flip(golden)
    assert len(flips) >= 10
    for wave, position in flips:
        new = flip(golden, wave, position)
        assert new["tasks"][TASK]["executions"] != golden["tasks"][TASK]["executions"]
        failed, exact = verdict(golden, new)
        assert failed == [] and exact == [], (wave[:8], position, [(c.field, c.delta, c.tolerance) for c in failed])


def test_two_flips_of_distinct_waveforms_fail(golden):
    waves = sorted({c["sha256"] for c in golden["tasks"][TASK]["executions"]["template"]})
    new = flip(flip(golden, waves[0], 1), waves[1], 1)
    failed, _ = verdict(golden, new)
    assert f"tasks.{TASK}.executions.template: clips whose rank moved" in {c.field for c in failed}


def test_one_clip_moved_alone_fails_on_the_mean(golden):
    new = copy.deepcopy(golden)
    clip = next(c for c in new["tasks"][TASK]["executions"]["template"] if c["rank"] == 2)
    clip["rank"] = 1  # one clip named right: no flip of a shared waveform does this to a mean
    failed, _ = verdict(golden, rescore(new))
    fields = {c.field for c in failed}
    assert f"results.{TASK}.results.systems.template.failures_as_silence.accuracy@1.mean" in fields


def test_accuracy_shifted_by_two_clips_fails_with_exit_1(golden, tmp_path, capsys):
    new = copy.deepcopy(golden)
    stat = _scores(new)["systems"]["template"]["failures_as_silence"]["accuracy@1"]
    stat["mean"] += 2 / stat["n"]
    assert main([write(tmp_path, "new.json", new), str(GOLDEN)]) == 1
    out = "".join(capsys.readouterr().out.split())  # rich wraps long field names
    assert "GENERATIVEGOLDENCHECKFAILED" in out
    assert f"results.{TASK}.results.systems.template.failures_as_silence.accuracy@1.mean" in out


def test_a_shift_within_one_flip_passes_and_beyond_fails(golden):
    # split half: distinct references, so one flip is one clip: 1/n passes, 2/n fails
    for clips, ok in ((1, True), (2, False)):
        new = copy.deepcopy(golden)
        stat = _scores(new)["controls"]["split_half"]["accuracy@1"]
        stat["mean"] += clips / stat["n"]
        failed, _ = verdict(golden, new)
        assert (failed == []) is ok, [c.field for c in failed]


@pytest.mark.parametrize("where,key,by", [
    (("controls", "silence", "mrr", "ci"), 0, 0.25),  # beyond the 20 clips one flip of the silent clip touches
    (("controls", "white_noise", "kad"), "mean", 0.05),  # KAD units; rounding moved it by <= 2e-3 at 1e-4 noise
    (("systems", "template", "valid_only", "fad"), "fad_inf", 0.1),  # of FAD 424: 2.4e-4 relative
    (("systems", "template", "notes", "pitch_error_cents"), "mean", 0.05),  # cents
    (("systems", "template", "notes"), "octave_errors", 2),
    (("systems", "template", "outcomes"), "valid_rate", -0.01),
    (("paired_tests", "template_vs_shuffled_prompts", "kad"), "mean_difference", 1.0),
])
def test_any_other_number_that_moved_fails(golden, where, key, by):
    new = copy.deepcopy(golden)
    node = _scores(new)
    for part in where:
        node = node[part]
    node[key] += by
    failed, _ = verdict(golden, new)
    assert failed and all(".".join(where) in c.field for c in failed), [c.field for c in failed]


def test_a_failed_program_differs_exactly(golden):
    new = copy.deepcopy(golden)
    new["tasks"][TASK]["executions"]["template"][0]["kind"] = "runtime_error"
    _, exact = verdict(golden, new)
    assert exact and exact[0].startswith(f"tasks.{TASK}.executions.template.0.kind")


@pytest.mark.parametrize("change,named", [
    (lambda r: r["tasks"][TASK]["config"]["scoring"].update(probe_seeds=5), "scoring"),
    (lambda r: r["tasks"][TASK]["config"]["generator"].update(n_samples=3), "generator"),
    (lambda r: r["tasks"][TASK].update(version=r["tasks"][TASK]["version"] + 1), "version"),
])
def test_another_task_config_is_not_comparable_exit_2(golden, tmp_path, capsys, change, named):
    other = copy.deepcopy(golden)
    change(other)
    assert any(named in d for d in setup_differences(golden, other))
    assert main([write(tmp_path, "other.json", other), str(GOLDEN)]) == 2
    err = capsys.readouterr().err
    assert "does not measure what" in err and named in err


def test_a_probe_result_is_not_comparable(tmp_path, capsys):
    probe = Path(__file__).parent.parent / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
    assert main([str(probe), str(GOLDEN)]) == 2
    assert "results: tasks ['notes_generative'] (golden) vs ['distro_sounds_audio_probe'] (new)" in capsys.readouterr().err
