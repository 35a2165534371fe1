"""Leaderboard entries name fetchable models; layer sweeps file as one entry and draw as a curve; results
become a model card's model-index (parsed back with huggingface_hub's ModelCard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.submit import submit
from cli_helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
TASK = "distro_sounds_audio_probe"


@pytest.fixture
def local_run(tmp_path) -> tuple[str, dict]:
    """The golden run as if made with `--model /home/someone/models/minilm` (a local folder, no hub revision)."""
    res = json.loads(GOLDEN.read_text())
    res["model"]["name"] = "/home/someone/models/minilm"
    res["model"]["identity"]["source"] = "local-dir"
    res["model"]["identity"]["revision"] = None
    p = tmp_path / "local.json"
    p.write_text(json.dumps(res))
    return str(p), res


def test_a_run_named_after_a_local_folder_is_refused_in_one_line(local_run, tmp_path, capsys):
    path, _ = local_run
    code, _, err = run_cli(["leaderboard", "submit", path, "--root", str(tmp_path / "lb")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "field model.name: '/home/someone/models/minilm' is a folder" in err and "--public-name" in err
    assert not (tmp_path / "lb").exists()


def test_a_local_run_files_under_its_public_name_with_the_matching_weights_hash(local_run, tmp_path, capsys):
    path, res = local_run
    sha = res["model"]["identity"]["weights_sha256"]
    with pytest.raises(GroundingEvalError, match="is not the run's model.identity.weights_sha256"):
        submit(path, tmp_path / "lb", public_name="sentence-transformers/all-MiniLM-L6-v2", weights_sha256="0" * 64)
    with pytest.raises(GroundingEvalError, match="go together"):
        submit(path, tmp_path / "lb", public_name="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(GroundingEvalError, match="is a local path"):
        submit(path, tmp_path / "lb", public_name="./mine", weights_sha256=sha)
    (placed,) = submit(path, tmp_path / "lb", public_name="sentence-transformers/all-MiniLM-L6-v2", weights_sha256=sha)
    entry = json.loads(placed.path.read_text())
    assert entry["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "/home/someone" not in placed.path.read_text()
    assert placed.path.parent.name == "sentence-transformers__all-MiniLM-L6-v2"
    build(tmp_path / "lb")
    # A hub id is accepted as before (the golden run resolved offline to the PyPI copy: no path in its name).
    assert submit(str(GOLDEN), tmp_path / "lb2")[0].action == "added"


def test_a_layer_sweep_is_one_entry_and_one_curve(tiny_sweep_results, quick_tasks, tmp_path):
    res = json.loads(tiny_sweep_results.read_text())
    keys = sorted(res["results"])
    assert keys == [f"quick_freedesktop@layer{k}" for k in range(3)]
    sha = res["model"]["identity"]["weights_sha256"]
    root = tmp_path / "lb"
    (placed,) = submit(str(tiny_sweep_results), root, include_paths=(quick_tasks,), public_name="example/tiny-bert",
                       weights_sha256=sha)
    assert placed.path.name.endswith(".layers.json") and placed.path.parts[-4] == "quick_freedesktop"
    assert sorted(json.loads(placed.path.read_text())["results"]) == keys
    # The same sweep again: nothing to do (the whole sweep is compared, not one layer).
    assert submit(str(tiny_sweep_results), root, include_paths=(quick_tasks,), public_name="example/tiny-bert",
                  weights_sha256=sha)[0].action == "unchanged"
    page, readme, board = build(root, (quick_tasks,))
    assert [(e.model, e.sweep) for e in board.sections["probe"]["quick_freedesktop"]] == [("example/tiny-bert", True)]
    html = page.read_text()
    assert html.count('<figure class="sweep"') == 1 and 'data-layers="3"' in html
    assert html.count('class="pt probe"') == 3 and html.count('class="pt control"') == 3 and 'class="chance"' in html
    assert "Layer sweep, example/tiny-bert" in readme.read_text()


def test_model_index_parses_as_a_model_card_and_push_fails_offline_in_one_line(tmp_path, capsys):
    from huggingface_hub import ModelCard

    code, out, err = run_cli(["leaderboard", "model-index", str(GOLDEN)], capsys)
    assert code == 0, err
    card = ModelCard(out)
    res = json.loads(GOLDEN.read_text())
    assert card.data.model_name == res["model"]["name"]
    got = {(r.metric_type, r.metric_config): r.metric_value for r in card.data.eval_results}
    probe = res["results"][TASK]["probe"]["accuracy@3"]["mean"]
    ctrl = res["results"][TASK]["controls"]["permuted_text"]["accuracy@3"]["mean"]
    assert got[("accuracy@3", "probe")] == round(100 * probe, 2)
    assert got[("accuracy@3", "permuted_text control")] == round(100 * ctrl, 2)
    assert {r.dataset_config for r in card.data.eval_results} == {"aisfx"}
    n_metrics = sum(len(v) for r in res["results"].values() for v in [r["probe"], *r["controls"].values()])
    assert len(card.data.eval_results) == n_metrics
    code, out, err = run_cli(["leaderboard", "model-index", str(GOLDEN), "--push", "someone/some-model"], capsys)
    assert code == 2 and err.count("\n") == 1 and "hub cannot be reached" in err
    assert ModelCard(out).data.eval_results  # the metadata is still printed, to paste by hand
