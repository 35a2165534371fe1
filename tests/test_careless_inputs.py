"""Careless inputs (issue 24): each ends in one line naming the file or flag and what would be valid, before
any work, and a crash or an interruption loses no finished work."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from grounding_eval.errors import GroundingEvalError


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


def _cli(argv, capsys) -> tuple[int, str]:
    from grounding_eval.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    return exc.value.code, err


# -- 1. a truncated model.safetensors ---------------------------------------------------------------

def test_a_truncated_safetensors_file_is_one_line_naming_it(tiny_bert, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    code, err = _cli(["--model", str(folder), "--task", "distro_sounds_audio_probe", "--output-path", "",
                      "--cache-dir", str(tmp_path / "cache"), "--quiet"], capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(weights) in err and "truncated or corrupt" in err and "re-download" in err, err


# -- 2. --output-path naming an existing folder called x.json --------------------------------------

def test_an_output_path_json_that_is_a_folder_is_refused_before_any_work(tmp_path):
    from grounding_eval.results import check_output_path

    folder = tmp_path / "x.json"
    folder.mkdir()
    with pytest.raises(GroundingEvalError) as info:
        check_output_path(str(folder))
    msg = _one_line(info)
    assert str(folder) in msg and "is a folder" in msg


def test_the_probe_run_refuses_a_folder_named_json_before_loading_anything(tmp_path, monkeypatch):
    from grounding_eval.kinds.probe import runner

    (tmp_path / "x.json").mkdir()
    monkeypatch.setattr(runner, "load_tasks", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(GroundingEvalError) as info:
        runner.evaluate("whatever", "distro_sounds_audio_probe", output_path=str(tmp_path / "x.json"),
                        show_progress=False)
    assert "is a folder" in _one_line(info)


def test_the_generative_run_refuses_a_folder_named_json_before_loading_anything(tmp_path, monkeypatch):
    from grounding_eval.kinds.generative import command

    (tmp_path / "x.json").mkdir()
    monkeypatch.setattr(command, "evaluate_generative", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(GroundingEvalError) as info:
        command.evaluate("template", "notes_generative", output_path=str(tmp_path / "x.json"), show_progress=False)
    assert "is a folder" in _one_line(info)


# -- 3. --num-runs far beyond any task's ----------------------------------------------------------

def test_a_huge_num_runs_needs_allow_many_runs(tmp_path, capsys, monkeypatch):
    from grounding_eval.kinds.probe import command

    monkeypatch.setattr(command, "evaluate", lambda *a, **k: pytest.fail("work started"))
    code, err = _cli(["--model", "m", "--task", "distro_sounds_audio_probe", "--num-runs", "100000"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--num-runs 100000" in err and "--allow-many-runs" in err and "100" in err, err


def test_allow_many_runs_lets_a_huge_num_runs_through(monkeypatch):
    from grounding_eval.cli.evaluate import build_parser
    from grounding_eval.kinds.probe import command

    seen = {}
    monkeypatch.setattr(command, "evaluate", lambda *a, **k: seen.update(k) or (_ for _ in ()).throw(KeyboardInterrupt))
    args = build_parser().parse_args(["--model", "m", "--task", "t", "--num-runs", "500", "--allow-many-runs"])
    with pytest.raises(KeyboardInterrupt):
        command.run(args, console=None)
    assert seen["num_runs"] == 500


# -- 5. results readers bounded -------------------------------------------------------------------

def test_validate_dev_zero_is_one_line():
    # In a child with a 3 GB address-space limit: before the fix it read /dev/zero until a MemoryError
    # (without the limit, until the machine ran out of memory).
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    out = subprocess.run([sys.executable, "-c", "from grounding_eval.cli import main; main()", "validate", "/dev/zero"], capture_output=True,
                         text=True, timeout=120, preexec_fn=limit)
    err = out.stderr.strip()
    assert out.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "/dev/zero" in err and "not a regular file" in err, err


def test_a_folder_and_a_deeply_nested_file_are_one_line(tmp_path):
    from grounding_eval import results

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(GroundingEvalError) as info:
        results.load_results(str(deep))
    assert "nested too deeply" in _one_line(info)
    with pytest.raises(GroundingEvalError) as info:
        results.load_results(str(tmp_path))
    assert "is a folder" in _one_line(info)


def test_a_results_file_beyond_the_size_bound_is_refused_unread(tmp_path, monkeypatch):
    from grounding_eval import results

    big = tmp_path / "big.json"
    big.write_text(json.dumps({"pad": "x" * 2000}))
    monkeypatch.setattr(results, "MAX_RESULTS_BYTES", 1000)
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("read a file beyond the bound"))
    with pytest.raises(GroundingEvalError) as info:
        results.load_results(str(big))
    msg = _one_line(info)
    assert str(big) in msg and "larger than" in msg


def test_the_size_bound_leaves_room_for_every_shipped_results_file():
    from grounding_eval import results

    root = Path(__file__).parent.parent
    largest = max(p.stat().st_size for d in ("leaderboard", "tests/data") for p in (root / d).rglob("*.json"))
    assert largest * 10 < results.MAX_RESULTS_BYTES


# -- 6. smaller ones ------------------------------------------------------------------------------

def test_a_blank_concept_under_label_pooling_says_blank_not_cut_off(tiny_bert):
    from grounding_eval.embedding import concept_span
    from grounding_eval.text.hf import make_hf_encoder

    enc = make_hf_encoder(tiny_bert, pooling="label", device="cpu")
    template = "the sound of {concept}"
    prompts = [template.format(concept=c) for c in ("dog", " ")]
    with pytest.raises(GroundingEvalError) as info:
        enc.embed(prompts, spans=[concept_span(template, c) for c in ("dog", " ")])
    msg = _one_line(info)
    assert "cut off" not in msg and "blank" in msg and "' '" in msg and "pooling=mean" in msg, msg


def test_a_cut_off_concept_still_says_max_length(tiny_bert):
    from grounding_eval.embedding import concept_span
    from grounding_eval.text.hf import make_hf_encoder

    enc = make_hf_encoder(tiny_bert, pooling="label", device="cpu", max_length=4)
    template = "the sound of a very long {concept}"
    with pytest.raises(GroundingEvalError, match="max_length"):
        enc.embed([template.format(concept="dog")], spans=[concept_span(template, "dog")])


@pytest.mark.parametrize("code,advice,not_advice", [
    (errno.EACCES, "permission", "free space"),
    (errno.EROFS, "read-only", "free space"),
    (errno.ENOSPC, "free space", "read-only"),
])
def test_a_cache_write_failure_gives_the_advice_that_fits(tmp_path, monkeypatch, code, advice, not_advice):
    from grounding_eval import cache as cache_mod

    def failing(path, write):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(cache_mod, "atomic_write", failing)
    ns = cache_mod.EmbeddingCache(tmp_path).namespace("k" * 64, {})
    with pytest.raises(GroundingEvalError) as info:
        ns.write(["a"], np.zeros((1, 2)))
    msg = _one_line(info)
    assert advice in msg and not_advice not in msg and "--cache-dir" in msg


def test_generative_cache_dir_holds_everything_the_run_caches(tmp_path):
    """--cache-dir means the same folder for both kinds (embeddings go straight in it); the generative kind's
    generations (and executions) go inside it, not beside it in its parent folder."""
    from grounding_eval.kinds.generative import command

    work = tmp_path / "work"
    work.mkdir()
    (work / "t.yaml").write_text("task: tiny_gen_cache\ninclude: notes_generative.yaml\n"
                                 "dataset: {name: notes, args: {instruments: [Piano, Flute, Trumpet], notes: [A4], include_recordings: false}}\n"
                                 "prompts: {notes: [A4]}\n")
    cache = tmp_path / "my-cache"
    command.evaluate("template", "tiny_gen_cache", include_paths=[str(work)], generation_only=str(work / "g.jsonl"),
                     cache_dir=str(cache), show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-cache", "work"]
    assert any((cache / "generations").rglob("*")), sorted(cache.rglob("*"))


def test_dataset_checks_go_to_the_runs_cache_dir(tiny_bert, quick_tasks, tmp_path):
    from grounding_eval.kinds.probe.runner import evaluate

    cache = tmp_path / "cache"
    evaluate(tiny_bert, "quick_freedesktop", include_paths=[quick_tasks], num_runs=1, show_progress=False,
             cache_dir=str(cache))
    assert list((cache / "dataset-checks").glob("*.json")), sorted(p.relative_to(cache) for p in cache.rglob("*.json"))


# -- 4. an interrupted probe run resumes its finished runs ----------------------------------------

def _numbers(res: dict) -> dict:
    """A results dict without what may differ between two runs of the same numbers (times, date, cache counts)."""
    out = json.loads(json.dumps(res))
    for key in ("date", "wall_time_seconds", "output_file", "environment"):
        out.pop(key, None)
    for t in out["tasks"].values():
        t.pop("timing_seconds", None)
        t.pop("cache", None)
    return out


def test_an_interrupted_probe_run_resumes_its_finished_runs_with_the_same_numbers(tiny_bert, quick_tasks, tmp_path,
                                                                                  monkeypatch):
    from grounding_eval.kinds.probe import protocol
    from grounding_eval.kinds.probe.runner import evaluate

    kw = dict(include_paths=[quick_tasks], num_runs=3, controls=["permuted_text", "procrustes", "random_init"],
              show_progress=False)
    whole = evaluate(tiny_bert, "quick_freedesktop", cache_dir=str(tmp_path / "fresh"), **kw)

    real_split = protocol.class_split
    splits: list[int] = []

    def interrupted_at_run_2(n, fraction, seed):
        splits.append(seed)
        if seed == 2:
            raise KeyboardInterrupt  # Ctrl-C while the third run trains
        return real_split(n, fraction, seed)

    cache = tmp_path / "cache"
    monkeypatch.setattr(protocol, "class_split", interrupted_at_run_2)
    with pytest.raises(KeyboardInterrupt):
        evaluate(tiny_bert, "quick_freedesktop", cache_dir=str(cache), **kw)
    assert splits == [0, 1, 2]

    splits.clear()
    monkeypatch.setattr(protocol, "class_split", lambda n, fraction, seed: splits.append(seed) or real_split(n, fraction, seed))
    resumed = evaluate(tiny_bert, "quick_freedesktop", cache_dir=str(cache), **kw)
    assert splits == [2]  # runs 0 and 1 were finished: reused, not trained again
    assert _numbers(resumed) == _numbers(whole)

    # Anything that changes a run's numbers makes a new key: another seed trains every run anew.
    splits.clear()
    evaluate(tiny_bert, "quick_freedesktop", cache_dir=str(cache), **{**kw, "num_runs": 1}, seed=5)
    assert splits == [5]
