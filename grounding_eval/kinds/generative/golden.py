"""The generative golden check (`.ci/golden-check`): a fresh offline generative run (the template baseline on
the notes tier) against its committed result, every number compared.

Compared: what became of every program (its outcome kind, exact; its clip's rank), each system's outcomes
(counts, valid-audio rate and its Wilson interval), every score set (the system's valid clips, with failures
as silence, shuffled prompts; the silence, white-noise and split-half controls): accuracy@K and MRR (mean and
bootstrap interval), KAD (mean and interval over concepts), FAD and FAD-inf; the notes tier's pitch and
duration errors; the paired tests; chance. Same inputs on the same kind of machine give identical numbers
(two runs here: identical `results`). What another CPU may change, and so each tolerance, derived from the
result itself, never a fixed share:

Per-clip scores (accuracy@K, MRR). The judge ranks each clip's embedding among all concepts; another CPU's
float rounding may swap two concepts whose similarities to one clip nearly tie: ONE flip. It moves the rank
by 1 of every clip with that waveform whose target concept is one of the two (clips with the same waveform
have the same embedding, so they flip together: the template plays one tone per pitch for all ten
instruments and both samples, the silence and white-noise floors are one clip repeated). A clip's value
moves by f = 1 for accuracy@K (it crosses the top-K boundary), at most 1/2 for MRR (rank 1 <-> 2). With
n_wc the clips of waveform w scored against concept c (the file says which clips share a waveform: the same
`sha256` of a system's executions, a failure being the silent clip; a floor's clips are one waveform with the
prompts' concepts; split-half references are distinct) and n the set's clips:

  mean of a set           f * max_w (max_c n_wc - min_c n_wc) / n    (the A clips lose what the B clips gain:
                          one flip changes the sum by f * |n_wA - n_wB|; 0 when every concept has as many
                          clips of each waveform, as for the template and the floors)
  interval ends           f * max_w (largest two n_wc together) / n  (the bootstrap's replicates draw each of
                          the flip's clips once on average; recomputing the interval for every single flip of
                          the template's clips stays within it: tests/test_generative_golden.py)
  a clip's rank           1, and no more clips moved than one flip touches (the largest two n_wc of a waveform)
  shuffled prompts        as the valid clips (the derangement permutes concepts: the same n_wc up to order)

Outcomes (kinds, counts, valid-audio rate and its Wilson interval), clip counts, n, chance: exact (the
programs are deterministic; the template's waveforms are bit-identical run to run).

KAD and FAD: smooth functions of the embeddings, which another CPU's float32 kernels (the audio encoder's
convolutions, the resampler) move by ~1e-7..1e-6 relative. Measured on this task's aisfx vectors: embeddings
perturbed by 1e-5 relative moved KAD by <= 1.6e-4 (KAD units) and FAD by <= 2.8e-6 relative; by 1e-4, KAD by
2.1e-3 and FAD by 1.6e-5 relative. So:
  KAD (x1000 MMD², a difference of kernel means in [0, 1], near 0 for matching sets: a tolerance relative to
  KAD itself would be none there): KAD_REL_TOL x 1000 = 0.01 on every per-concept mean, the mean and interval
  ends (a shift of every concept's KAD by at most that moves each bootstrap replicate, so each percentile,
  by at most that);
  FAD and FAD-inf: FAD_REL_TOL = 1e-4 of the set's larger |FAD|, |FAD-inf| (6x what a 1e-4 perturbation did).
Pitch error (YIN on float64 of the clip; a 1-ulp float32 change of the clip moves f0 by ~1e-7 relative, 2e-4
cents): PITCH_CENTS_TOL = 0.01 cents on the mean, interval and median. Threshold decisions (within 50 cents,
octave error, unvoiced) may flip for one clip at its threshold: one clip (1/n of a share, 1 of a count).
Duration error: the sounding span is whole 10 ms frames (`pitch.sounding_span`), one clip's end may move one
frame: hop / n on the mean and interval ends.

Paired tests (system vs shuffled prompts): the mean difference by the sum of its two sides' tolerances. Their
p-values cannot be recomputed from the file (the shuffled clips' ranks and the per-concept KADs are not
stored), so each may move by the share of units one flip (or, for KAD, one concept's rounding) touches; when
the golden mean difference is itself within its tolerance of 0 (the template: matched and shuffled scores are
equal by construction, so the difference is float noise), the p-value is left free (tolerance 1) and counted.

What must be identical (exit 2 before any number): task version, scored config (`grounding_eval.compare`),
the whole config (generator settings included: other samples are other numbers), embedder, judge, dataset,
prompts, the generator's identity (the template's programs). Not compared: the executions' `sha256` (a hash
of the WAV file, whose header holds a timestamp: it differs run to run for the same samples), `seconds`,
timings, the cache counts, the environment.

    python -m grounding_eval.kinds.generative.golden NEW.json GOLDEN.json
    exit 0  nothing moved beyond its tolerance
    exit 1  a number moved (each listed with its field, golden, new, difference and tolerance)
    exit 2  the two runs do not measure the same thing, or bad input
"""

