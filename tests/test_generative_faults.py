"""Issue 23 item 1: the generative runner's scoring, pinned by small hand-worked or brute-force examples.

Each test names in its docstring the fault it guards against; each was watched failing with that fault put
into a scratch copy of the code."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist
from types import SimpleNamespace

import numpy as np
import pytest

from grounding_eval import metrics
from grounding_eval.audio.pitch import note_errors, sounding_span
from grounding_eval.kinds.generative import runner
from grounding_eval.kinds.generative.base import Prompt
from grounding_eval.kinds.generative.clap_score import ClapScorer, clap_scores
from grounding_eval.kinds.generative.config import GenerativeTaskConfig
from grounding_eval.kinds.generative.distances import kad, median_bandwidth, per_class_kad
from grounding_eval.kinds.generative.outcomes import count_outcomes
from grounding_eval.stats import mean_interval


def _cfg(confidence: float = 0.95, resamples: int = 200) -> GenerativeTaskConfig:
    return GenerativeTaskConfig.model_validate({"task": "t", "version": 1, "dataset": {"name": "x"},
                                                "scoring": {"confidence": confidence, "bootstrap_resamples": resamples}})


def _wilson(successes: int, n: int, confidence: float) -> list[float]:
    """The Wilson score interval written out (Wilson 1927)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


# ---- 1. accuracy@K counts rank == K -----------------------------------------------------------------------

# Four clips, the same scores for every concept [4, 3, 2, 1]; clip i's target is concept i, so its rank is i+1.
_SIM4 = np.tile([4.0, 3.0, 2.0, 1.0], (4, 1))
_TARGET4 = np.arange(4)


def test_score_set_accuracy_at_k_counts_a_clip_ranked_exactly_k():
    """Fault 1: accuracy@K computed with `rank < K` in runner.score_set (a clip ranked K-th must count)."""
    vecs = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    refs = np.random.default_rng(0).standard_normal((8, 2))
    j = runner.score_set(vecs, _TARGET4, refs, np.repeat(np.arange(4), 2), _SIM4, [1, 3, 4], _cfg(), 0)
    assert list(j.ranks) == [1, 2, 3, 4]
    out = j.scores.model_extra
    assert out["accuracy@1"].mean == pytest.approx(1 / 4)
    assert out["accuracy@3"].mean == pytest.approx(3 / 4)
    assert out["accuracy@4"].mean == pytest.approx(1.0)
    assert j.scores.mrr.mean == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_metrics_accuracy_at_k_counts_a_clip_ranked_exactly_k():
    """Fault 1: accuracy@K computed with `rank < K` in grounding_eval.metrics (accuracy_at_k, its per-instance
    form, rank_score) or in clap_scores."""
    assert metrics.accuracy_at_k(_SIM4, _TARGET4, [1, 3, 4]) == {"accuracy@1": 0.25, "accuracy@3": 0.75, "accuracy@4": 1.0}
    per = metrics.accuracy_at_k_per_instance(_SIM4, _TARGET4, [1, 3])
    assert list(per["accuracy@1"]) == [1, 0, 0, 0] and list(per["accuracy@3"]) == [1, 1, 1, 0]
    assert [metrics.rank_score("accuracy@3", r) for r in (1, 2, 3, 4)] == [1.0, 1.0, 1.0, 0.0]
    assert metrics.rank_score("accuracy@1", 1) == 1.0
    clap = clap_scores(_SIM4, _TARGET4, [1, 3], lambda v: {"mean": float(np.mean(v))})
    assert clap["accuracy@1"]["mean"] == 0.25 and clap["accuracy@3"]["mean"] == 0.75


# ---- 2, 6. the shuffled-prompt control and its paired tests ------------------------------------------------

N_CONCEPTS = 5


