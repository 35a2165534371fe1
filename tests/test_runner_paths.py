"""evaluate() paths no shipped task takes: several prompt templates (each concept's vector is the mean over
its templates' vectors) and --limit (at most N clips per concept, the same ones for the same seed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

import grounding_eval.kinds.probe.steps as steps
from grounding_eval.kinds.probe.runner import evaluate

TEMPLATES = ["the sound of {concept}", "{concept} noise heard outside"]


@pytest.fixture
def spy(monkeypatch):
    """What evaluate() hands the protocol: text variants, clip matrix and the concept of each clip."""
    seen: list[dict] = []
    real = steps.run_protocol

    def capture(text_variants, instances, instance_concept, **kw):
        seen.append({"text": {k: v.copy() for k, v in text_variants.items()}, "instances": instances.copy(),
                     "y": np.asarray(instance_concept).copy()})
        return real(text_variants, instances, instance_concept, **kw)

    monkeypatch.setattr(steps, "run_protocol", capture)
    return seen


def _run(tiny_bert, include, task, tmp_path, **kw):
    return evaluate(tiny_bert, task, include_paths=[include], num_runs=1, show_progress=False,
                    cache_dir=str(tmp_path / "cache"), **kw)


def test_several_prompt_templates_are_averaged_per_concept(tiny_bert, quick_tasks, tmp_path, spy):
    from grounding_eval.text.hf import make_hf_encoder

    spec = yaml.safe_load((Path(quick_tasks) / "quick_freedesktop.yaml").read_text())
    spec.update(task="quick_two_templates", prompt_templates=TEMPLATES)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "quick_two_templates.yaml").write_text(yaml.safe_dump(spec))
    res = evaluate(tiny_bert, "quick_two_templates", include_paths=[str(tmp_path / "tasks"), quick_tasks], num_runs=1,
                   show_progress=False, cache_dir=str(tmp_path / "cache"))
    prompts = res["tasks"]["quick_two_templates"]["text_encoder"]["prompts"]
    assert len(prompts) == 2 and len(prompts[0]) == len(res["tasks"]["quick_two_templates"]["concepts"])
    assert all(p.startswith("the sound of ") for p in prompts[0])
    assert all(p.endswith(" noise heard outside") for p in prompts[1])
    enc = make_hf_encoder(tiny_bert)
    per_template = [enc.embed(group) for group in prompts]
    want = (per_template[0] + per_template[1]) / 2
    got = spy[0]["text"]["probe"]
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-6)
    assert not np.allclose(got, per_template[0], atol=1e-3)  # both templates count


def test_limit_caps_clips_per_concept_with_the_seed(tiny_bert, quick_tasks, tmp_path, spy):
    full = _run(tiny_bert, quick_tasks, "quick_freedesktop", tmp_path)
    n_full = Counter(spy[0]["y"].tolist())
    assert max(n_full.values()) > 2  # the cap has something to cut
    limited = _run(tiny_bert, quick_tasks, "quick_freedesktop", tmp_path, limit=2)
    n_lim = Counter(spy[1]["y"].tolist())
    assert n_lim == {c: min(n, 2) for c, n in n_full.items()}
    t = limited["tasks"]["quick_freedesktop"]
    assert t["config"]["max_instances_per_concept"] == 2 and t["dataset"]["n_instances"] == sum(n_lim.values())
    assert full["tasks"]["quick_freedesktop"]["dataset"]["n_instances"] == sum(n_full.values())
    # each kept clip is one of the full run's, and the same seed keeps the same ones
    rows = {tuple(r) for r in spy[0]["instances"].round(5)}
    assert all(tuple(r) in rows for r in spy[1]["instances"].round(5))
    _run(tiny_bert, quick_tasks, "quick_freedesktop", tmp_path, limit=2)
    assert np.array_equal(spy[2]["instances"], spy[1]["instances"])
    for seed in (1, 2, 3):  # other seeds draw other clips (3 seeds: one could repeat the draw by chance)
        _run(tiny_bert, quick_tasks, "quick_freedesktop", tmp_path, limit=2, seed=seed)
    assert any(not np.array_equal(s["instances"], spy[1]["instances"]) for s in spy[3:])