from __future__ import annotations

import inspect
import math
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from grounding_eval.audio.pitch import sounding_span
from grounding_eval.compare import setup_differences as kind_setup_differences
from grounding_eval.golden import Check, GoldenComparison, golden_main
from grounding_eval.metrics import rank_score
from grounding_eval.validation import first_difference

FLIP_SIZE = {"accuracy@": 1.0, "mrr": 0.5}  # what one clip's value moves by in one near-tie flip
KAD_SCALE = 1000.0  # KAD is MMD² x 1000 (the unit in the file)
KAD_REL_TOL = 1e-5  # of KAD_SCALE: 0.01 KAD units
FAD_REL_TOL = 1e-4
PITCH_CENTS_TOL = 0.01
DURATION_HOP_S = float(inspect.signature(sounding_span).parameters["hop"].default)  # its frame: 10 ms
SILENT = "<silent clip>"  # the waveform every failure (and the silence floor) is scored as
SCORE_SET_NAMES = ("valid_only", "failures_as_silence", "shuffled_prompts")
P_KEYS = ("p_sign_flip", "p_t_test", "p_value")


def flip_size(metric: str) -> float:
    for prefix, size in FLIP_SIZE.items():
        if metric.startswith(prefix):
            return size
    return 1.0


@dataclass(frozen=True)
class Layout:
    """Which clips of a score set share a waveform and which concept each is scored against: (waveform, concept)
    per clip. From it, how many clips ONE near-tie flip can move."""

    clips: tuple[tuple[str, str], ...]
    concepts: tuple[str, ...]

    def _counts(self) -> dict[str, Counter]:
        out: dict[str, Counter] = {}
        for wave, concept in self.clips:
            out.setdefault(wave, Counter())[concept] += 1
        return out

    @property
    def net(self) -> int:
        """The largest |n_wA - n_wB|: how many clips' worth one flip can move a mean by."""
        worst = 0
        for counts in self._counts().values():
            per = [counts.get(c, 0) for c in set(self.concepts) | set(counts)]  # a concept without clips: 0
            worst = max(worst, max(per) - min(per))
        return worst

    @property
    def touched(self) -> int:
        """The largest n_wA + n_wB: how many clips one flip moves at all."""
        return max((sum(n for _, n in counts.most_common(2)) for counts in self._counts().values()), default=0)


