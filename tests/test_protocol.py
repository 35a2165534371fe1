"""The protocol on planted structure: it must find a planted map and must not find one that is absent."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from grounding_eval import metrics
from grounding_eval.heads.config import ProbeConfig, ProcrustesConfig
from grounding_eval.heads.procrustes import fit_procrustes
from grounding_eval.kinds.probe.config import StatisticsConfig
from grounding_eval.kinds.probe.protocol import (
    Metric,
    class_split,
    mean_stderr,
    permuted,
    run_protocol,
    score_similarity,
)
from grounding_eval.stats import paired_tests, sign_flip_p

CFG = SimpleNamespace(projection_dim=32, temperature=0.1, learn_temperature=False, optimizer="adam",
                      learning_rate=1e-3, weight_decay=0.0, epochs=150, batch_size=None, val_fraction=0.0,
                      patience=20, standardize=True)
ACC = [lambda s, t: metrics.accuracy_at_k(s, t, [1, 3, 5])]
# The built-in metrics with their per-instance forms, as the runner passes them.
METRICS = [Metric(lambda s, t: metrics.accuracy_at_k(s, t, [1, 3, 5]),
                  lambda s, t: metrics.accuracy_at_k_per_instance(s, t, [1, 3, 5])),
           Metric(metrics.mrr, metrics.mrr_per_instance)]
FAST = ProbeConfig(projection_dim=16, epochs=80, learning_rate=3e-3)
STATS = StatisticsConfig(bootstrap_resamples=500)


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


def test_scores_read_off_one_rank_and_their_chance():
    """The per-clip scores the generative kind, its compare and the leaderboard recompute from a stored rank,
    worked out by hand: accuracy@K counts rank K itself, MRR's chance averages 1/rank over ALL n ranks."""
    assert [metrics.rank_score("accuracy@3", r) for r in (1, 3, 4)] == [1.0, 1.0, 0.0]
    assert metrics.rank_score("mrr", 4) == 0.25 and metrics.rank_score("kad", 1) is None
    chance = metrics.rank_score_chance(["mrr", "accuracy@3", "accuracy@5", "kad"], 4)
    assert chance == pytest.approx({"mrr": (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, "accuracy@3": 0.75, "accuracy@5": 1.0})


# --------------------------------------------------------------------------------------------------
# Planted structure: audio = W . text + noise. The protocol must find the map when it is there, lose it
# as noise grows, and find nothing when the class link is destroyed; the permuted control must sit at
# chance. N_PLANT concepts, chance for accuracy@3 = 3 / N_PLANT.

N_PLANT = 40


def planted_w(noise: float, link: bool = True, seed: int = 1, per: int = 4):
    """Text (N_PLANT x 8), clips = text of their concept through a fixed random W plus Gaussian noise.

    link=False gives each concept's clips the text of ANOTHER concept (a fixed derangement), so the
    text of a concept says nothing about its clips: the class link is destroyed, the structure kept.
    """
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(N_PLANT, 8))
    w = rng.normal(size=(8, 24)) / 4
    y = np.repeat(np.arange(N_PLANT), per)
    source = y if link else (y + 1 + rng.integers(0, N_PLANT - 1)) % N_PLANT
    clips = text[source] @ w + noise * rng.normal(size=(len(y), 24))
    return text, clips, y


def _run(text, clips, y, runs=5, **kw):
    return run_protocol({"probe": text}, clips, y, train_fraction=0.7, num_runs=runs, seed=0, probe_cfg=FAST,
                        metric_fns=METRICS, permuted_control=True, stats_cfg=STATS, **kw)


def test_planted_link_gives_near_perfect_accuracy_and_noise_brings_it_to_chance():
    chance = 3 / N_PLANT
    clean = _run(*planted_w(0.05))["summary"]
    assert clean["probe"]["accuracy@3"]["mean"] > 0.95
    assert clean["probe"]["accuracy@3_class_mean"]["mean"] > 0.95
    mid = _run(*planted_w(1.0))["summary"]["probe"]["accuracy@3"]["mean"]
    drowned = _run(*planted_w(20.0))["summary"]["probe"]["accuracy@3"]
    assert clean["probe"]["accuracy@3"]["mean"] > mid > drowned["mean"]
    assert drowned["ci"][0] <= chance + 0.02 and drowned["mean"] < 2.5 * chance


def test_destroyed_class_link_falls_to_chance():
    chance = 3 / N_PLANT
    res = _run(*planted_w(0.05, link=False))
    probe = res["summary"]["probe"]["accuracy@3"]
    assert probe["ci"][0] <= chance <= probe["ci"][1], probe
    # and the paired test then finds no advantage over the permuted control
    assert res["paired_tests"]["permuted_text"]["accuracy@3"]["p_value"] > 0.05


