"""Scorers of generated clips: FAD/KAD behave as distances should, pitch and duration errors are measured
on real signals, and the task schema refuses what it should."""

from __future__ import annotations

import numpy as np
import pytest

from grounding_eval.audio.pitch import cents, estimate_pitch, note_errors
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative.distances import fad_inf, frechet_distance, kad, median_bandwidth, per_class_kad


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 8))
    assert abs(frechet_distance(a, a)) < 1e-8
    b = rng.standard_normal((400, 8))
    near, far = frechet_distance(a, b), frechet_distance(a, b + 2.0)
    m = b.mean(0) - a.mean(0)
    # A shift changes only the mean term: far - near = ||m + 2||² - ||m||² (the covariances are unchanged).
    assert near < 0.5 and abs(far - near - (((m + 2) ** 2).sum() - (m ** 2).sum())) < 1e-6
    # Fewer rows than dimensions (rank-deficient covariances) stays finite and non-negative.
    assert np.isfinite(frechet_distance(a[:5], b[:5])) and frechet_distance(a[:5], b[:5]) >= -1e-9


def test_fad_inf_removes_the_small_sample_bias():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((2000, 6))
    # Same distribution: the true FAD is 0. At N=40 FAD is biased up (~0.45 here); FAD-inf, noisy for one
    # set, is unbiased on average over sets.
    outs = [fad_inf(rng.standard_normal((40, 6)), ref, seed=i) for i in range(30)]
    fad, inf = np.mean([o["fad"] for o in outs]), np.mean([o["fad_inf"] for o in outs])
    assert fad > 0.3 and abs(inf) < fad / 4
    assert outs[0]["n_generated"] == 40 and outs[0]["n_reference"] == 2000


