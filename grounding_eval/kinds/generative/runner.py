"""`evaluate_generative()`: task -> references -> prompts -> generations (cached) -> guarded execution
(cached) -> embeddings (cached) -> scores beside the template baseline and the controls -> results.

Systems scored the same way: the model, and the template baseline (no LM). Each is scored twice: over
its valid clips, and with every failure counted as a silent clip (so failing on hard prompts cannot help).
Controls: shuffled prompts (each clip scored against another concept; paired test vs matched), silence
and white-noise floors (one per generated sample), and the references split in half (the best score
reachable at that N).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import soundfile as sf
from pydantic import ValidationError
from rich.console import Console

from grounding_eval import embedding, paths, plugins
from grounding_eval.atomic import atomic_write, atomic_write_json
from grounding_eval.audio.io import load_audio, resample
from grounding_eval.audio.pitch import note_errors
from grounding_eval.cache import EmbeddingCache
from grounding_eval.data.base import Instance
from grounding_eval.data.notes import frequency
from grounding_eval.encoders import stable_hash
from grounding_eval.errors import GroundingEvalError
from grounding_eval.heads.config import ProbeConfig
from grounding_eval.heads.contrastive import fit_probe
from grounding_eval.kinds.generative.base import Prompt
from grounding_eval.kinds.generative.clap_score import ClapScorer, clap_scores, load_clap
from grounding_eval.kinds.generative.config import GenerativeTaskConfig
from grounding_eval.kinds.generative.distances import fad_inf, per_class_kad
from grounding_eval.kinds.generative.executor import Execution
from grounding_eval.kinds.generative.generators import (
    GenerationCache,
    ReplayGenerator,
    TemplateGenerator,
    write_generations,
)
from grounding_eval.kinds.generative.outcomes import KINDS, OK, count_outcomes
from grounding_eval.kinds.generative.results import (
    ClapScores,
    ExecutionRecord,
    GenerativePairedTest,
    GenerativeScores,
    GenerativeTaskRecord,
    GenerativeTaskResult,
    NoteScores,
    Outcomes,
    ScoreSet,
    SystemScores,
)
from grounding_eval.metrics import accuracy_at_k_chance, mrr_chance, true_ranks
from grounding_eval.progress import Reporter
from grounding_eval.registry import check_args
from grounding_eval.results import describe_error
from grounding_eval.stats import mean_interval, paired_tests

SCORE_RATE = 16000  # generated clips are stored at this rate (the embedder resamples to its own)


def code_execution_refusal(name: str) -> GroundingEvalError:
    return GroundingEvalError(f"task {name} runs model-written code (unsafe_code: true): add --allow-code-execution "
                              f"to run it (a guard, not a security boundary: docs/generative.md); nothing was executed")


def build_prompts(cfg: GenerativeTaskConfig, concepts: Sequence[Any]) -> list[Prompt]:
    """One prompt per concept, or per (concept, note) for the notes tier; ids are stable across runs."""
    out = []
    for c in concepts:
        slug = "".join(ch if ch.isalnum() else "_" for ch in c.name.lower()).strip("_")
        base = {"concept": c.text, "duration": cfg.prompts.duration, "sample_rate": cfg.sample_rate}
        if cfg.prompts.notes:
            for note in cfg.prompts.notes:
                fields = {**base, "note": note, "frequency": round(frequency(note), 2)}
                out.append(Prompt(f"{slug}_{note.replace('#', 's')}", c.name, cfg.prompts.template.format(**fields), fields))
        else:
            out.append(Prompt(slug, c.name, cfg.prompts.template.format(**base), base))
    return out


# ---- execution, cached ---------------------------------------------------------------------------------

class ExecutionCache:
    """Outcome (+ the waveform, as a 16 kHz WAV the harness wrote from the pipe's samples) per
    (executor identity, text); a re-score reruns no program. A record that does not fit `ExecutionRecord`
    (an unknown kind, a field of the wrong type: written by an older harness, or by hand), or an ok whose
    clip does not match its hash, is recomputed, never replayed."""

    def __init__(self, root: Path, executor_key: str, enabled: bool = True):
        self.dir = root / executor_key[:16]
        self.enabled = enabled

    def key(self, text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, text: str) -> tuple[dict, Path | None] | None:
        if not self.enabled:
            return None
        k = self.key(text)
        try:
            rec = ExecutionRecord.model_validate(json.loads((self.dir / f"{k}.json").read_text()))
        except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
            return None
        if rec.kind != OK:
            return rec.model_dump(exclude_none=True), None
        wav = self.dir / f"{k}.wav"
        try:
            intact = rec.sha256 is not None and hashlib.sha256(wav.read_bytes()).hexdigest() == rec.sha256
        except OSError:
            intact = False
        return (rec.model_dump(exclude_none=True), wav) if intact and rec.n_samples and rec.sample_rate else None

    def put(self, text: str, ex: Execution) -> tuple[dict, Path | None]:
        k = self.key(text)
        rec = ex.record()
        wav = None
        if ex.kind == OK:
            wave = _to_score_rate(ex.waveform, int(ex.sample_rate))
            wav = self.dir / f"{k}.wav"
            atomic_write(wav, lambda f: _write_wav(f, wave))
            rec["sha256"] = hashlib.sha256(wav.read_bytes()).hexdigest()
        if self.enabled or ex.kind == OK:
            atomic_write_json(self.dir / f"{k}.json", rec)
        return rec, wav


def _to_score_rate(wave: np.ndarray, rate: int) -> np.ndarray:
    out = resample(np.asarray(wave, np.float32), rate, SCORE_RATE)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return out / peak if peak > 1.0 else out  # clipping programs are scaled, not clipped


def _write_wav(f, wave: np.ndarray) -> None:
    buf = io.BytesIO()
    sf.write(buf, wave, SCORE_RATE, subtype="FLOAT", format="WAV")
    f.write(buf.getvalue())


@dataclass
class SystemClips:
    """One system's (model or template) programs and what became of each, in (prompt, sample) order."""

    name: str
    prompts: list[Prompt]
    texts: list[list[str]]
    records: list[dict]  # flattened (prompt, sample)
    wavs: list[Path | None]
    prompt_index: list[int]  # flattened -> prompt index


def run_programs(name: str, prompts: list[Prompt], texts: list[list[str]], executor, cache: ExecutionCache,
                 rep) -> SystemClips:
    flat = [(i, t) for i, ts in enumerate(texts) for t in ts]
    records: list[dict] = []
    wavs: list[Path | None] = []
    with rep.bar(f"run programs: {name}", len(flat)) as advance:
        for _, text in flat:
            hit = cache.get(text)
            if hit is None:
                hit = cache.put(text, _checked(executor, executor.run(text)))
            records.append(hit[0])
            wavs.append(hit[1])
            advance(1)
    return SystemClips(name, prompts, texts, records, wavs, [i for i, _ in flat])


def _checked(executor, ex: Execution) -> Execution:
    """An executor's outcome, refused in one line when it is not a kind the harness counts (a plugin's bug)."""
    try:
        ExecutionRecord.model_validate(ex.record())
    except ValidationError as exc:
        raise GroundingEvalError(f"executor {getattr(executor, 'name', type(executor).__name__)} returned outcome "
                                 f"{ex.kind!r} ({describe_error(exc.errors()[0])}): valid kinds: {', '.join(KINDS)}") from None
    return ex


# ---- scoring -------------------------------------------------------------------------------------------

def _wav_instance(path: Path, concept: str, ident: str) -> Instance:
    return Instance(id=ident, concept=concept, source=str(path), content_hash=hashlib.sha256(path.read_bytes()).hexdigest())


def _floor_clip(root: Path, kind: str, seconds: float, seed: int) -> Path:
    """A silent or white-noise clip written by the harness (the floors); same seed, same file."""
    path = root / f"{kind}_{seconds:g}s_{seed}.wav"
    if not path.is_file():
        n = int(SCORE_RATE * seconds)
        wave = (np.zeros(n, np.float32) if kind == "silence"
                else (0.3 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32))
        atomic_write(path, lambda f: _write_wav(f, wave))
    return path


def _derangement(n: int, seed: int) -> np.ndarray:
    """A permutation with no fixed point (each concept paired with another), seeded."""
    rng = np.random.default_rng([seed, 0x5F1])
    while True:
        p = rng.permutation(n)
        if n < 2 or not np.any(p == np.arange(n)):
            return p


class Judge:
    """The weight-free text-audio score: probes trained on the reference clips (text side: the judge's
    text encoder on `judge_prompt`), averaged over seeds, rank each clip among ALL concepts."""

    def __init__(self, text_vecs: np.ndarray, ref_vecs: np.ndarray, ref_concept: np.ndarray, seeds: int, base_seed: int):
        self.text, self.ref, self.ref_concept = text_vecs, ref_vecs, ref_concept
        self.seeds = [base_seed + s for s in range(seeds)]

    def similarity(self, clips: np.ndarray, train_mask: np.ndarray | None = None) -> np.ndarray:
        if len(clips) == 0:
            return np.zeros((0, len(self.text)))
        ref_c = self.ref_concept if train_mask is None else np.where(train_mask, self.ref_concept, -1)
        # Generated clips join as rows of no concept (-1): scored, never trained on, not in the z-scoring.
        rows = np.concatenate([self.ref, clips])
        concept = np.concatenate([ref_c, np.full(len(clips), -1)])
        score = np.arange(len(self.ref), len(rows))
        sims = [fit_probe(self.text, rows, concept, np.unique(ref_c[ref_c >= 0]), score, ProbeConfig(), seed).similarity()
                for seed in self.seeds]
        return np.mean(sims, axis=0)


@dataclass(frozen=True)
class Judged:
    """One set of clips scored by the judge: its scores (as written), and what the paired tests and the
    executions' ranks are computed from (not written as such)."""

    scores: ScoreSet
    ranks: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # per clip: its target concept's rank
    kad_per_concept: dict[int, float] = field(default_factory=dict)


def score_set(vecs: np.ndarray, concept: np.ndarray, ref_vecs: np.ndarray, ref_concept: np.ndarray,
              sim: np.ndarray, k: list[int], cfg: GenerativeTaskConfig, seed: int,
              pairing: np.ndarray | None = None, note: str | None = None) -> Judged:
    """FAD/FAD-inf (pooled), KAD (per concept, averaged; interval over concepts), accuracy@K and MRR with
    bootstrap intervals over clips. `pairing[c]`: score concept c's clips against concept pairing[c]."""
    sc = cfg.scoring
    target = concept if pairing is None else pairing[concept]
    out: dict[str, Any] = {"n_clips": int(len(vecs))}
    if len(vecs) == 0:
        return Judged(ScoreSet.model_validate(out))
    ranks = true_ranks(sim, target)
    for kk in k:
        out[f"accuracy@{kk}"] = mean_interval((ranks <= kk).astype(float), sc.bootstrap_resamples, sc.confidence, seed)
    out["mrr"] = mean_interval(1.0 / ranks, sc.bootstrap_resamples, sc.confidence, seed)
    kads = per_class_kad(vecs, concept, ref_vecs, ref_concept, None if pairing is None else {int(c): int(pairing[c]) for c in np.unique(concept)})
    per = np.array([v for v in kads.values() if np.isfinite(v)])
    out["kad"] = mean_interval(per, sc.bootstrap_resamples, sc.confidence, seed)
    out["kad"]["unit"] = "MMD^2 x 1000, per concept, mean over concepts"
    if pairing is None:
        out["fad"] = fad_inf(vecs, ref_vecs, seed=seed)
    if note is not None:
        out["note"] = note
    return Judged(ScoreSet.model_validate(out), ranks, kads)


def _pitch_scores(clips: SystemClips, idx: list[int], cfg: GenerativeTaskConfig, seed: int) -> NoteScores:
    cents, octave, dur = [], [], []
    for j in idx:
        p = clips.prompts[clips.prompt_index[j]]
        if "frequency" not in p.fields or clips.wavs[j] is None:
            continue
        wave = load_audio(str(clips.wavs[j]), SCORE_RATE)
        e = note_errors(wave, SCORE_RATE, float(p.fields["frequency"]), float(p.fields["duration"]))
        cents.append(e["pitch_error_cents"])
        octave.append(e["octave_error"])
        dur.append(e["duration_error_s"])
    sc = cfg.scoring
    voiced = [c for c in cents if c is not None]
    return NoteScores.model_validate({"pitch_error_cents": mean_interval(np.array(voiced, float), sc.bootstrap_resamples, sc.confidence, seed),
            "pitch_error_cents_median": float(np.median(voiced)) if voiced else None,
            "within_50_cents": mean_interval(np.array([float(c <= 50) for c in voiced]), sc.bootstrap_resamples, sc.confidence, seed),
            "octave_errors": int(sum(o for o in octave if o)), "unvoiced": int(sum(c is None for c in cents)),
            "duration_error_s": mean_interval(np.array(dur, float), sc.bootstrap_resamples, sc.confidence, seed)})


# ---- the whole flow: short named steps ------------------------------------------------------------------

@dataclass
class TaskRun:
    """What the steps of one generative task share."""

    name: str
    cfg: GenerativeTaskConfig
    regs: Any
    rep: Any
    root: Path  # cache root: generations, executions, floors
    cache: Any  # EmbeddingCache
    device: str | None
    batch_size: int | None
    controls: list[str]
    timing: dict[str, float]
    mark: float = 0.0

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timing[stage] = round(now - (self.mark or now), 3)
        self.mark = now


def resolve_options(cfg: GenerativeTaskConfig, seed: int | None, n_samples: int | None, limit: int | None) -> GenerativeTaskConfig:
    """--seed, --n-samples and --limit (references per concept) over the task's values."""
    if seed is not None:
        cfg = cfg.with_overrides(**{"generator.seed": seed})
    if n_samples is not None:
        cfg = cfg.with_overrides(**{"generator.n_samples": n_samples})
    if limit is not None:
        cfg = cfg.with_overrides(max_references_per_concept=max(2, limit))
    return cfg


def make_generator(run: TaskRun, model: str, load_generations: str | None):
    """Replay of a JSONL file, the template baseline (`--model template`), a plugin's generator
    (`--model NAME:MODEL`, NAME registered through `register_generators`), or the built-in `hf` generator."""
    if load_generations:
        return ReplayGenerator(load_generations)
    if model == "template":
        return TemplateGenerator.for_task(run.cfg)
    # `NAME:MODEL` picks a plugin's generator (a prefix in --model leaves the task file and its hash alone);
    # replay and template are chosen by --load-generations and --model template, never by a prefix
    plugged = [n for n in run.regs.generators.names() if n not in ("replay", "template")]
    name, model = embedding.split_model_kind(model, plugged)
    args = dict(run.cfg.generator.args)
    if run.device is not None:
        args.setdefault("device", run.device)
    if run.batch_size is not None:
        args["batch_size"] = run.batch_size
    entry = run.regs.generators.get(name)
    check_args(entry.obj, {"model": model, **args}, f"task {run.name}: generator.args", f"generator {name}")  # model: --model
    with run.rep.console.status(f"loading generator {name}: {model}"):
        return entry.obj(model=model, **args)


def make_executor(run: TaskRun):
    """The task's executor; made before anything is generated, so a refusal (no bubblewrap under sandbox: auto)
    costs seconds, not a generation."""
    cfg = run.cfg
    return run.regs.executors.build(cfg.executor.name, {"default_sample_rate": cfg.sample_rate, **cfg.executor.args},
                                    f"task {run.name}: executor.args")


def execute(run: TaskRun, model: str, generator, prompts: list[Prompt], texts: list[list[str]], gcache: GenerationCache,
            executor):
    """The model's programs and (control `template`) the template baseline's, through the cached executor."""
    cfg = run.cfg
    ecache = ExecutionCache(run.root / "executions", stable_hash(executor.identity()), enabled=run.cache.enabled)
    systems = [run_programs("template" if model == "template" else generator.name, prompts, texts, executor, ecache, run.rep)]
    if "template" in run.controls and model != "template":
        tgen = TemplateGenerator.for_task(cfg)
        ttexts, _ = gcache.generate(tgen, prompts, cfg.generator.n_samples, cfg.generator.seed)
        systems.append(run_programs("template", prompts, ttexts, executor, ecache, run.rep))
    return executor, systems


@dataclass
class Embedded:
    """Every vector the scores need: references, each system's valid clips (in order), the floors."""

    embedder: Any
    refs: np.ndarray
    ref_concept: np.ndarray
    generated: dict[str, np.ndarray]  # system -> (valid clips, dim)
    floors: dict[str, np.ndarray]  # "silence" / "white_noise" -> (dim,)
    stats: dict[str, int]


def embed(run: TaskRun, refs: list[Instance], index: dict[str, int], systems: list[SystemClips], embedder=None) -> Embedded:
    """Vectors of the references, every valid clip and the floors: by the task's embedder, or `embedder`."""
    embedder = embedder or embedding.perception_encoder(run.name, run.cfg, run.regs, run.device or "cpu", run.batch_size)
    floor_paths = {kind: _floor_clip(run.root / "generated_floors", kind, run.cfg.prompts.duration, 0)
                   for kind in ("silence", "white_noise")}
    gen = {s.name: [_wav_instance(w, s.prompts[s.prompt_index[j]].concept, f"{s.name}:{j}")
                    for j, w in enumerate(s.wavs) if w is not None] for s in systems}
    everything = refs + [i for items in gen.values() for i in items] + [_wav_instance(p, "-", k) for k, p in floor_paths.items()]
    vecs, stats = embedding.instance_vectors(embedder, everything, run.cache, run.rep)
    at, generated = len(refs), {}
    for s in systems:
        generated[s.name] = vecs[at:at + len(gen[s.name])]
        at += len(gen[s.name])
    floors = dict(zip(floor_paths, vecs[at:]))
    return Embedded(embedder, vecs[:len(refs)], np.array([index[r.concept] for r in refs]), generated, floors, stats)


def make_clap(run: TaskRun, concepts: list[Any], towers, refs: list[Instance], index: dict[str, int],
              systems: list[SystemClips]) -> tuple[ClapScorer, Embedded] | None:
    """The CLAP scorer (text vectors of the judge prompts) and every clip through CLAP's audio tower."""
    if towers is None:
        return None
    text_enc, audio_enc = towers
    prompt = run.cfg.scoring.judge_prompt
    texts = [prompt.format(concept=c.text) for c in concepts]
    spans = [embedding.concept_span(prompt, c.text) for c in concepts]
    vecs, _ = embedding.text_vectors(text_enc, texts, spans, run.cache, run.rep, f"CLAP text {run.cfg.scoring.clap}")
    vecs = np.asarray(vecs, np.float64)
    scorer = ClapScorer(run.cfg.scoring.clap, text_enc, audio_enc, vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(1e-12))
    return scorer, embed(run, refs, index, systems, audio_enc)


def make_judge(run: TaskRun, concepts: list[Any], emb: Embedded):
    """The text-audio judge: its own text encoder (never the model under test) on the concept names."""
    cfg = run.cfg
    text_enc = run.regs.text_encoders.get("hf").obj(cfg.scoring.text_encoder, **({"device": run.device} if run.device else {}))
    texts = [cfg.scoring.judge_prompt.format(concept=c.text) for c in concepts]
    spans = [embedding.concept_span(cfg.scoring.judge_prompt, c.text) for c in concepts]
    text_vecs, _ = embedding.text_vectors(text_enc, texts, spans, run.cache, run.rep, f"judge {cfg.scoring.text_encoder}")
    return text_enc, text_vecs, Judge(text_vecs, emb.refs, emb.ref_concept, cfg.scoring.probe_seeds, cfg.generator.seed)


@dataclass
class SystemJudged:
    """One system scored by the judge, before its CLAP scores join (`typed` builds what is written)."""

    outcomes: Outcomes
    valid_only: Judged
    failures_as_silence: Judged  # its `ranks` are the executions' ranks
    notes: NoteScores | None = None
    shuffled_prompts: Judged | None = None
    paired_tests: dict[str, GenerativePairedTest] | None = None  # matched vs shuffled prompts, per metric

    def typed(self, clap: ClapScores | None) -> SystemScores:
        """The system's scores as written; a part that was not scored is left out (not written as null)."""
        parts = {"outcomes": self.outcomes, "valid_only": self.valid_only.scores,
                 "failures_as_silence": self.failures_as_silence.scores, "notes": self.notes,
                 "shuffled_prompts": self.shuffled_prompts.scores if self.shuffled_prompts else None, "clap": clap}
        return SystemScores(**{key: value for key, value in parts.items() if value is not None})


def score_system(run: TaskRun, s: SystemClips, vecs: np.ndarray, index: dict[str, int], emb: Embedded, judge: Judge,
                 k: list[int]) -> SystemJudged:
    """Outcomes; scores over valid clips and with failures as silence; pitch; shuffled prompts + paired tests."""
    cfg, seed = run.cfg, run.cfg.generator.seed
    valid = [j for j, w in enumerate(s.wavs) if w is not None]
    concept = np.array([index[s.prompts[s.prompt_index[j]].concept] for j in valid], dtype=int)
    outcomes = Outcomes.model_validate(count_outcomes([r["kind"] for r in s.records], cfg.scoring.confidence))
    sim = judge.similarity(vecs)
    valid_only = score_set(vecs, concept, emb.refs, emb.ref_concept, sim, k, cfg, seed)
    all_concept = np.array([index[s.prompts[i].concept] for i in s.prompt_index], dtype=int)
    filled = np.repeat(emb.floors["silence"][None], len(s.wavs), 0)  # a failed sample counts as the silent clip
    filled[valid] = vecs
    failures = score_set(filled, all_concept, emb.refs, emb.ref_concept, judge.similarity(filled), k, cfg, seed)
    out = SystemJudged(outcomes, valid_only, failures)
    if cfg.prompts.notes:
        out.notes = _pitch_scores(s, valid, cfg, seed)
    n_concepts = len(judge.text)
    if "shuffled_prompts" in run.controls and len(valid) and n_concepts > 1:
        pairing = _derangement(n_concepts, seed)
        shuf = score_set(vecs, concept, emb.refs, emb.ref_concept, sim, k, cfg, seed, pairing=pairing)
        out.shuffled_prompts = shuf
        out.paired_tests = {"mrr": GenerativePairedTest.model_validate(
            paired_tests(list(1.0 / valid_only.ranks), list(1.0 / shuf.ranks), "sign_flip"))}
        # Lower KAD is better: the test is on shuffled minus matched, per concept, over the concepts whose KAD is
        # defined on both sides (KAD needs 2 clips of a concept: a NaN difference would make every sign pattern
        # fall short of it and print p = 0). None such: no KAD test, rather than a p-value of nothing.
        matched_kad, shuffled_kad = valid_only.kad_per_concept, shuf.kad_per_concept
        both = [c for c in shuffled_kad if math.isfinite(shuffled_kad[c]) and math.isfinite(matched_kad.get(c, math.nan))]
        if both:
            out.paired_tests["kad"] = GenerativePairedTest.model_validate(
                {**paired_tests([shuffled_kad[c] for c in both], [matched_kad[c] for c in both], "sign_flip"),
                 "note": "difference = shuffled KAD - matched KAD per concept"})
    return out


def score_controls(run: TaskRun, prompts: list[Prompt], index: dict[str, int], emb: Embedded, text_vecs: np.ndarray,
                   judge: Judge, k: list[int]) -> dict[str, ScoreSet]:
    """The silence and white-noise floors (one clip per sample) and the references split in half (the ceiling)."""
    cfg, seed = run.cfg, run.cfg.generator.seed
    out: dict[str, ScoreSet] = {}
    flat_concept = np.array([index[p.concept] for p in prompts for _ in range(cfg.generator.n_samples)], dtype=int)
    for kind in ("silence", "white_noise"):
        if kind in run.controls:
            vecs = np.repeat(emb.floors[kind][None], len(flat_concept), 0)
            out[kind] = score_set(vecs, flat_concept, emb.refs, emb.ref_concept, judge.similarity(vecs), k, cfg, seed).scores
    if "split_half" in run.controls:
        a = _half(emb.ref_concept, seed)
        b = ~a
        sim = Judge(text_vecs, emb.refs[b], emb.ref_concept[b], cfg.scoring.probe_seeds, seed).similarity(emb.refs[a])
        out["split_half"] = score_set(emb.refs[a], emb.ref_concept[a], emb.refs[b], emb.ref_concept[b], sim, k, cfg, seed,
                                      note="half of the references (per concept) scored against the other half; the "
                                           "judge trained on that other half only").scores
    return out


def _half(ref_concept: np.ndarray, seed: int) -> np.ndarray:
    """The split-half control's first half: half of each concept's references, seeded."""
    rng = np.random.default_rng([seed, 0x5A1F])
    half = np.zeros(len(ref_concept), bool)
    for c in np.unique(ref_concept):
        members = np.flatnonzero(ref_concept == c)
        half[rng.permutation(members)[: len(members) // 2]] = True
    return half


@dataclass(frozen=True)
class ClapParts:
    """The CLAP scores beside the judge's: each system's, and each control's."""

    systems: dict[str, ClapScores]
    controls: dict[str, ScoreSet]


def score_clap(run: TaskRun, clap: tuple[ClapScorer, Embedded], systems: list[SystemClips], prompts: list[Prompt],
               index: dict[str, int], k: list[int], judged: dict[str, SystemJudged], controls: dict[str, ScoreSet]) -> ClapParts:
    """The CLAP score beside the judge's: each system (valid clips, failures as silence, shuffled prompts when the
    judge scored them) and each control in `controls` (floors; split half = the references of the first half,
    CLAP needing no training)."""
    scorer, emb = clap
    sc, seed = run.cfg.scoring, run.cfg.generator.seed

    def score(vecs: np.ndarray, target: np.ndarray) -> ScoreSet:
        return ScoreSet.model_validate(
            clap_scores(scorer.similarity(vecs), target, k, lambda v: mean_interval(v, sc.bootstrap_resamples, sc.confidence, seed)))

    out = ClapParts({}, {})
    for s in systems:
        valid = [j for j, w in enumerate(s.wavs) if w is not None]
        concept = np.array([index[s.prompts[s.prompt_index[j]].concept] for j in valid], dtype=int)
        all_concept = np.array([index[s.prompts[i].concept] for i in s.prompt_index], dtype=int)
        filled = np.repeat(emb.floors["silence"][None], len(s.wavs), 0)  # a failed sample counts as the silent clip
        filled[valid] = emb.generated[s.name]
        parts = {"valid_only": score(emb.generated[s.name], concept), "failures_as_silence": score(filled, all_concept)}
        if judged[s.name].shuffled_prompts is not None:
            parts["shuffled_prompts"] = score(emb.generated[s.name], _derangement(len(scorer.text_vecs), seed)[concept])
        out.systems[s.name] = ClapScores(**parts)
    flat_concept = np.array([index[p.concept] for p in prompts for _ in range(run.cfg.generator.n_samples)], dtype=int)
    for kind in ("silence", "white_noise"):
        if kind in controls:
            out.controls[kind] = score(np.repeat(emb.floors[kind][None], len(flat_concept), 0), flat_concept)
    if "split_half" in controls:
        a = _half(emb.ref_concept, seed)
        out.controls["split_half"] = score(emb.refs[a], emb.ref_concept[a])
    return out


def task_scores(judged: dict[str, SystemJudged], controls: dict[str, ScoreSet], clap: ClapParts | None) -> GenerativeScores:
    """The results' `results.<task>.results`: the judge's scores with the CLAP scores (when any) beside them."""
    clap = clap or ClapParts({}, {})
    return GenerativeScores(
        systems={name: j.typed(clap.systems.get(name)) for name, j in judged.items()},
        controls={kind: c.model_copy(update={"clap": clap.controls[kind]}) if kind in clap.controls else c
                  for kind, c in controls.items()},
        paired_tests={f"{name}_vs_shuffled_prompts": j.paired_tests for name, j in judged.items() if j.paired_tests})


def executions(systems: list[SystemClips], judged: dict[str, SystemJudged]) -> dict[str, list[dict[str, Any]]]:
    """Per system, one record per (prompt, sample): what became of the program and its clip's rank."""
    out = {}
    for s in systems:
        ranks = [int(r) for r in judged[s.name].failures_as_silence.ranks]  # a failure: the silent clip's rank
        out[s.name] = [{"prompt_id": s.prompts[i].id, "sample": j - s.prompt_index.index(i), **r,
                        **({"rank": ranks[j]} if ranks else {})} for j, (i, r) in enumerate(zip(s.prompt_index, s.records))]
    return out


def task_record(run: TaskRun, ds, refs, prompts, generator, executor, systems, judged: dict[str, SystemJudged],
                emb: Embedded, text_enc, gen_stats, clap: ClapScorer | None, t0: float) -> GenerativeTaskRecord:
    """Everything needed to reproduce and audit the run (the results' `tasks` entry)."""
    cfg = run.cfg
    return GenerativeTaskRecord.model_validate({
        "version": cfg.version, "hash": cfg.content_hash(), "config": cfg.to_dict(),
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint(), "n_concepts": len(ds.concepts),
                    "n_references": len(refs), "provenance": ds.provenance},
        "concepts": [c.name for c in ds.concepts],
        "prompts": [{"id": p.id, "concept": p.concept, "text": p.text, "fields": p.fields} for p in prompts],
        "n_samples": cfg.generator.n_samples, "seed": cfg.generator.seed,
        "generator": generator.identity(), "executor": executor.identity(), "protections": executor.protections(),
        "embedder": {"name": emb.embedder.name, "identity": emb.embedder.identity(), "cache_key": emb.embedder.cache_key()},
        "judge_text_encoder": {"name": cfg.scoring.text_encoder, "identity": text_enc.identity()},
        "cache": {"generations": gen_stats, "embeddings": emb.stats},
        "executions": executions(systems, judged),
        "timing_seconds": {**run.timing, "total": round(time.perf_counter() - t0, 3)},
        "sample_size_note": ("FAD at the set's own N is biased by N (it grows as N shrinks): compare FAD only at equal N "
                             "and embedder, or use fad_inf (extrapolated to infinite N); KAD is unbiased at small N"),
        **({"clap": clap.identity()} if clap else {}),
    })


@dataclass(frozen=True)
class PlotInputs:
    """What the spectrogram figure (report.write_spectrograms) draws from: the clips and the references."""

    systems: list[SystemClips]
    refs: list[Instance]
    prompts: list[Prompt]


@dataclass(frozen=True)
class GenerativeRun:
    """What one generative task's run returns: its headline numbers (`results.<task>`), its record
    (`tasks.<task>`), and the figure's inputs."""

    result: GenerativeTaskResult
    record: GenerativeTaskRecord
    plot: PlotInputs


def evaluate_generative(model: str, name: str, cfg: GenerativeTaskConfig, *, allow_code_execution: bool = False,
                        generation_only: str | None = None, load_generations: str | None = None,
                        device: str | None = None, batch_size: int | None = None, seed: int | None = None,
                        n_samples: int | None = None, limit: int | None = None, controls: Sequence[str] | None = None,
                        cache_dir: str | None = None, use_cache: bool = True, rep=None) -> GenerativeRun | dict[str, str]:
    """Run one generative task for `model` ("template" = the no-LM baseline alone); returns its results and
    record, or with `generation_only` writes the generations JSONL there and returns {"generations_file": path}."""
    t0 = time.perf_counter()
    if cfg.unavailable:
        raise GroundingEvalError(f"task {name}: {cfg.unavailable}")
    if cfg.unsafe_code and not allow_code_execution and not generation_only:
        raise code_execution_refusal(name)  # before loading anything
    cfg = resolve_options(cfg, seed, n_samples, limit)
    root = Path(cache_dir) if cache_dir else paths.cache_home()  # --cache-dir: the embeddings and, inside it, the rest
    run = TaskRun(name, cfg, plugins.registries(), rep or Reporter(Console(stderr=True), True), root,
                  EmbeddingCache(cache_dir or paths.embeddings_dir(), enabled=use_cache), device, batch_size,
                  list(cfg.controls if controls is None else controls), {}, time.perf_counter())
    # CLAP's towers load first: a checkpoint that cannot be found stops the run before anything is generated.
    towers = load_clap(name, cfg.scoring.clap, run.regs, device, batch_size) if cfg.scoring.clap and not generation_only else None
    executor = None if generation_only else make_executor(run)  # refuses (no sandbox) before the data is built
    inst = embedding.build_instances(name, cfg, run.regs)
    ds, refs, concepts = inst.dataset, inst.instances, list(inst.dataset.concepts)
    index = {c.name: i for i, c in enumerate(concepts)}
    prompts = build_prompts(cfg, concepts)
    run.lap("dataset")
    generator = make_generator(run, model, load_generations)
    gcache = GenerationCache(root / "generations", enabled=use_cache)
    with run.rep.bar(f"generate: {generator.name}", len(prompts)) as advance:
        texts, gen_stats = gcache.generate(generator, prompts, cfg.generator.n_samples, cfg.generator.seed, advance)
    run.lap("generation")
    if generation_only:
        header = {"config": cfg.to_dict(), "task": name, "generator": generator.identity(),
                  "n_samples": cfg.generator.n_samples, "seed": cfg.generator.seed}
        return {"generations_file": str(write_generations(generation_only, prompts, texts, header))}
    executor, systems = execute(run, model, generator, prompts, texts, gcache, executor)
    run.lap("execution")
    emb = embed(run, refs, index, systems)
    run.lap("embeddings")
    text_enc, text_vecs, judge = make_judge(run, concepts, emb)
    k = [kk for kk in cfg.scoring.k if kk <= len(concepts)]
    judged = {s.name: score_system(run, s, emb.generated[s.name], index, emb, judge, k) for s in systems}
    control_scores = score_controls(run, prompts, index, emb, text_vecs, judge, k)
    clap = make_clap(run, concepts, towers, refs, index, systems)
    clap_parts = score_clap(run, clap, systems, prompts, index, k, judged, control_scores) if clap else None
    run.lap("scoring")
    chance = {**accuracy_at_k_chance(len(concepts), k), **mrr_chance(len(concepts))}
    result = GenerativeTaskResult(kind="generative", main_metric=cfg.main_metric, chance=chance,
                                  results=task_scores(judged, control_scores, clap_parts))
    record = task_record(run, ds, refs, prompts, generator, executor, systems, judged, emb, text_enc, gen_stats,
                         clap[0] if clap else None, t0)
    return GenerativeRun(result, record, PlotInputs(systems, refs, prompts))
