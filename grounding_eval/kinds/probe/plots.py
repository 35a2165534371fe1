"""Figures a researcher would otherwise make by hand, written as PNG next to the results JSON.

- `<results>_<task>_alignment.png`: the paper's Figure 1. Text vectors and audio class means of every
  concept, each side standardised, centred and reduced by PCA to a common dimension, text rotated onto
  audio by orthogonal Procrustes (fitted on ALL concepts: this is a picture of the two spaces, not a
  held-out score), then both shown in the first two principal components of the pooled points, coloured
  by ontology parent (Concept.parent). A line joins the two points of each concept.
- `<results>_<task>_per_class.png`: the probe's main metric per concept, pooled over every run in which
  the concept was a test concept, sorted, coloured by parent, with the permuted control and chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from grounding_eval.atomic import atomic_write
from grounding_eval.heads.features import class_means, standardise
from grounding_eval.heads.procrustes import orthogonal_map
from grounding_eval.kinds.probe.results import Results, parse_results

_MAX_LEGEND = 12


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, works on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write through a temporary file and rename, like every other output."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=130, bbox_inches="tight"))


def _colours(parents: list[str]) -> dict[str, Any]:
    """One colour per parent, the most frequent first; the rest share grey as "other"."""
    plt = _pyplot()
    order = sorted(set(parents), key=lambda p: (-parents.count(p), p))
    cmap = plt.get_cmap("tab20" if len(order) > 10 else "tab10")
    out = {p: cmap(i % cmap.N) for i, p in enumerate(order[:_MAX_LEGEND])}
    for p in order[_MAX_LEGEND:]:
        out[p] = (0.6, 0.6, 0.6, 1.0)
    return out


def aligned_pca(text: np.ndarray, instances: np.ndarray, instance_concept: np.ndarray,
                standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of (text, audio class mean) per concept after PCA + Procrustes alignment."""
    t = np.asarray(text, dtype=np.float64)
    a = class_means(np.asarray(instances, dtype=np.float64), instance_concept, len(t))
    if standardize:
        t, a = standardise(t, np.arange(len(t))), standardise(a, np.arange(len(a)))
    t, a = t - t.mean(0), a - a.mean(0)
    k = max(2, min(t.shape[1], a.shape[1], len(t) - 1))
    t_r = t @ np.linalg.svd(t, full_matrices=False)[2][:k].T
    a_r = a @ np.linalg.svd(a, full_matrices=False)[2][:k].T
    # Same overall scale on both sides, so neither cloud dominates the shared PCA.
    t_r /= np.linalg.norm(t_r) or 1.0
    a_r /= np.linalg.norm(a_r) or 1.0
    t_al = t_r @ orthogonal_map(t_r, a_r)
    both = np.vstack([t_al, a_r])
    both -= both.mean(0)
    pcs = np.linalg.svd(both, full_matrices=False)[2][:2].T
    xy = both @ pcs
    return xy[: len(t)], xy[len(t):]


def alignment_figure(res: Results, task: str, inputs: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    names = res.tasks[task].concepts
    parents_map = res.tasks[task].concept_parents
    parents = [parents_map.get(n) or "(no parent)" for n in names]
    colours = _colours(parents)
    txt, aud = aligned_pca(inputs["text"], inputs["instances"], inputs["instance_concept"], inputs["standardize"])
    fig, ax = plt.subplots(figsize=(8.5, 7))
    for i in range(len(names)):
        ax.plot([txt[i, 0], aud[i, 0]], [txt[i, 1], aud[i, 1]], color=colours[parents[i]], lw=0.5, alpha=0.4)
    c = [colours[p] for p in parents]
    ax.scatter(txt[:, 0], txt[:, 1], c=c, marker="o", s=28, edgecolors="k", linewidths=0.3)
    ax.scatter(aud[:, 0], aud[:, 1], c=c, marker="^", s=32, edgecolors="k", linewidths=0.3)
    if len(names) <= 60:
        for i, n in enumerate(names):
            ax.annotate(n, txt[i], fontsize=6, alpha=0.8)
    handles = [plt.Line2D([], [], ls="", marker="s", color=col, label=p) for p, col in colours.items()
               if p in parents[: len(parents)] and list(colours).index(p) < _MAX_LEGEND]
    handles += [plt.Line2D([], [], ls="", marker="o", color="k", mfc="w", label="text (LM)"),
                plt.Line2D([], [], ls="", marker="^", color="k", mfc="w", label="audio (class mean)")]
    ax.legend(handles=handles, fontsize=7, loc="best", title="ontology parent", title_fontsize=7)
    ax.set_title(f"{task}: {res.model.name} vs {res.tasks[task].perception_encoder.name}\n"
                 "Procrustes-aligned, first two principal components", fontsize=9)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def per_class_figure(res: Results, task: str, path: Path) -> Path:
    plt = _pyplot()
    r = res.results[task]
    metric = r.main_metric
    per = res.tasks[task].per_class
    probe = per["probe"]
    names = sorted(probe, key=lambda n: (-probe[n].get(metric, 0.0), n))
    parents_map = res.tasks[task].concept_parents
    parents = [parents_map.get(n) or "(no parent)" for n in names]
    colours = _colours(parents)
    vals = [100 * probe[n].get(metric, 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.16 * len(names) + 2), 4.8))
    x = np.arange(len(names))
    ax.bar(x, vals, color=[colours[p] for p in parents], width=0.8)
    if "permuted_text" in per:
        perm = [100 * per["permuted_text"].get(n, {}).get(metric, np.nan) for n in names]
        ax.scatter(x, perm, marker="_", color="k", s=30, label="permuted text control", zorder=3)
    ax.axhline(100 * r.chance[metric], color="r", ls="--", lw=1, label=f"chance {100 * r.chance[metric]:.1f}%")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=5 if len(names) > 60 else 7)
    ax.set_ylabel(f"{metric} (%), pooled over test runs")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{task}: per-class {metric}, probe ({res.model.name})", fontsize=9)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def write_plots(res: Results | dict[str, Any], inputs: dict[str, dict[str, Any]], results_file: str) -> list[Path]:
    """Both figures for every task in `res` (typed, or the results dict just written); returns the files written."""
    res = parse_results(res, "results (internal)") if isinstance(res, dict) else res
    base = Path(results_file)
    files = []
    for task in res.results:
        stem = base.with_name(f"{base.stem}_{task}")
        if task in inputs:
            files.append(alignment_figure(res, task, inputs[task], stem.with_name(stem.name + "_alignment.png")))
        files.append(per_class_figure(res, task, stem.with_name(stem.name + "_per_class.png")))
    return files