def _system_inputs(confidence: float = 0.95):
    """Five concepts on a line (concept c around x = 10c), two references and two generated clips each, a judge
    that ranks concepts by distance: every matched clip is ranked 1st, every clip against another concept lower."""
    names = [f"c{c}" for c in range(N_CONCEPTS)]
    prompts = [Prompt(f"p{c}", names[c], f"the sound of {names[c]}") for c in range(N_CONCEPTS)]
    prompt_index = [c for c in range(N_CONCEPTS) for _ in range(2)]
    clips = runner.SystemClips("m", prompts, [["x", "y"]] * N_CONCEPTS, [{"kind": "ok"}] * 10,
                               [Path("unused.wav")] * 10, prompt_index)
    vecs = np.array([[10.0 * c + d, 0.0] for c in range(N_CONCEPTS) for d in (0.2, 0.8)])
    refs = np.array([[10.0 * c + d, 1.0] for c in range(N_CONCEPTS) for d in (0.0, 1.0)])
    ref_concept = np.repeat(np.arange(N_CONCEPTS), 2)
    emb = runner.Embedded(None, refs, ref_concept, {"m": vecs}, {"silence": np.array([-100.0, 0.0])}, {})
    centres = 10.0 * np.arange(N_CONCEPTS) + 0.5

    class DistanceJudge:
        text = np.zeros((N_CONCEPTS, 3))

        def similarity(self, v):
            return -np.abs(np.asarray(v)[:, :1] - centres[None])

    run = SimpleNamespace(cfg=_cfg(confidence), controls=["shuffled_prompts"])
    index = {n: i for i, n in enumerate(names)}
    return run, clips, vecs, index, emb, DistanceJudge(), centres


def test_score_set_with_a_pairing_scores_each_clip_against_the_paired_concept():
    """Fault 2: the shuffled-prompt control scoring each clip against its own concept (runner.score_set ignoring
    `pairing`, or per_class_kad ignoring it)."""
    _, _, vecs, _, emb, judge, _ = _system_inputs()
    concept = np.repeat(np.arange(N_CONCEPTS), 2)
    pairing = np.array([1, 2, 3, 4, 0])  # each concept -> the next
    j = runner.score_set(vecs, concept, emb.refs, emb.ref_concept, judge.similarity(vecs), [1], _cfg(), 0, pairing=pairing)
    # concept centres at 10c + 0.5; clip 10c + 0.8 against c+1 (9.7 away): only c is nearer, rank 2; clip
    # 10c + 0.2 against c+1 (10.3 away): c and, for c >= 1, c-1 (9.7 away) are nearer, rank 3 (2 for c = 0);
    # concept 4 against 0 (40 away): every other concept is nearer, rank 5.
    assert list(j.ranks) == [2, 2, 3, 2, 3, 2, 3, 2, 5, 5]
    assert j.scores.model_extra["accuracy@1"].mean == 0.0
    bw = median_bandwidth(emb.refs)
    for c in range(N_CONCEPTS):
        want = kad(vecs[concept == c], emb.refs[emb.ref_concept == pairing[c]], bw)
        assert j.kad_per_concept[c] == pytest.approx(want, rel=1e-12)
        assert want > kad(vecs[concept == c], emb.refs[emb.ref_concept == c], bw)
    assert "fad" not in j.scores.model_fields_set or j.scores.fad is None  # FAD is pooled: not a shuffled score