def test_kad_is_unbiased_near_zero_and_positive_for_other_sets():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((30, 4))
    bw = median_bandwidth(ref)
    same = [kad(rng.standard_normal((10, 4)), ref, bw) for _ in range(50)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(50) + 1.0  # mean near 0 (unbiased), not above it
    assert min(same) < 0  # an unbiased estimate dips below 0 when the sets match
    assert kad(rng.standard_normal((10, 4)) + 3, ref, bw) > 100
    assert np.isnan(kad(ref[:1], ref, bw))
    classes = np.repeat([0, 1], 15)
    per = per_class_kad(ref, classes, ref, classes, pairing={0: 1, 1: 0})
    own = per_class_kad(ref, classes, ref, classes)
    assert set(per) == {0, 1} and all(own[c] <= per[c] for c in (0, 1))


def test_pitch_of_real_tones_and_of_silence():
    sr = 16000
    t = np.arange(sr) / sr
    for f in (110.0, 261.63, 440.0, 987.77):
        wave = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 4)) * np.exp(-2 * t)
        assert abs(cents(estimate_pitch(wave, sr), f)) < 5
    octave_up = np.sin(2 * np.pi * 880 * t)
    e = note_errors(octave_up, sr, 440.0, 1.0)
    assert abs(e["pitch_error_cents"] - 1200) < 10 and e["octave_error"] == 1.0
    half = np.concatenate([np.sin(2 * np.pi * 440 * t[: sr // 2]), np.zeros(sr // 2)])
    assert abs(note_errors(half, sr, 440.0, 1.0)["duration_error_s"] - 0.5) < 0.02
    noise = np.random.default_rng(0).standard_normal(sr)
    assert note_errors(noise, sr, 440.0, 1.0)["pitch_error_cents"] is None  # unvoiced: no pitch, counted apart


def test_generative_task_files_load_and_refuse_bad_fields(tmp_path):
    from grounding_eval.kinds.generative.config import GenerativeTaskConfig
    from grounding_eval.tasks.manager import TaskManager

    tm = TaskManager()
    notes = tm.get("notes_generative")
    assert isinstance(notes, GenerativeTaskConfig) and notes.unsafe_code and notes.prompts.notes == ["C4", "E4", "G4", "A4", "C5"]
    assert notes.perception_encoder.name == "aisfx"
    assert tm.get("speech_generative").unavailable is None  # offline on ktuberling-data (tests/test_speech_tier.py)
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: bad_gen\ninclude: _generative_base.yaml\ndataset: {name: notes}\ngenerator:\n  n_sample: 3\n")
    with pytest.raises(GroundingEvalError, match=r"bad.yaml:5: unknown key 'n_sample' in generator; did you mean 'n_samples'"):
        TaskManager([str(tmp_path)]).get("bad_gen")
    bad.write_text("task: bad_gen\nkind: generativ\ndataset: {name: notes}\n")
    with pytest.raises(GroundingEvalError, match="kind must be probe or generative"):
        TaskManager([str(tmp_path)]).get("bad_gen")
    assert tm.get("notes_generative").content_hash() != tm.get("environmental_generative").content_hash()


def test_unsafe_tasks_refuse_without_allow_code_execution_and_run_nothing(monkeypatch, tmp_path):
    from grounding_eval.kinds.generative import executor, runner
    from grounding_eval.tasks.manager import TaskManager

    ran = []
    monkeypatch.setattr(executor.GuardedPythonExecutor, "run", lambda self, text: ran.append(text))
    cfg = TaskManager().get("notes_generative")
    with pytest.raises(GroundingEvalError, match="--allow-code-execution") as err:
        runner.evaluate_generative("template", "notes_generative", cfg)
    assert err.value.exit_code == 2 and "\n" not in str(err.value) and ran == []
    (tmp_path / "needs.yaml").write_text("task: needs_refs\ninclude: notes_generative.yaml\n"
                                         "unavailable: no real recordings of this ship in any package\n")
    with pytest.raises(GroundingEvalError, match="task needs_refs: no real recordings"):
        runner.evaluate_generative("template", "needs_refs", TaskManager([str(tmp_path)]).get("needs_refs"),
                                   allow_code_execution=True)


TINY = """task: tiny_notes_gen
include: notes_generative.yaml
dataset: {name: notes, args: {instruments: [Piano, Flute, Trumpet], notes: [A4, C5], include_recordings: false}}
prompts: {notes: [A4]}
generator: {n_samples: 1}
scoring: {embedder: {name: logmel}, probe_seeds: 1, k: [1], bootstrap_resamples: 200}
controls: [template, shuffled_prompts, silence, split_half]
"""


def test_a_small_notes_run_counts_every_failure_and_scores_failures_as_silence(tmp_path):
    """Replayed generations, one per kind: a good tone, a syntax error, a forbidden import. The valid-audio
    rate is 1/3; the failures-as-silence scores use all 3 prompts; the template baseline runs beside."""
    import json

    (tmp_path / "tiny.yaml").write_text(TINY)
    tone = ("```python\nimport numpy as np\ndef generate():\n    t = np.arange(16000) / 16000\n"
            "    return 0.5 * np.sin(2 * np.pi * 440 * t), 16000\n```")
    rows = [{"prompt_id": "piano_A4", "sample": 0, "text": tone},
            {"prompt_id": "flute_A4", "sample": 0, "text": "```python\ndef generate(:\n```"},
            {"prompt_id": "trumpet_A4", "sample": 0, "text": "```python\nimport os\nos.system('true')\n```"}]
    gens = tmp_path / "gens.jsonl"
    gens.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    from grounding_eval.kinds.generative import command

    out = command.evaluate("replay", "tiny_notes_gen", include_paths=[str(tmp_path)], allow_code_execution=True,
                           load_generations=str(gens), output_path=str(tmp_path / "results"), plots=True,
                           cache_dir=str(tmp_path / "cache" / "embeddings"), show_progress=False)
    written = json.loads(open(out["output_file"]).read())
    command.validate(written, out["output_file"])
    assert written["kind"] == "generative" and open(out["plot_files"][0], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    res = {"results": written["results"]["tiny_notes_gen"]["results"], "task_info": written["tasks"]["tiny_notes_gen"]}
    model = res["results"]["systems"]["replay"]
    counts = model["outcomes"]["counts"]
    assert counts["ok"] == 1 and counts["syntax_error"] == 1 and counts["forbidden_import"] == 1
    assert model["outcomes"]["valid_rate"] == pytest.approx(1 / 3)
    assert model["valid_only"]["n_clips"] == 1 and model["failures_as_silence"]["n_clips"] == 3
    assert model["notes"]["pitch_error_cents"]["mean"] < 5  # the one tone is A4
    template = res["results"]["systems"]["template"]
    assert template["outcomes"]["counts"]["ok"] == 3
    assert set(res["results"]["controls"]) == {"silence", "split_half"}
    assert res["task_info"]["protections"]["note"].endswith("not a security boundary")
    assert [e["kind"] for e in res["task_info"]["executions"]["replay"]] == ["ok", "syntax_error", "forbidden_import"]


def test_cli_refuses_without_the_flag_and_round_trips_generations(tmp_path, capsys):
    """No flag: one line, exit 2, no program run. --generation-only writes the JSONL (no code runs);
    --load-generations scores it elsewhere and prints the table beside the template baseline."""
    import json

    from grounding_eval import cli

    (tmp_path / "tiny.yaml").write_text(TINY)
    base = ["--model", "template", "--task", "tiny_notes_gen", "--include-path", str(tmp_path), "--quiet",
            "--cache-dir", str(tmp_path / "cache" / "embeddings")]
    with pytest.raises(SystemExit) as exit_:
        cli.main(base + ["--output-path", str(tmp_path / "out")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-code-execution" in err and not (tmp_path / "cache" / "embeddings" / "executions").exists()
    gens = tmp_path / "gens.jsonl"
    assert cli.run(base + ["--generation-only", str(gens)]) == 0
    header, *rows = [json.loads(line) for line in gens.read_text().splitlines()]
    assert header["config"]["task"] == "tiny_notes_gen" and [r["prompt_id"] for r in rows] == ["piano_A4", "flute_A4", "trumpet_A4"]
    assert not (tmp_path / "cache" / "embeddings" / "executions").exists()  # generating ran no program
    import io

    from rich.console import Console

    buf = io.StringIO()
    assert cli.run(base + ["--load-generations", str(gens), "--allow-code-execution", "--output-path", str(tmp_path / "out")],
                   Console(file=buf, width=300)) == 0
    out = buf.getvalue()
    assert "valid clips" in out and "failures as silence" in out and "control: split_half" in out and "results written to" in out
    # below the table: every program's fate, and the paired test of matched vs shuffled prompts
    assert "template: 3 programs: ok 3" in out and "template, paired sign-flip test vs shuffled prompts: MRR" in out


def test_validate_checks_generative_results_and_load_refuses_a_broken_one(tmp_path, capsys):
    """`validate` accepts a generative results file and names a broken field; loading it (compare, leaderboard) refuses it."""
    import json
    from pathlib import Path

    from grounding_eval import cli
    from grounding_eval.errors import GroundingEvalError
    from grounding_eval.results import load_results

    # A real results file (the template baseline on notes_generative, as the harness wrote it): the schema is typed now.
    good = json.loads((Path(__file__).parent / "data" / "notes_generative_template.json").read_text())
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(good))
    assert cli.run(["validate", str(path)]) == 0
    path.write_text(json.dumps({**good, "wall_time_seconds": "slow"}))
    with pytest.raises(GroundingEvalError, match="field wall_time_seconds"):
        cli.run(["validate", str(path)])
    with pytest.raises(GroundingEvalError, match="generative results file"):
        load_results(str(path))


def test_a_sign_flip_p_of_zero_is_refused_naming_the_field(tmp_path):
    """A sign-flip p counts the observed pattern, so it is never 0: a file saying 0 (written by the old drawn-p
    rule) is refused by validate, compare and the leaderboard alike, naming the field."""
    import copy
    import json
    from pathlib import Path

    from grounding_eval import cli
    from grounding_eval.errors import GroundingEvalError

    good = json.loads((Path(__file__).parent / "data" / "notes_generative_template.json").read_text())
    bad = copy.deepcopy(good)
    test = bad["results"]["notes_generative"]["results"]["paired_tests"]["template_vs_shuffled_prompts"]["mrr"]
    test["p_sign_flip"] = test["p_value"] = 0.0
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(GroundingEvalError, match=r"template_vs_shuffled_prompts\.mrr\.p_sign_flip"):
        cli.run(["validate", str(path)])
    test["p_sign_flip"] = test["p_value"] = 1e-5
    path.write_text(json.dumps(bad))
    assert cli.run(["validate", str(path)]) == 0
