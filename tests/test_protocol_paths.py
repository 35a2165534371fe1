"""Protocol options that no shipped task runs, each tested so that it fails when the option is broken:
early stopping on held-out TRAINING classes, z-scoring with training statistics only, the temperature in
the logits (fixed and learned), minibatches with in-batch negatives, the sgd/adamw optimisers, and the
bootstrap's unit and confidence level."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import grounding_eval.heads.contrastive as contrastive
from grounding_eval import metrics
from grounding_eval.heads.contrastive import fit_probe, prepare_rows
from grounding_eval.kinds.probe.protocol import Metric, class_split, run_protocol
from grounding_eval.stats import RunSample, bootstrap_ci

N = 40  # concepts


def cfg(**kw):
    base = dict(projection_dim=16, temperature=0.1, learn_temperature=False, optimizer="adam", learning_rate=3e-3,
                weight_decay=0.0, epochs=80, batch_size=None, val_fraction=0.0, patience=20, standardize=True,
                negatives="all_train", fit_on="instances", chunk_size=None)
    return SimpleNamespace(**{**base, **kw})


def planted(noise=0.3, per=4, seed=1):
    """Clips = a fixed random map of their concept's text, plus noise (see tests/test_protocol.py)."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(N, 8))
    w = rng.normal(size=(8, 24)) / 4
    y = np.repeat(np.arange(N), per)
    return text, text[y] @ w + noise * rng.normal(size=(len(y), 24)), y


def acc3(fit, y):
    return metrics.accuracy_at_k(fit.similarity(), y, [3])["accuracy@3"]


def with_test_classes_changed(text, clips, y, test):
    """Another world in which only the TEST classes' text and clips differ (wildly: other scale and offset)."""
    rng = np.random.default_rng(99)
    text2, clips2 = text.copy(), clips.copy()
    text2[test] = 50 * rng.normal(size=text2[test].shape) + 7
    rows = np.isin(y, test)
    clips2[rows] = 30 * rng.normal(size=clips2[rows].shape) - 4
    return text2, clips2