def test_score_system_shuffled_prompts_use_a_derangement_and_the_paired_tests_point_the_right_way():
    """Faults 2 and 6: runner.score_system's shuffled-prompt control scoring clips against their own concept
    (no pairing passed), and the paired tests' arguments swapped (MRR must be matched - shuffled, KAD
    shuffled - matched: both positive, one-sided p = 1/2^n, for a system that names every concept)."""
    run, clips, vecs, index, emb, judge, centres = _system_inputs()
    out = runner.score_system(run, clips, vecs, index, emb, judge, [1])
    concept = np.repeat(np.arange(N_CONCEPTS), 2)
    assert list(out.valid_only.ranks) == [1] * 10
    shuf = out.shuffled_prompts
    assert shuf is not None and all(r > 1 for r in shuf.ranks)  # never its own concept
    assert shuf.scores.model_extra["accuracy@1"].mean == 0.0
    # brute force: the rank of the paired concept among all five, by distance
    pairing = runner._derangement(N_CONCEPTS, run.cfg.generator.seed)
    for i, x in enumerate(vecs[:, 0]):
        d = np.abs(x - centres)
        assert shuf.ranks[i] == 1 + sum(d[j] < d[pairing[concept[i]]] for j in range(N_CONCEPTS))
    bw = median_bandwidth(emb.refs)
    shuf_kad = {c: kad(vecs[concept == c], emb.refs[emb.ref_concept == pairing[c]], bw) for c in range(N_CONCEPTS)}
    own_kad = {c: kad(vecs[concept == c], emb.refs[emb.ref_concept == c], bw) for c in range(N_CONCEPTS)}
    assert shuf.kad_per_concept == pytest.approx(shuf_kad) and out.valid_only.kad_per_concept == pytest.approx(own_kad)

    t_kad = out.paired_tests["kad"]
    assert t_kad.mean_difference == pytest.approx(np.mean([shuf_kad[c] - own_kad[c] for c in range(N_CONCEPTS)]))
    assert t_kad.mean_difference > 0 and t_kad.n == N_CONCEPTS
    assert t_kad.p_sign_flip == pytest.approx(1 / 2 ** N_CONCEPTS)  # every concept better matched: the smallest p
    t_mrr = out.paired_tests["mrr"]
    assert t_mrr.mean_difference == pytest.approx(np.mean(1.0 - 1.0 / shuf.ranks)) and t_mrr.mean_difference > 0
    assert t_mrr.n == 10 and t_mrr.p_sign_flip == pytest.approx(1 / 2 ** 10)


def test_score_clap_shuffled_prompts_target_the_derangement():
    """Fault 2: the CLAP score's shuffled-prompt control (runner.score_clap) scoring each clip against its own
    concept instead of the derangement's."""
    run, clips, _, index, _, _, _ = _system_inputs()
    eye = np.eye(N_CONCEPTS)
    concept = np.repeat(np.arange(N_CONCEPTS), 2)
    vecs = eye[concept] + 0.1 * eye[(concept + 1) % N_CONCEPTS]  # closest to its own concept's text
    emb = runner.Embedded(None, np.zeros((0, N_CONCEPTS)), np.zeros(0, int), {"m": vecs}, {"silence": eye[0]}, {})
    scorer = ClapScorer("fake", None, None, eye)
    judged = {"m": SimpleNamespace(shuffled_prompts=object())}
    parts = runner.score_clap(run, (scorer, emb), [clips], clips.prompts, index, [1], judged, {})
    got = parts.systems["m"]
    assert got.valid_only.model_extra["accuracy@1"].mean == 1.0
    assert got.shuffled_prompts.model_extra["accuracy@1"].mean == 0.0
    pairing = runner._derangement(N_CONCEPTS, run.cfg.generator.seed)
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    want = np.mean([unit[i, pairing[c]] for i, c in enumerate(concept)])
    assert got.shuffled_prompts.model_extra["clap_score"].mean == pytest.approx(want)


# ---- 3. the derangement -------------------------------------------------------------------------------------

def test_derangement_is_a_permutation_without_fixed_points():
    """Fault 3: a "derangement" that allows fixed points (a concept paired with itself), over many seeds and
    sizes, n = 2 and 3 included."""
    for n in range(2, 13):
        seen = set()
        for seed in range(200):
            p = runner._derangement(n, seed)
            assert sorted(p.tolist()) == list(range(n)), (n, seed)
            assert not np.any(p == np.arange(n)), (n, seed, p)
            assert np.array_equal(p, runner._derangement(n, seed))  # seeded
            seen.add(tuple(p.tolist()))
        if n == 2:
            assert seen == {(1, 0)}
        if n == 3:
            assert seen == {(1, 2, 0), (2, 0, 1)}  # both derangements of 3, and nothing else


# ---- 4. the split-half control's judge ---------------------------------------------------------------------