def test_permuted_control_stays_within_its_interval_of_chance_and_the_probe_beats_it():
    chance = 3 / N_PLANT
    res = _run(*planted_w(0.3))
    perm = res["summary"]["permuted_text"]
    for key in ("accuracy@3", "accuracy@3_class_mean"):
        assert perm[key]["ci"][0] <= chance <= perm[key]["ci"][1], (key, perm[key])
    assert perm["mrr"]["ci"][0] <= metrics.mrr_chance(N_PLANT)["mrr"] <= perm["mrr"]["ci"][1]
    test = res["paired_tests"]["permuted_text"]["accuracy@3"]
    assert test["p_sign_flip"] == pytest.approx(1 / 32)  # all 5 runs favour the probe: the exact minimum
    assert test["p_t_test"] < 1e-3 and test["mean_difference"] > 0.5
    low, high = res["summary"]["probe"]["accuracy@3"]["ci"]
    assert low <= res["summary"]["probe"]["accuracy@3"]["mean"] <= high and low > 0.8


def test_procrustes_recovers_a_planted_rotation_and_not_a_broken_link():
    rng = np.random.default_rng(3)
    text = rng.normal(size=(40, 10))
    q = np.linalg.qr(rng.normal(size=(24, 10)))[0]  # orthonormal columns: a rotation into 24-d
    y = np.repeat(np.arange(40), 3)
    clips = text[y] @ q.T + 0.05 * rng.normal(size=(len(y), 24))
    split = class_split(40, 0.7, 0)
    test_rows = np.flatnonzero(np.isin(y, split.test))
    for reduce in ("pca", "zero_pad"):
        fit = fit_procrustes(text, clips, y, split.train, test_rows, ProcrustesConfig(reduce=reduce), standardize=False)
        acc = metrics.accuracy_at_k(fit.similarity(), y[test_rows], [3])["accuracy@3"]
        assert acc > 0.95, (reduce, acc)
    fit = fit_procrustes(permuted(text, 0), clips, y, split.train, test_rows, ProcrustesConfig(), standardize=False)
    assert metrics.accuracy_at_k(fit.similarity(), y[test_rows], [3])["accuracy@3"] < 0.3
    assert fit.dim == min(10, 24, len(split.train) - 1)
    res = _run(text, clips, y, runs=2, procrustes_cfg=ProcrustesConfig())
    assert res["summary"]["procrustes"]["accuracy@3"]["mean"] > 0.95
    assert "procrustes" in res["paired_tests"]


def test_class_mean_and_per_class_scores_by_hand():
    # 3 clips of concept 0 (ranks 1, 1, 4) and 1 clip of concept 2 (rank 4): 4 concepts.
    sim = np.array([[0.9, 0.1, 0.0, 0.0], [0.8, 0.1, 0.0, 0.0], [0.0, 0.1, 0.2, 0.3], [0.5, 0.6, 0.1, 0.7]])
    target = np.array([0, 0, 0, 2])
    rec, sample = score_similarity(sim, target, METRICS)
    assert rec["scores"]["accuracy@1"] == pytest.approx(2 / 4)  # over clips
    assert rec["scores"]["accuracy@1_class_mean"] == pytest.approx((2 / 3 + 0) / 2)  # over classes
    assert rec["scores"]["mrr_class_mean"] == pytest.approx(((1 + 1 + 0.25) / 3 + 0.25) / 2)
    assert rec["per_class"][0] == {"n_instances": 3, "accuracy@1": pytest.approx(2 / 3), "accuracy@3": pytest.approx(2 / 3),
                                   "accuracy@5": 1.0, "mrr": pytest.approx(0.75)}
    assert rec["per_class"][2]["accuracy@5"] == 1.0 and rec["per_class"][2]["accuracy@3"] == 0.0
    # a metric without a per-instance form gets its class mean by being called per class
    plain = [Metric(lambda s, t: metrics.accuracy_at_k(s, t, [1]))]
    rec2, _ = score_similarity(sim, target, plain)
    assert rec2["scores"]["accuracy@1_class_mean"] == pytest.approx(rec["scores"]["accuracy@1_class_mean"])


def test_a_paired_test_over_a_non_finite_difference_is_one_line_not_p_zero():
    """A NaN difference (a metric's NaN score, an undefined KAD) made every sign pattern fall short of the
    observed mean: p = 0, significance from nothing. Refused at the shared test, for every kind and caller."""
    from grounding_eval.errors import GroundingEvalError

    with pytest.raises(GroundingEvalError, match="1 of 5 differences are not finite"):
        paired_tests([0.5, float("nan"), 0.4, 0.3, 0.2], [0.1] * 5, "sign_flip")
    with pytest.raises(GroundingEvalError, match="2 of 20 differences are not finite"):
        sign_flip_p(np.r_[np.ones(18), np.nan, np.inf])  # the drawn branch too
    assert paired_tests([0.5, 0.4, 0.3, 0.2, 0.6], [0.1] * 5, "sign_flip")["p_sign_flip"] == 1 / 32


