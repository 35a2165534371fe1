"""Two probe results files, task by task and metric by metric: did a score drop? (`grounding-eval compare`;
the verdict, the setup checks and the table are the shared `grounding_eval.compare`.)

The tolerance, per task and metric, unless `--tolerance` fixes it by hand, is a one-sided test at level
`--alpha` (default 0.05) on the difference of the means, with the per-run scores as the sample:
- paired, when both files ran the same seeds on the same class splits: the differences d_i of the runs,
  threshold = t(1 - alpha, n - 1) * sd(d) / sqrt(n). Each split's difficulty cancels, which is what makes
  a real drop visible on a small task;
- otherwise unpaired (other seeds, hence other splits): threshold = t(1 - alpha, df) * sqrt(se_new² + se_old²),
  df from Welch-Satterthwaite. With five runs t is ~2.1, so this needs a drop of about three standard
  errors of one run set: two seeds of the same model pass, a model with its knowledge removed does not
  (where the task can tell at all).
What is compared and what differs (task version or config, backbone, dataset, seeds, model) is printed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from grounding_eval.compare import MetricDiff, Rule, Setup, setup_blocking
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.results import Results

# Config keys that may differ between two comparable results: other seeds or more runs of the same protocol,
# and which controls ran besides the probe (each variant trains with its own seeded generator, so the
# probe's scores do not depend on them; a CI job may skip the controls to save time).
SAMPLING_KEYS = ("seed", "num_runs", "controls")
# Config keys that cannot change the probe's scores: how its uncertainty is reported, the Procrustes
# baseline beside it, and the memory chunking of a full-batch step. Results written before these keys
# existed stay comparable.
SCORE_NEUTRAL_KEYS = ("statistics", "procrustes")
SCORE_NEUTRAL_PROBE_KEYS = ("chunk_size",)
# Probe keys added later, with the value that reproduces the behaviour from before they existed.
PROBE_KEY_DEFAULTS = {"negatives": "all_train", "fit_on": "instances"}


def _scored_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a task config that can change the probe's scores, older configs filled in."""
    out = {k: v for k, v in config.items() if k not in SAMPLING_KEYS + SCORE_NEUTRAL_KEYS + ("perception_encoder",)}
    if isinstance(out.get("probe"), dict):
        probe = {**PROBE_KEY_DEFAULTS, **out["probe"]}
        out["probe"] = {k: v for k, v in probe.items() if k not in SCORE_NEUTRAL_PROBE_KEYS}
    return out


CAPTION = "% of the probe's scores, mean ± standard error over runs; Δ = new − baseline"


def _runs_scores(res: Results, task: str, metric: str) -> np.ndarray:
    return np.array([float(r.probe.scores[metric]) for r in res.tasks[task].runs])


def _paired(old: Results, new: Results, task: str) -> bool:
    """Same seeds and the same class splits run for run: the runs can be matched."""
    ro, rn = old.tasks[task].runs, new.tasks[task].runs
    return len(ro) == len(rn) and all(a.seed == b.seed and a.train == b.train and a.test == b.test for a, b in zip(ro, rn))


def setup(res: Results, task: str) -> Setup:
    t = res.tasks[task]
    return Setup(t.version, _scored_config(t.config), "backbone", (t.perception_encoder.name, t.perception_encoder.identity),
                 (t.dataset.name, t.dataset.fingerprint, t.concepts))


def setup_differences(old: Results, new: Results, task: str) -> tuple[list[str], list[str]]:
    """(blocking, notes): what differs between the two runs of `task`, named."""
    to, tn = old.tasks[task], new.tasks[task]
    blocking, notes = setup_blocking(task, setup(old, task), setup(new, task)), []
    if to.config.get("controls") != tn.config.get("controls"):
        notes.append(f"{task}: controls {to.config.get('controls')} (baseline) vs {tn.config.get('controls')} (new); "
                     "only the probe's scores are compared")
    if to.seeds != tn.seeds:
        notes.append(f"{task}: seeds {to.seeds} (baseline) vs {tn.seeds} (new): other class splits, "
                     "compared unpaired")
    return blocking, notes


def compare_task(old: Results, new: Results, task: str, metrics: Sequence[str] | None, rule: Rule,
                 blocking: list[str], notes: list[str]) -> list[MetricDiff]:
    """Every probe metric both files hold (or `metrics`): the change over the runs, paired when the runs match."""
    paired = _paired(old, new, task)
    gated = [m for m in old.results[task].probe if m in new.results[task].probe]
    if metrics:
        unknown = [m for m in metrics if m not in gated]
        if unknown:
            raise GroundingEvalError(f"--metrics: {unknown[0]!r} is not in both files for {task}; valid: {', '.join(gated)}")
        gated = [m for m in gated if m in metrics]
    return [rule.judge(task, metric, _runs_scores(old, task, metric), _runs_scores(new, task, metric), paired)
            for metric in gated]