def test_split_half_judge_is_trained_only_on_the_other_half(monkeypatch):
    """Fault 4: the split-half control's judge trained on all references, including the half it scores
    (runner.score_controls building its Judge from every reference, or reusing the task's judge)."""
    made = []

    class RecordingJudge:
        def __init__(self, text_vecs, ref_vecs, ref_concept, seeds, base_seed):
            self.text, self.ref, self.ref_concept, self.scored = text_vecs, np.asarray(ref_vecs), ref_concept, None
            made.append(self)

        def similarity(self, clips):
            self.scored = np.asarray(clips)
            return np.zeros((len(clips), len(self.text)))

    monkeypatch.setattr(runner, "Judge", RecordingJudge)
    n_concepts, per = 3, 6
    refs = np.stack([np.arange(n_concepts * per, dtype=float), np.zeros(n_concepts * per)], 1)  # row id in column 0
    ref_concept = np.repeat(np.arange(n_concepts), per)
    text = np.zeros((n_concepts, 4))
    task_judge = RecordingJudge(text, refs, ref_concept, 3, 0)
    emb = runner.Embedded(None, refs, ref_concept, {}, {}, {})
    names = [f"c{c}" for c in range(n_concepts)]
    run = SimpleNamespace(cfg=_cfg(), controls=["split_half"])
    out = runner.score_controls(run, [Prompt(n, n, n) for n in names], {n: i for i, n in enumerate(names)}, emb, text,
                                task_judge, [1])
    assert out["split_half"].n_clips == n_concepts * per // 2
    used = [j for j in made if j.scored is not None]
    assert len(used) == 1
    judge = used[0]
    scored, trained = set(judge.scored[:, 0]), set(judge.ref[:, 0])
    assert len(scored) == n_concepts * per // 2 and not scored & trained
    assert scored | trained == set(refs[:, 0])
    for c in range(n_concepts):  # half of each concept on each side
        assert np.sum(judge.ref_concept == c) == per // 2


# ---- 5. the clip bootstrap ---------------------------------------------------------------------------------

@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.5])
def test_mean_interval_matches_a_brute_force_bootstrap(confidence):
    """Fault 5: stats.mean_interval (the clip bootstrap) giving a 90 % interval as 95 % (wrong percentiles), or
    averaging each resample over the wrong axis. Brute force: one resample at a time, the same rng."""
    values = np.random.default_rng(7).standard_normal(25) * 3 + 1
    seed, resamples = 4, 500
    got = mean_interval(list(values) + [None, float("nan")], resamples, confidence, seed)  # None, NaN left out
    rng = np.random.default_rng([seed, 0x6E4])
    draws = rng.integers(0, len(values), size=(resamples, len(values)))
    boots = np.array([np.mean([values[i] for i in draws[b]]) for b in range(resamples)])
    tail = (1 - confidence) / 2
    want = [np.percentile(boots, 100 * tail), np.percentile(boots, 100 * (1 - tail))]
    assert got["n"] == 25 and got["mean"] == pytest.approx(values.mean())
    assert got["ci"] == pytest.approx(want, rel=1e-12)
    # independent of the rng: the interval holds `confidence` of the resampled means, and has the normal width
    inside = np.mean((boots >= got["ci"][0]) & (boots <= got["ci"][1]))
    assert abs(inside - confidence) < 0.01
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    se = values.std(ddof=0) / math.sqrt(len(values))
    assert (got["ci"][1] - got["ci"][0]) == pytest.approx(2 * z * se, rel=0.15)


# ---- 7, 8. KAD's bandwidth -----------------------------------------------------------------------------------

def test_median_bandwidth_of_three_points_leaves_out_the_diagonal():
    """Fault 8: the median bandwidth including the zero self-distances. (0,0), (3,0), (3,4): the pairwise
    distances are 3, 5 and 4, median 4 (with the diagonal: 0,0,0,3,3,4,4,5,5 -> 3, or 0,0,0,3,4,5 -> 1.5)."""
    assert median_bandwidth(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]])) == pytest.approx(4.0)
    assert median_bandwidth(np.array([[0.0], [2.0]])) == pytest.approx(2.0)  # one pair: its distance