def test_sign_flip_and_paired_tests():
    assert sign_flip_p(np.array([0.1, 0.2, 0.3, 0.1, 0.2])) == pytest.approx(1 / 32)
    assert sign_flip_p(np.array([0.1, -0.1])) == pytest.approx(3 / 4)  # flips giving mean >= 0: ++, +-, -+
    # Drawn above 16 values: (k + 1) / (draws + 1). All 30 differences positive: no draw but the all-plus one
    # reaches the mean, so k is 0 or tiny and p is at least 1 / (draws + 1), never the impossible 0.
    big = np.full(30, 0.2)
    assert sign_flip_p(big, draws=1000) == pytest.approx(1 / 1001)
    # k counted by hand over the same seeded draws
    d = np.random.default_rng(3).normal(0.1, 1.0, 20)
    signs = np.random.default_rng(0).choice((1.0, -1.0), size=(500, 20))
    k = int(np.sum((signs * d).mean(1) >= d.mean() - 1e-12))
    assert 0 < k < 500 and sign_flip_p(d, draws=500) == pytest.approx((k + 1) / 501)
    t = paired_tests([0.5, 0.6, 0.55], [0.1, 0.1, 0.2], "t_test")
    assert t["p_value"] == t["p_t_test"] and t["p_t_test"] < 0.01 and t["mean_difference"] == pytest.approx(0.4166666)


def test_determinism_same_seed_and_probe_chunking(monkeypatch):
    text, clips, y = planted_w(0.5)
    a = _run(text, clips, y, runs=2)
    b = _run(text, clips, y, runs=2)
    assert a["summary"] == b["summary"] and a["paired_tests"] == b["paired_tests"]
    chunked = FAST.model_copy(update={"chunk_size": 7})
    import grounding_eval.heads.contrastive as contrastive

    rows_per_pass: list[int] = []
    real_ce = contrastive.F.cross_entropy
    monkeypatch.setattr(contrastive.F, "cross_entropy",
                        lambda logits, *a, **k: rows_per_pass.append(len(logits)) or real_ce(logits, *a, **k))
    c = run_protocol({"probe": text}, clips, y, train_fraction=0.7, num_runs=2, seed=0, probe_cfg=chunked,
                     metric_fns=METRICS, permuted_control=True)
    assert max(rows_per_pass) <= 7  # the full-batch step really went through in chunks
    for variant in ("probe", "permuted_text"):
        for r_a, r_c in zip(a["runs"], c["runs"]):
            assert abs(r_a[variant]["final_loss"] - r_c[variant]["final_loss"]) < 1e-5
            for k, v in r_a[variant]["scores"].items():
                assert abs(v - r_c[variant]["scores"][k]) < 1e-5, (variant, k)


def test_concept_means_with_one_instance_per_concept_is_the_instance_probe():
    """One clip per concept: its mean is the clip, so both readings of a(c) train on the same rows."""
    text, clips, y = planted_w(0.5, per=1)
    by_clip = _run(text, clips, y, runs=2)
    by_mean = run_protocol({"probe": text}, clips, y, train_fraction=0.7, num_runs=2, seed=0,
                           probe_cfg=FAST.model_copy(update={"fit_on": "concept_means"}), metric_fns=METRICS,
                           permuted_control=True)
    for r_a, r_b in zip(by_clip["runs"], by_mean["runs"]):
        for variant in ("probe", "permuted_text"):
            assert abs(r_a[variant]["final_loss"] - r_b[variant]["final_loss"]) < 1e-5
            for k, v in r_a[variant]["scores"].items():
                assert abs(v - r_b[variant]["scores"][k]) < 1e-6, (variant, k)


def test_concept_means_find_the_planted_map_and_train_on_one_row_per_concept(monkeypatch):
    import grounding_eval.heads.contrastive as contrastive

    seen = []
    real_ce = contrastive.F.cross_entropy
    monkeypatch.setattr(contrastive.F, "cross_entropy", lambda logits, *a, **k: seen.append(len(logits)) or real_ce(logits, *a, **k))
    text, clips, y = planted_w(0.05)  # 4 clips per concept
    res = run_protocol({"probe": text}, clips, y, train_fraction=0.7, num_runs=2, seed=0,
                       probe_cfg=FAST.model_copy(update={"fit_on": "concept_means"}), metric_fns=METRICS,
                       permuted_control=True)
    n_train = len(res["runs"][0]["train"])
    assert set(seen) == {n_train}  # every training step saw one row per training concept, not 4
    assert res["summary"]["probe"]["accuracy@3"]["mean"] > 0.95
    assert res["summary"]["permuted_text"]["accuracy@3"]["mean"] < 0.3


def test_bootstrap_clip_and_class_means_by_brute_force():
    from grounding_eval.stats import _ClipDraws

    classes = np.array([2, 0, 2, 1, 0, 2, 1, 5])
    values = np.random.default_rng(0).random((len(classes), 3))
    draws = _ClipDraws.draw(np.random.default_rng(3), classes, 40)
    idx = np.random.default_rng(3).integers(0, len(classes), size=(40, len(classes)))  # the same draws
    by_clip, by_class = draws.clip_means(values), draws.class_means(values)
    for b in range(40):
        v, c = values[idx[b]], classes[idx[b]]
        assert np.allclose(by_clip[b], v.mean(0))
        assert np.allclose(by_class[b], np.mean([v[c == k].mean(0) for k in np.unique(c)], 0))
