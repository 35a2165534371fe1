"""Scores of one kind set beside another: each leaderboard model's main score per kind and task, and Spearman's
rank correlation between kinds over models (what `grounding-eval profile` prints and the page shows).

The scores are read from the leaderboard's submitted files (`leaderboard/submissions/`; layer sweeps left out):
each entry's main number is the first row its kind's `model_index_rows` gives for the task's main metric (the
probe's probe variant, the generative kind's main system with failures as silence, the knowledge kind's model).
A model's score on a kind is the mean of its main scores over that kind's (task, encoder) columns. Spearman's
rho between two kinds is over the models that have both, with a percentile bootstrap interval over models
(models drawn with replacement; draws whose ranks are constant are skipped). Below MIN_MODELS models a
correlation is printed as what it is: too few models to mean anything. Random-init controls are shown in a
profile but left out of the correlations: they are not models anyone compares, and as a block of low scores on
every kind they would make kinds look as if they agreed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import all_kinds, get_kind
from grounding_eval.leaderboard.submit import SUBMISSIONS, is_sweep
from grounding_eval.results import load

MIN_MODELS = 5  # below this many models with both kinds, a rank correlation says nothing


@dataclass
class Board:
    """Main scores: model -> (kind, column) -> fraction; columns are `task` or `task (encoder)`."""

    scores: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    metric: dict[tuple[str, str], str] = field(default_factory=dict)  # column -> its main metric

    def kinds(self) -> list[str]:
        present = {k for cols in self.scores.values() for k, _ in cols}
        return [k for k in all_kinds() if k in present]

    def kind_score(self, model: str, kind: str) -> float | None:
        vals = [v for (k, _), v in self.scores.get(model, {}).items() if k == kind]
        return float(np.mean(vals)) if vals else None


def main_score(res: Any, key: str) -> tuple[float, str] | None:
    """(fraction, metric) of one task of a results file: its kind's first model-card row for the main metric."""
    rows = get_kind(res.kind).load("leaderboard").model_index_rows(res, key)
    main = getattr(res.results[key], "main_metric", None)
    row = next((r for r in rows if r.get("metrics_id") == main), rows[0] if rows else None)
    return None if row is None else (row["metrics_value"] / 100.0, str(row.get("metrics_id")))


def collect(root: str | Path) -> Board:
    """Every submitted entry's main score (a file that does not load is a one-line error naming it)."""
    base = Path(root) / SUBMISSIONS
    if not base.is_dir():
        raise GroundingEvalError(f"{root}: no {SUBMISSIONS}/ folder; give the leaderboard folder with --root")
    board = Board()
    for path in sorted(base.rglob("*.json")):
        res = load(str(path))
        if is_sweep(res):
            continue
        rules = get_kind(res.kind).load("leaderboard")
        for key, record in res.tasks.items():
            got = main_score(res, key)
            if got is None:
                continue
            encoder = rules.backbone(record)
            column = (res.kind, key if encoder in ("no-encoder", "loglikelihood") else f"{key} ({encoder})")
            board.scores.setdefault(res.model.name, {})[column] = got[0]
            board.metric[column] = got[1]
    return board


def is_control(model: str) -> bool:
    """A random-init control (`random-init:NAME`), not a model of its own."""
    return model.startswith("random-init")


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (average ranks for ties); None when either side is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def correlation(board: Board, a: str, b: str, resamples: int, seed: int) -> dict[str, Any]:
    """rho between kinds a and b over the models with both, its bootstrap interval over models, and n."""
    models = sorted(m for m in board.scores if not is_control(m)
                    and board.kind_score(m, a) is not None and board.kind_score(m, b) is not None)
    x = np.array([board.kind_score(m, a) for m in models])
    y = np.array([board.kind_score(m, b) for m in models])
    out: dict[str, Any] = {"pair": (a, b), "models": models, "n": len(models), "rho": None, "ci": None}
    if len(models) < 3:
        return out
    out["rho"] = spearman(x, y)
    rng = np.random.default_rng([seed, 0x5EA])
    draws = [spearman(x[i], y[i]) for i in rng.integers(0, len(models), size=(resamples, len(models)))]
    draws = [d for d in draws if d is not None]
    if draws:
        out["ci"] = [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]
    return out


def correlations(board: Board, resamples: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    return [correlation(board, a, b, resamples, seed) for a, b in itertools.combinations(board.kinds(), 2)]


def verdict(c: dict[str, Any]) -> str:
    if c["n"] < MIN_MODELS:
        return (f"too few models ({c['n']} with both kinds; at least {MIN_MODELS} needed): this correlation means "
                "nothing yet")
    return "" if c["rho"] is not None else "constant scores: no rank correlation"