def layouts(task: dict[str, Any], result: dict[str, Any]) -> dict[str, Layout]:
    """The layout of every score set, by its place in `results.<task>.results` ("systems.S.valid_only", ...)."""
    concepts = tuple(task["concepts"])
    concept_of = {p["id"]: p["concept"] for p in task["prompts"]}
    out: dict[str, Layout] = {}
    for system, clips in task["executions"].items():
        valid = tuple((c.get("sha256") or c["prompt_id"], concept_of[c["prompt_id"]]) for c in clips if c["kind"] == "ok")
        every = tuple((c.get("sha256") or SILENT, concept_of[c["prompt_id"]]) if c["kind"] == "ok"
                      else (SILENT, concept_of[c["prompt_id"]]) for c in clips)
        for name, lay in (("valid_only", valid), ("failures_as_silence", every), ("shuffled_prompts", valid)):
            out[f"systems.{system}.{name}"] = Layout(lay, concepts)
    floor = tuple((SILENT, p["concept"]) for p in task["prompts"] for _ in range(task["n_samples"]))
    for control, scores in result["results"].get("controls", {}).items():
        if control in ("silence", "white_noise"):  # one clip repeated for every (prompt, sample)
            out[f"controls.{control}"] = Layout(floor, concepts)
        else:  # split half: references, each its own recording
            out[f"controls.{control}"] = Layout(tuple((f"reference {i}", "?") for i in range(scores["n_clips"])), concepts)
    return out


