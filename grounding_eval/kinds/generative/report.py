"""What a generative run shows and writes: the results table, the results JSON, the spectrogram figure."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from grounding_eval.atomic import atomic_write
from grounding_eval.audio.io import load_audio
from grounding_eval.kinds.generative.results import GenerativeTaskResult, Interval, NoteScores, Outcomes, ScoreSet

if TYPE_CHECKING:  # the runner (torch and all) is not imported to draw a table
    from grounding_eval.kinds.generative.runner import PlotInputs

GENERATIVE_SCHEMA_VERSION = 1


def _pct(stat: Interval | None) -> str:
    if stat is None or stat.mean is None:
        return "-"
    lo, hi = stat.ci or (None, None)
    return f"{100 * stat.mean:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None else f"{100 * stat.mean:.1f}"


def _num(stat: Interval | None, digits: int = 1) -> str:
    if stat is None or stat.mean is None:
        return "-"
    lo, hi = stat.ci or (None, None)
    return f"{stat.mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None else f"{stat.mean:.{digits}f}"


def _fad(scores: ScoreSet) -> str:
    f = scores.fad
    if not f:
        return "-"
    # None (NaN in files written before): too few clips (FAD needs a covariance, FAD-inf several N to extrapolate from)
    fad = f"{f.fad:.1f}" if _defined(f.fad) else "-"
    return f"{fad} (N={f.n_generated}) / {f.fad_inf:.1f}" if _defined(f.fad_inf) else f"{fad} (N={f.n_generated})"


def _defined(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def results_table(task: str, result: GenerativeTaskResult, model: str) -> Table:
    """One row per system and variant, then the controls; accuracy and rates in %, with 95 % intervals."""
    res = result.results
    k = [key for key in result.chance if key.startswith("accuracy@")]
    notes = any(s.notes is not None for s in res.systems.values())
    clap = any(s.clap is not None for s in res.systems.values())
    table = Table(title=f"grounding-eval · {task} · {model}",
                  caption="% with bootstrap 95 % interval over clips (valid rate: Wilson); KAD = MMD²×1000 per concept "
                          "(interval over concepts); FAD at N / FAD-inf; lower KAD/FAD/errors are better")
    cols = ["system", "scored on", "valid audio %", *[f"{key} %" for key in k], "MRR %", "KAD", "FAD / FAD-inf"]
    if notes:
        cols += ["pitch err (cents)", "duration err (s)"]
    if clap:
        cols += ["CLAP score", f"CLAP {k[0]} %", "CLAP MRR %"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("system", "scored on") else "right")

    def row(system: str, variant: str, scores: ScoreSet, outcomes: Outcomes | None, extra: NoteScores | None = None,
            clap_scores: ScoreSet | None = None):
        valid = "-"
        if outcomes:
            lo, hi = outcomes.valid_rate_interval
            valid = f"{100 * outcomes.valid_rate:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
        cells = [system, variant, valid, *[_pct(scores.metric(key)) for key in k], _pct(scores.mrr),
                 _num(scores.kad), _fad(scores)]
        if notes:
            cells += [_num(extra.pitch_error_cents if extra else None), _num(extra.duration_error_s if extra else None, 2)]
        if clap:
            cs = clap_scores
            cells += [_num(cs.metric("clap_score") if cs else None, 3), _pct(cs.metric(k[0]) if cs else None),
                      _pct(cs.mrr if cs else None)]
        table.add_row(*cells)

    for name, s in res.systems.items():
        cl = s.clap
        row(name, "valid clips", s.valid_only, s.outcomes, s.notes, cl.valid_only if cl else None)
        row(name, "failures as silence", s.failures_as_silence, None, None, cl.failures_as_silence if cl else None)
        if s.shuffled_prompts is not None:
            row(name, "shuffled prompts", s.shuffled_prompts, None, None, cl.shuffled_prompts if cl else None)
    for name, c in res.controls.items():
        row(f"control: {name}", "", c, None, None, c.clap)
    chance = [f"{100 * result.chance[key]:.1f}" for key in k]
    table.add_row("chance", "", "", *chance, f"{100 * result.chance['mrr']:.1f}", "", "", *([""] * (2 if notes else 0)),
                  *(["", chance[0], f"{100 * result.chance['mrr']:.1f}"] if clap else []))
    return table


def summary_lines(result: GenerativeTaskResult) -> list[str]:
    """Below the table: what became of every program (each failure kind counted) and the paired tests of
    matched vs shuffled prompts (the shuffled-prompts control's verdict)."""
    res = result.results
    lines = []
    for name, s in res.systems.items():
        counts = {k: v for k, v in s.outcomes.counts.items() if v}
        lines.append(f"{name}: {s.outcomes.n} programs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for name, tests in res.paired_tests.items():
        system = name.removesuffix("_vs_shuffled_prompts")
        parts = []
        for metric, t in tests.items():
            what = "MRR matched - shuffled" if metric == "mrr" else "KAD shuffled - matched (per concept)"
            parts.append(f"{what} {t.mean_difference:+.3f} (n={t.n}, p={t.p_value:.3g})")
        lines.append(f"{system}, paired sign-flip test vs shuffled prompts: " + "; ".join(parts))
    return lines


def write_spectrograms(plot: PlotInputs, path: str | Path, per_system: int = 3) -> Path:
    """A few generated clips (first valid ones of distinct concepts) next to a reference of the same concept."""
    import matplotlib  # lazy: matplotlib takes a second to import; only --plots needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for s in plot.systems:
        seen: set[str] = set()
        for j, wav in enumerate(s.wavs):
            concept = s.prompts[s.prompt_index[j]].concept
            if wav is None or concept in seen:
                continue
            ref = next((r for r in plot.refs if r.concept == concept), None)
            if ref is None:
                continue
            seen.add(concept)
            rows.append((f"{s.name}: {s.prompts[s.prompt_index[j]].id}", str(wav), f"reference: {ref.id}", ref.source))
            if len(seen) >= per_system:
                break
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(10, 2.2 * max(1, len(rows))), squeeze=False)
    for (title_g, wav_g, title_r, wav_r), (ax_g, ax_r) in zip(rows, axes):
        for ax, title, src in ((ax_g, title_g, wav_g), (ax_r, title_r, wav_r)):
            wave = load_audio(src, 16000, max_seconds=4.0)
            ax.specgram(wave + 1e-9, NFFT=512, Fs=16000, noverlap=384, cmap="magma")
            ax.set_title(title[:60], fontsize=8)
            ax.set_ylim(0, 8000)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))