def test_per_class_kad_takes_its_bandwidth_from_all_the_references():
    """Fault 7: KAD's per-class bandwidth taken from the generated set (or a class of it) instead of the
    references. Worked by hand on a line: references 0, 2 | 10, 12 (pairwise distances 2,2,8,10,10,12,
    median 9), generated 0, 1 | 10, 13 (median 9.5; per class 1 and 3)."""
    ref = np.array([[0.0], [2.0], [10.0], [12.0]])
    gen = np.array([[0.0], [1.0], [10.0], [13.0]])
    classes = np.array([0, 0, 1, 1])
    e = lambda sq: math.exp(-sq / (2 * 9.0 ** 2))  # Gaussian kernel of a squared distance, bandwidth 9
    # class 0: gen {0, 1}, ref {0, 2}: k_gg = e(1), k_rr = e(4), cross = mean(e(0), e(4), e(1), e(1))
    want0 = 1000 * (e(1) + e(4) - 2 * (e(0) + e(4) + e(1) + e(1)) / 4)
    # class 1: gen {10, 13}, ref {10, 12}: k_gg = e(9), k_rr = e(4), cross = mean(e(0), e(4), e(9), e(1))
    want1 = 1000 * (e(9) + e(4) - 2 * (e(0) + e(4) + e(9) + e(1)) / 4)
    got = per_class_kad(gen, classes, ref, classes)
    assert got[0] == pytest.approx(want0, rel=1e-12) and got[1] == pytest.approx(want1, rel=1e-12)
    assert got[0] == pytest.approx(500 * (math.exp(-4 / 162) - 1), rel=1e-12)  # the same, simplified


# ---- 9. the valid-audio rate's Wilson interval ---------------------------------------------------------------

def test_count_outcomes_uses_the_tasks_confidence_for_the_wilson_interval():
    """Fault 9: outcomes.count_outcomes computing the Wilson interval at 95 % whatever the task's confidence."""
    kinds = ["ok"] * 7 + ["runtime_error"] * 3
    at80 = count_outcomes(kinds, 0.8)
    assert at80["valid_rate"] == 0.7 and at80["interval"] == "wilson 0.8"
    assert at80["valid_rate_interval"] == pytest.approx([0.4973717052397508, 0.8462008219240327], rel=1e-9)
    assert at80["valid_rate_interval"] == pytest.approx(_wilson(7, 10, 0.8))
    assert count_outcomes(kinds)["valid_rate_interval"] == pytest.approx([0.39677814746114537, 0.8922087325936989], rel=1e-9)


def test_score_system_passes_the_tasks_confidence_to_the_outcomes():
    """Fault 9: runner.score_system counting outcomes at the default 95 % instead of the task's confidence."""
    run, clips, vecs, index, emb, judge, _ = _system_inputs(confidence=0.8)
    out = runner.score_system(run, clips, vecs, index, emb, judge, [1])
    assert out.outcomes.interval == "wilson 0.8"
    assert out.outcomes.valid_rate_interval == pytest.approx(_wilson(10, 10, 0.8))


# ---- 10, 11. pitch and duration -----------------------------------------------------------------------------

SR = 16000