def setup_differences(golden: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes the two runs measure different things (exit 2): the kinds' shared rules
    (`grounding_eval.compare.setup_differences`), then the whole config and the generator's identity."""
    if set(golden["results"]) != set(new["results"]):
        return [f"results: tasks {sorted(golden['results'])} (golden) vs {sorted(new['results'])} (new)"]
    if golden.get("kind") != new.get("kind"):
        return [f"kind: {golden.get('kind')!r} (golden) vs {new.get('kind')!r} (new)"]
    out: list[str] = []
    gi, ni = golden["model"].get("identity"), new["model"].get("identity")
    if gi != ni:
        out.append(f"model.identity.{first_difference(gi, ni)}: the generator differs")
    for task in golden["results"]:
        out += kind_setup_differences(golden, new, task)[0]
        where = first_difference(golden["tasks"][task]["config"], new["tasks"][task]["config"])
        if where:
            out.append(f"tasks.{task}.config.{where}: the task config differs")
    return out


def compare_golden(golden: dict[str, Any], new: dict[str, Any]) -> tuple[list[Check], list[str]]:
    """(every number compared with its tolerance, every field that must be identical and is not)."""
    return _Comparison().compare(golden, new)


def _missing(v: Any) -> bool:
    """None (nothing scored, or an undefined FAD written as null) or NaN (not computable, older files)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


class _Comparison(GoldenComparison):

    def number(self, where: str, group: str, golden: Any, new: Any, tolerance: float) -> None:
        """A number with its tolerance; a missing one (see _missing) must be missing in both."""
        if _missing(golden) or _missing(new):
            self.same(where, None if _missing(golden) else golden, None if _missing(new) else new)
        else:
            self.checks.append(Check(where, group, float(golden), float(new), tolerance))

    def task(self, task: str, golden: dict[str, Any], new: dict[str, Any]) -> None:
        gt, nt = golden["tasks"][task], new["tasks"][task]
        gr, nr = golden["results"][task], new["results"][task]
        for key in ("main_metric", "chance"):
            self.same(f"results.{task}.{key}", gr[key], nr[key])
        self.same(f"tasks.{task}.executions: systems", sorted(gt["executions"]), sorted(nt["executions"]))
        lay = layouts(gt, gr)
        for system in gt["executions"]:
            self.ranks(f"tasks.{task}.executions.{system}", system, gt["executions"][system],
                       nt["executions"].get(system, []), lay[f"systems.{system}.failures_as_silence"])
        g, n = gr["results"], nr["results"]
        self.same(f"results.{task}.results.systems", sorted(g["systems"]), sorted(n["systems"]))
        for system, gs in g["systems"].items():
            ns = n["systems"].get(system)
            if ns is not None:
                self.system(f"results.{task}.results.systems.{system}", system, gs, ns, lay)
        self.same(f"results.{task}.results.controls", sorted(g.get("controls", {})), sorted(n.get("controls", {})))
        for control, gc in g.get("controls", {}).items():
            if control in n.get("controls", {}):
                self.score_set(f"results.{task}.results.controls.{control}", f"control {control}", gc,
                               n["controls"][control], lay[f"controls.{control}"])
        self.paired(f"results.{task}.results.paired_tests", g.get("paired_tests", {}), n.get("paired_tests", {}), gr, lay)

    def ranks(self, where: str, system: str, golden: list[dict[str, Any]], new: list[dict[str, Any]], lay: Layout) -> None:
        """Each program's outcome (exact) and its clip's rank (one flip: 1), and how many ranks moved."""
        if [(c["prompt_id"], c["sample"]) for c in golden] != [(c["prompt_id"], c["sample"]) for c in new]:
            self.exact.append(f"{where}: other (prompt, sample) programs ({len(golden)} golden, {len(new)} new)")
            return
        group = f"{system}: per-clip ranks"
        for i, (g, n) in enumerate(zip(golden, new)):
            self.same(f"{where}.{i}.kind", g["kind"], n["kind"])
            for key in ("n_samples", "sample_rate"):
                self.same(f"{where}.{i}.{key}", g.get(key), n.get(key))
            self.number(f"{where}.{i}.rank", group, g.get("rank"), n.get("rank"), 1.0)
        moved = sum(1 for g, n in zip(golden, new) if g.get("rank") != n.get("rank"))
        self.checks.append(Check(f"{where}: clips whose rank moved", group, 0.0, float(moved), float(lay.touched)))

    def system(self, where: str, system: str, g: dict[str, Any], n: dict[str, Any], lay: dict[str, Layout]) -> None:
        """Outcomes (exact), each score set, the notes tier's errors."""
        go, no = g["outcomes"], n["outcomes"]
        for key in ("n", "counts", "interval"):
            self.same(f"{where}.outcomes.{key}", go[key], no[key])
        group = f"{system}: valid rate (exact)"
        self.number(f"{where}.outcomes.valid_rate", group, go["valid_rate"], no["valid_rate"], 0.0)
        for end, name in enumerate(("low", "high")):
            self.number(f"{where}.outcomes.valid_rate_interval.{name}", group, go["valid_rate_interval"][end],
                        no["valid_rate_interval"][end], 0.0)
        for name in SCORE_SET_NAMES:
            if (g.get(name) is None) != (n.get(name) is None):
                self.exact.append(f"{where}.{name}: in one run only")
            elif g.get(name) is not None:
                self.score_set(f"{where}.{name}", f"{system} {name.replace('_', ' ')}", g[name], n[name],
                               lay[f"systems.{system}.{name}"])
        if (g.get("notes") is None) != (n.get("notes") is None):
            self.exact.append(f"{where}.notes: in one run only")
        elif g.get("notes") is not None:
            self.notes(f"{where}.notes", f"{system}: pitch and duration", g["notes"], n["notes"])

    def score_set(self, where: str, name: str, g: dict[str, Any], n: dict[str, Any], lay: Layout) -> None:
        """accuracy@K and MRR (one flip of the layout), KAD and FAD (float rounding)."""
        self.same(f"{where}.n_clips", g["n_clips"], n["n_clips"])
        metrics = [k for k, v in g.items() if isinstance(v, dict) and "mean" in v and rank_score(k, 1) is not None]
        self.same(f"{where}: scores", sorted(k for k in g if k != "note"), sorted(k for k in n if k != "note"))
        for metric in metrics:
            if metric not in n:
                continue
            clips = max(int(g[metric]["n"]), 1)
            f = flip_size(metric)
            self.interval(f"{where}.{metric}", f"{name}: accuracy and MRR", g[metric], n[metric],
                          f * lay.net / clips, f * lay.touched / clips)
        if g.get("kad") and n.get("kad"):
            tol = KAD_REL_TOL * KAD_SCALE
            self.interval(f"{where}.kad", "KAD (all sets)", g["kad"], n["kad"], tol, tol)
        if g.get("fad") and n.get("fad"):
            for key in ("n_generated", "n_reference"):
                self.same(f"{where}.fad.{key}", g["fad"][key], n["fad"][key])
            scale = max((abs(v) for v in (g["fad"]["fad"], g["fad"]["fad_inf"]) if not _missing(v)), default=0.0)
            for key in ("fad", "fad_inf"):
                self.number(f"{where}.fad.{key}", "FAD and FAD-inf (all sets)", g["fad"][key], n["fad"][key],
                            FAD_REL_TOL * scale)

    def interval(self, where: str, group: str, g: dict[str, Any], n: dict[str, Any], mean_tol: float, end_tol: float) -> None:
        self.same(f"{where}.n", g["n"], n["n"])
        self.number(f"{where}.mean", f"{group}: means", g["mean"], n["mean"], mean_tol)
        if (g.get("ci") is None) != (n.get("ci") is None):
            self.exact.append(f"{where}.ci: in one run only")
        elif g.get("ci") is not None:
            for end, name in enumerate(("low", "high")):
                self.number(f"{where}.ci.{name}", f"{group}: intervals", g["ci"][end], n["ci"][end], end_tol)

    def notes(self, where: str, group: str, g: dict[str, Any], n: dict[str, Any]) -> None:
        """Pitch error (float rounding), the threshold decisions (one clip), duration (one frame of one clip)."""
        self.interval(f"{where}.pitch_error_cents", group, g["pitch_error_cents"], n["pitch_error_cents"],
                      PITCH_CENTS_TOL, PITCH_CENTS_TOL)
        self.number(f"{where}.pitch_error_cents_median", f"{group}: means", g["pitch_error_cents_median"],
                    n["pitch_error_cents_median"], PITCH_CENTS_TOL)
        share = 1.0 / max(int(g["within_50_cents"]["n"]), 1)
        self.interval(f"{where}.within_50_cents", group, g["within_50_cents"], n["within_50_cents"], share, share)
        for key in ("octave_errors", "unvoiced"):
            self.number(f"{where}.{key}", f"{group}: counts", g[key], n[key], 1.0)
        frame = DURATION_HOP_S / max(int(g["duration_error_s"]["n"]), 1)
        self.interval(f"{where}.duration_error_s", group, g["duration_error_s"], n["duration_error_s"], frame, frame)

    def paired(self, where_part: str, golden: dict[str, Any], new: dict[str, Any], result: dict[str, Any],
               lay: dict[str, Layout]) -> None:
        """Each system vs its shuffled prompts: the mean difference, and the p-values (see the docstring)."""
        self.same(where_part, sorted(golden), sorted(new))
        for test, by_metric in golden.items():
            system = test.removesuffix("_vs_shuffled_prompts")
            for metric, pg in by_metric.items():
                pn = new.get(test, {}).get(metric)
                where = f"{where_part}.{test}.{metric}"
                if pn is None:
                    self.exact.append(f"{where}: missing in the new run")
                    continue
                for key in ("n", "method", "alternative", "note"):
                    self.same(f"{where}.{key}", pg.get(key), pn.get(key))
                units = max(int(pg["n"]), 1)
                if metric == "kad":
                    tol, share = 2 * KAD_REL_TOL * KAD_SCALE, 1.0 / units
                else:
                    valid, shuffled = lay[f"systems.{system}.valid_only"], lay[f"systems.{system}.shuffled_prompts"]
                    tol = flip_size(metric) * (valid.net + shuffled.net) / units
                    share = min(1.0, (valid.touched + shuffled.touched) / units)
                group = f"paired tests: {system} vs shuffled prompts"
                self.number(f"{where}.mean_difference", group, pg["mean_difference"], pn["mean_difference"], tol)
                undecided = abs(pg["mean_difference"]) <= tol + 1e-12
                for key in P_KEYS:
                    self.number(f"{where}.{key}", group + (" (p free: difference ~ 0)" if undecided else ""),
                                pg.get(key), pn.get(key), 1.0 if undecided else share)


def main(argv: Sequence[str] | None = None) -> int:
    return golden_main(argv, "grounding_eval.kinds.generative.golden", setup_differences, compare_golden,
                       what="generative golden check", flip="near-tie flip / float rounding")


if __name__ == "__main__":
    sys.exit(main())
