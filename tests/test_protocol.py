"""The protocol on planted structure: it must find a planted map and must not find one that is absent."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from grounding_eval import metrics
from grounding_eval.protocol import class_split, mean_stderr, permuted, run_protocol

CFG = SimpleNamespace(projection_dim=32, temperature=0.1, learn_temperature=False, optimizer="adam",
                      learning_rate=1e-3, weight_decay=0.0, epochs=150, batch_size=None, val_fraction=0.0,
                      patience=20, standardize=True)
ACC = [lambda s, t: metrics.accuracy_at_k(s, t, [1, 3, 5])]


def planted(noise: float, n_concepts: int = 50, per: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n_concepts, 12))
    w = rng.normal(size=(12, 40))
    y = np.repeat(np.arange(n_concepts), per)
    inst = text[y] @ w / 4 + noise * rng.normal(size=(len(y), 40))
    return text, inst, y


def test_planted_map_is_found_and_noise_destroys_it():
    accs = []
    for noise in (0.1, 3.0, 30.0):
        text, inst, y = planted(noise)
        res = run_protocol({"probe": text}, inst, y, train_fraction=0.7, num_runs=2, seed=0, probe_cfg=CFG,
                           metric_fns=ACC, permuted_control=True)
        accs.append(res["summary"]["probe"]["accuracy@3"]["mean"])
        assert res["summary"]["permuted_text"]["accuracy@3"]["mean"] < 0.25
    assert accs[0] > 0.95
    assert accs[0] > accs[1] > accs[2] - 0.05
    assert accs[2] < 0.2  # chance is 3/50 = 0.06


def test_same_seed_same_numbers_and_splits_hold_out_concepts():
    text, inst, y = planted(1.0)
    kw = dict(train_fraction=0.7, num_runs=2, seed=5, probe_cfg=CFG, metric_fns=ACC, permuted_control=True)
    a = run_protocol({"probe": text}, inst, y, **kw)
    b = run_protocol({"probe": text}, inst, y, **kw)
    assert a["summary"] == b["summary"]
    for run in a["runs"]:
        assert not set(run["train"]) & set(run["test"])
        assert len(run["train"]) + len(run["test"]) == 50
    assert a["runs"][0]["test"] != a["runs"][1]["test"]  # each run is a new split


def test_split_permutation_and_stats():
    s = class_split(10, 0.7, 0)
    assert len(s.train) == 7 and len(s.test) == 3
    text = np.arange(20.0).reshape(10, 2)
    p = permuted(text, 0)
    assert sorted(map(tuple, p)) == sorted(map(tuple, text)) and not np.array_equal(p, text)
    st = mean_stderr([0.1, 0.3])
    assert abs(st["mean"] - 0.2) < 1e-12 and abs(st["stderr"] - 0.1) < 1e-12
    assert mean_stderr([0.5])["stderr"] is None


def test_metrics_ranks_and_chance():
    sim = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.1]])
    target = np.array([2, 0])
    assert metrics.true_ranks(sim, target).tolist() == [2, 2]  # a tie counts against the true concept
    assert metrics.accuracy_at_k(sim, target, [1, 2]) == {"accuracy@1": 0.0, "accuracy@2": 1.0}
    assert metrics.mrr(sim, target)["mrr"] == 0.5
    assert metrics.accuracy_at_k_chance(144, [3])["accuracy@3"] == 3 / 144