def _tone(f: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return np.sin(2 * np.pi * f * t)


def test_octave_error_is_flagged_only_a_whole_octave_away():
    """Fault 10: an octave error flagged at the right pitch (440 Hz judged against A4 is no octave error;
    880 Hz and 220 Hz are; a semitone off is neither)."""
    right = note_errors(_tone(440.0), SR, 440.0, 1.0)
    assert right["pitch_error_cents"] < 5 and right["octave_error"] == 0.0
    for f in (880.0, 220.0):
        e = note_errors(_tone(f), SR, 440.0, 1.0)
        assert abs(e["pitch_error_cents"] - 1200) < 10 and e["octave_error"] == 1.0, f
    semitone = note_errors(_tone(440.0 * 2 ** (1 / 12)), SR, 440.0, 1.0)
    assert abs(semitone["pitch_error_cents"] - 100) < 5 and semitone["octave_error"] == 0.0


def test_sounding_span_ends_after_the_last_loud_frame():
    """Fault 11: the sounding span ending one frame early (its end at the START of the last loud 10 ms frame)."""
    h = SR // 100  # 160 samples per 10 ms frame
    wave = np.concatenate([np.zeros(10 * h), np.tile([0.5, -0.5], 15 * h), np.zeros(10 * h)])  # frames 10..39 loud
    assert sounding_span(wave, SR) == (10 * h, 40 * h)
    assert sounding_span(np.ones(5 * h), SR) == (0, 5 * h)  # loud to the last frame: the whole clip
    # note_errors: 0.25 s silence, 0.5 s of A4, 0.25 s silence lasts exactly 0.5 s
    note = np.concatenate([np.zeros(SR // 4), _tone(440.0, 0.5), np.zeros(SR // 4)])
    e = note_errors(note, SR, 440.0, 0.5)
    assert e["duration_s"] == pytest.approx(0.5, abs=1e-12) and e["duration_error_s"] == pytest.approx(0.0, abs=1e-12)


def test_the_paired_kad_test_leaves_out_concepts_without_kad_and_is_absent_without_any():
    """KAD needs two clips of a concept. Gemma 3 on the environmental tier gave one valid clip: its KAD difference
    was NaN, no sign pattern reached it, and the file said p = 0 (significant) for a test of nothing."""
    run, clips, vecs, index, emb, judge, _ = _system_inputs()
    # concepts 0 and 1 keep both clips; 2, 3 and 4 keep one each (their second program failed)
    keep = [0, 1, 2, 3, 4, 6, 8]
    wavs = [w if j in keep else None for j, w in enumerate(clips.wavs)]
    partial = runner.SystemClips("m", clips.prompts, clips.texts, clips.records, wavs, clips.prompt_index)
    out = runner.score_system(run, partial, vecs[keep], index, emb, judge, [1])
    t_kad = out.paired_tests["kad"]
    assert t_kad.n == 2 and np.isfinite(t_kad.mean_difference) and t_kad.mean_difference > 0
    assert t_kad.p_sign_flip == pytest.approx(1 / 4)  # both defined concepts better matched: 1 of 4 patterns
    assert out.paired_tests["mrr"].n == 7
    one = [0]
    lone = runner.SystemClips("m", clips.prompts, clips.texts, clips.records,
                              [w if j in one else None for j, w in enumerate(clips.wavs)], clips.prompt_index)
    out1 = runner.score_system(run, lone, vecs[one], index, emb, judge, [1])
    assert "kad" not in out1.paired_tests and out1.paired_tests["mrr"].n == 1


def test_the_table_prints_an_undefined_fad_as_a_dash():
    """One valid clip has no FAD (no covariance) and no FAD-inf: the table said "nan (N=1)"."""
    from grounding_eval.kinds.generative import report
    from grounding_eval.kinds.generative.results import FadScore, ScoreSet

    def cell(fad, inf, n):
        return report._fad(ScoreSet(n_clips=n, fad=FadScore(fad=fad, fad_inf=inf, n_generated=n, n_reference=9)))

    assert cell(None, None, 1) == "- (N=1)"
    assert cell(float("nan"), float("nan"), 1) == "- (N=1)"  # files written before FAD became null there
    assert cell(682.64, 682.61, 100) == "682.6 (N=100) / 682.6"
    assert cell(85.0, None, 4) == "85.0 (N=4)"


def test_an_undefined_fad_is_null_in_the_results_not_nan():
    """JSON has no NaN: one generated clip (no covariance) gives FAD null, under 8 FAD-inf null; the written
    file parses under a strict reader (Python's json with NaN refused)."""
    import json

    from grounding_eval.kinds.generative.distances import fad_inf
    from grounding_eval.kinds.generative.results import FadScore

    rng = np.random.default_rng(0)
    ref = rng.standard_normal((20, 4))
    one = fad_inf(rng.standard_normal((1, 4)), ref)
    assert one["fad"] is None and one["fad_inf"] is None and one["n_generated"] == 1
    few = fad_inf(rng.standard_normal((5, 4)), ref)
    assert few["fad"] > 0 and few["fad_inf"] is None
    many = fad_inf(rng.standard_normal((12, 4)), ref)
    assert np.isfinite(many["fad"]) and np.isfinite(many["fad_inf"])
    text = FadScore.model_validate(one).model_dump_json()
    json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # NaN/Infinity refused