@pytest.mark.parametrize("fit_on", ["instances", "concept_means"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_changing_the_test_classes_leaves_the_trained_heads_bit_identical(fit_on, early_stopping):
    """Nothing the heads learn (z-scoring statistics, validation for early stopping, the loss) may see
    the test classes: the same training data with other test data gives bit-identical heads."""
    text, clips, y = planted()
    split = class_split(N, 0.7, 0)
    train_rows = np.flatnonzero(np.isin(y, split.train))
    c = cfg(fit_on=fit_on, **(dict(val_fraction=0.25, patience=3, epochs=400, learning_rate=3e-2) if early_stopping else {}))
    text2, clips2 = with_test_classes_changed(text, clips, y, split.test)
    # scoring the training clips and reading the training concepts' text projections shows the heads;
    # scoring the test clips, as the protocol does, must not let them in either
    test_rows = np.flatnonzero(np.isin(y, split.test))
    for score_rows in (train_rows, test_rows):
        a = fit_probe(text, clips, y, split.train, score_rows, c, seed=3)
        b = fit_probe(text2, clips2, y, split.train, score_rows, c, seed=3)
        assert np.array_equal(a.text_proj[split.train], b.text_proj[split.train])
        assert a.epochs_run == b.epochs_run and a.final_loss == b.final_loss
        if score_rows is train_rows:
            assert np.array_equal(a.instance_proj, b.instance_proj)
    if early_stopping:
        assert a.epochs_run < 400  # it really stopped early
    # ... and a change of the TRAINING data does move them (the comparison above can see a difference)
    clips3 = clips.copy()
    clips3[train_rows[0]] += 1.0
    assert not np.array_equal(fit_probe(text, clips3, y, split.train, test_rows, c, seed=3).text_proj, a.text_proj)


def test_early_stopping_holds_out_training_classes_only_and_restores_the_best_heads(monkeypatch):
    text, clips, y = planted()
    split = class_split(N, 0.7, 0)
    test_rows = np.flatnonzero(np.isin(y, split.test))
    c = cfg(val_fraction=0.25, patience=3, epochs=400, learning_rate=3e-2)
    rows = prepare_rows(clips, y, split.train, test_rows, N, c, seed=3)
    val_concepts = np.unique(rows.row_concept[rows.val_rows])
    assert len(val_concepts) == round(0.25 * len(split.train))
    assert set(val_concepts) <= set(split.train) and not set(val_concepts) & set(rows.fit_concepts)
    assert not set(rows.row_concept[rows.fit_rows]) & set(val_concepts)
    # the validation loss is computed among the training classes and nothing else
    seen: list[int] = []
    real_ce = contrastive.F.cross_entropy
    monkeypatch.setattr(contrastive.F, "cross_entropy", lambda lg, *a, **k: seen.append(lg.shape[1]) or real_ce(lg, *a, **k))
    fit = fit_probe(text, clips, y, split.train, test_rows, c, seed=3, rows=rows)
    assert set(seen) == {len(rows.fit_concepts), len(split.train)}  # training steps, validation passes
    assert fit.epochs_run < 400 and acc3(fit, y[test_rows]) > 0.5


def test_the_temperature_divides_the_cosine_logits():
    """The first step's loss is the paper's: cross-entropy of cosine similarities / tau over the training
    classes, with the heads as initialised from the seed. Dropping tau changes it."""
    text, clips, y = planted()
    split = class_split(N, 0.7, 0)
    train_rows = np.flatnonzero(np.isin(y, split.train))
    for tau in (0.05, 0.5):
        c = cfg(temperature=tau, epochs=1)
        fit = fit_probe(text, clips, y, split.train, train_rows, c, seed=4)
        # the initial heads, drawn as the probe draws them
        rows = prepare_rows(clips, y, split.train, train_rows, N, c, seed=4)
        gen = torch.Generator().manual_seed(4)
        t = contrastive.standardise(text.astype(np.float64), rows.fit_concepts)
        t = torch.from_numpy(np.asarray(t, dtype=np.float32))
        heads = [torch.nn.Linear(t.shape[1], 16), torch.nn.Linear(rows.a.shape[1], 16)]
        with torch.no_grad():
            for h in heads:
                bound = 1.0 / np.sqrt(h.in_features)
                h.weight.uniform_(-bound, bound, generator=gen)
                h.bias.uniform_(-bound, bound, generator=gen)
            tz = F.normalize(heads[0](t[torch.from_numpy(rows.fit_concepts)]), dim=1)
            az = F.normalize(heads[1](rows.a[torch.from_numpy(train_rows)]), dim=1)
            target = torch.from_numpy(np.searchsorted(rows.fit_concepts, y[train_rows]))
            want = float(F.cross_entropy(az @ tz.T / tau, target))
        assert fit.final_loss == pytest.approx(want, rel=1e-5)
        assert fit.temperature == pytest.approx(tau)


def test_learn_temperature_moves_the_temperature_and_fixed_keeps_it():
    text, clips, y = planted()
    split = class_split(N, 0.7, 0)
    rows = np.flatnonzero(np.isin(y, split.test))
    fixed = fit_probe(text, clips, y, split.train, rows, cfg(temperature=0.5), seed=0)
    learned = fit_probe(text, clips, y, split.train, rows, cfg(temperature=0.5, learn_temperature=True), seed=0)
    assert fixed.temperature == pytest.approx(0.5)
    assert learned.temperature < 0.45  # a separable problem sharpens its softmax
    assert not np.array_equal(fixed.text_proj, learned.text_proj)
    assert acc3(learned, y[rows]) > 0.8


def test_minibatches_with_in_batch_negatives(monkeypatch):
    """batch_size 8: each step sees at most 8 rows; with in_batch its softmax runs over the classes in the
    batch only, with all_train over every fitting class; both still find the planted map."""
    text, clips, y = planted(noise=0.1)
    split = class_split(N, 0.7, 0)
    rows = np.flatnonzero(np.isin(y, split.test))
    real_ce = contrastive.F.cross_entropy
    for negatives in ("in_batch", "all_train"):
        shapes: list[tuple[int, int]] = []
        monkeypatch.setattr(contrastive.F, "cross_entropy",
                            lambda lg, target, *a, **k: shapes.append((lg.shape[0], lg.shape[1], len(set(target.tolist()))))
                            or real_ce(lg, target, *a, **k))
        fit = fit_probe(text, clips, y, split.train, rows, cfg(batch_size=8, negatives=negatives, epochs=60), seed=0)
        n_train = len(split.train)
        assert max(s[0] for s in shapes) == 8 and len(shapes) == 60 * int(np.ceil(n_train * 4 / 8))
        if negatives == "in_batch":
            assert all(cands == distinct for _, cands, distinct in shapes)  # exactly the batch's classes
            assert max(s[1] for s in shapes) <= 8
        else:
            assert {s[1] for s in shapes} == {n_train}
        assert acc3(fit, y[rows]) > 0.9, negatives


@pytest.mark.parametrize("name,kind", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_sgd_and_adamw_are_used_and_train(monkeypatch, name, kind):
    text, clips, y = planted(noise=0.1)
    split = class_split(N, 0.7, 0)
    rows = np.flatnonzero(np.isin(y, split.test))
    made: list[type] = []
    real = contrastive._optimizer
    monkeypatch.setattr(contrastive, "_optimizer", lambda *a, **k: made.append(type(real(*a, **k))) or real(*a, **k))
    lr = {"sgd": 0.3, "adamw": 3e-3}[name]
    fit = fit_probe(text, clips, y, split.train, rows, cfg(optimizer=name, learning_rate=lr, weight_decay=1e-2), seed=0)
    assert made == [kind]
    assert acc3(fit, y[rows]) > 0.9
    adam = fit_probe(text, clips, y, split.train, rows, cfg(optimizer="adam", learning_rate=lr, weight_decay=1e-2), seed=0)
    assert not np.array_equal(fit.text_proj, adam.text_proj)


def _samples(n_runs=5, n_clips=12, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_runs):
        v = (rng.random(n_clips) < 0.4).astype(float)
        out.append(RunSample({"acc": float(v.mean())}, {"acc": v}, np.repeat(np.arange(n_clips // 2), 2)))
    return {"probe": out}


@pytest.mark.parametrize("confidence", [0.95, 0.90])
def test_bootstrap_unit_runs_is_the_percentile_interval_of_resampled_runs(confidence):
    """unit 'runs' by hand: draw runs with replacement from the same stream, average, take the
    (1 - c)/2 and (1 + c)/2 percentiles. A 90 % interval differs from (and is inside) the 95 % one."""
    samples = _samples()
    got = bootstrap_ci(samples, resamples=400, confidence=confidence, unit="runs", seed=7)["probe"]["acc"]
    rng = np.random.default_rng([7, 0xB0075])
    draws = rng.integers(0, 5, size=(400, 5))
    scores = np.array([s.scores["acc"] for s in samples["probe"]])
    means = scores[draws].mean(1)
    q = 100 * (1 - confidence) / 2
    assert got == [pytest.approx(np.percentile(means, q)), pytest.approx(np.percentile(means, 100 - q))]
    clips = bootstrap_ci(samples, resamples=400, confidence=confidence, unit="runs_and_clips", seed=7)["probe"]["acc"]
    assert clips != got  # the clip level adds its own variation
    if confidence == 0.90:
        wide = bootstrap_ci(samples, resamples=400, confidence=0.95, unit="runs", seed=7)["probe"]["acc"]
        assert wide[0] <= got[0] and got[1] <= wide[1] and wide != got


def test_the_interval_level_written_is_the_level_computed():
    text, clips, y = planted()
    m = [Metric(lambda s, t: metrics.accuracy_at_k(s, t, [3]), lambda s, t: metrics.accuracy_at_k_per_instance(s, t, [3]))]
    out = {}
    for level in (0.9, 0.95):
        stats = SimpleNamespace(bootstrap_resamples=300, confidence=level, bootstrap_unit="runs", paired_test="sign_flip")
        res = run_protocol({"probe": text}, clips, y, train_fraction=0.7, num_runs=3, seed=0, probe_cfg=cfg(epochs=30),
                           metric_fns=m, permuted_control=False, stats_cfg=stats)
        s = res["summary"]["probe"]["accuracy@3"]
        assert s["ci_level"] == level and res["bootstrap"]["confidence"] == level and res["bootstrap"]["unit"] == "runs"
        runs = np.array([r["probe"]["scores"]["accuracy@3"] for r in res["runs"]])
        draws = np.random.default_rng([0, 0xB0075]).integers(0, 3, size=(300, 3))
        q = 100 * (1 - level) / 2
        assert s["ci"] == [pytest.approx(np.percentile(runs[draws].mean(1), q)),
                           pytest.approx(np.percentile(runs[draws].mean(1), 100 - q))]
        out[level] = s["ci"]
    assert out[0.9] != out[0.95]
