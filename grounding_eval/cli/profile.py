"""`grounding-eval profile MODEL`: one model's main score on every kind and task it has leaderboard entries
for, and the rank correlation between kinds across the leaderboard's models, as a table and (--plots) a figure.
How the scores and correlations are computed: grounding_eval/leaderboard/profile.py (shared with the page)."""


from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from grounding_eval.cli.args import Parser, positive_int
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import all_kinds
from grounding_eval.leaderboard.profile import MIN_MODELS, Board, collect, correlations, verdict
from grounding_eval.leaderboard.submit import SUBMISSIONS


def default_root() -> Path:
    """./leaderboard when there is one, else the leaderboard of the checkout this package runs from (an editable
    install), so that `grounding-eval profile MODEL` works from any folder."""
    here = Path("leaderboard")
    checkout = Path(__file__).resolve().parents[2] / "leaderboard"
    return here if (here / SUBMISSIONS).is_dir() or not (checkout / SUBMISSIONS).is_dir() else checkout


def profile_table(board: Board, model: str) -> Table:
    table = Table(title=f"profile · {model}", caption="main score per task in %; rank among the leaderboard's models on that task")
    for col in ("kind", "task", "metric", "score", "rank"):
        table.add_column(col, justify="right" if col in ("score", "rank") else "left")
    for (kind, column), value in sorted(board.scores[model].items(), key=lambda kv: (list(all_kinds()).index(kv[0][0]), kv[0][1])):
        others = sorted((s[(kind, column)] for s in board.scores.values() if (kind, column) in s), reverse=True)
        table.add_row(kind, column, board.metric[(kind, column)], f"{100 * value:.1f}",
                      f"{others.index(value) + 1} of {len(others)}")
    for kind in board.kinds():
        score = board.kind_score(model, kind)
        table.add_row(f"[bold]{kind}[/]", "[bold]mean over its tasks[/]", "", "–" if score is None else f"{100 * score:.1f}", "")
    return table


def correlation_table(cors: list[dict[str, Any]]) -> Table:
    table = Table(title="cross-kind rank correlation over the leaderboard's models",
                  caption="Spearman's rho of the kinds' mean main scores; 95 % bootstrap interval over models")
    for col in ("kinds", "models", "rho", "95 % interval", "note"):
        table.add_column(col, justify="right" if col in ("models", "rho") else "left")
    for c in cors:
        rho = "–" if c["rho"] is None else f"{c['rho']:+.2f}"
        ci = "–" if c["ci"] is None else f"[{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]"
        table.add_row(" vs ".join(c["pair"]), str(c["n"]), rho, ci, verdict(c))
    return table


def plot(board: Board, model: str, cors: list[dict[str, Any]], out: Path) -> Path:
    """The model's profile (bars per task) and one scatter per pair of kinds (every model; the model marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(cors), figsize=(5 + 4 * len(cors), 4.5), squeeze=False)
    ax = axes[0][0]
    items = sorted(board.scores[model].items())
    ax.barh([f"{k}: {c}" for (k, c), _ in items], [100 * v for _, v in items], color="tab:blue")
    ax.set_xlabel("main score (%)")
    ax.set_title(model, fontsize=9)
    for ax, c in zip(axes[0][1:], cors):
        a, b = c["pair"]
        xs = [100 * board.kind_score(m, a) for m in c["models"]]
        ys = [100 * board.kind_score(m, b) for m in c["models"]]
        ax.scatter(xs, ys, color=["tab:red" if m == model else "tab:gray" for m in c["models"]])
        for m, x, y in zip(c["models"], xs, ys):
            ax.annotate(m.split("/")[-1][:24], (x, y), fontsize=6)
        rho = "n/a" if c["rho"] is None else f"{c['rho']:+.2f}"
        ax.set_title(f"{a} vs {b}: rho {rho}, {c['n']} models" + (" (too few)" if c["n"] < MIN_MODELS else ""), fontsize=9)
        ax.set_xlabel(f"{a} (%)")
        ax.set_ylabel(f"{b} (%)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval profile", description="A model's main score on every kind and task it has "
               "leaderboard entries for, and the cross-kind rank correlation over the leaderboard's models.")
    p.add_argument("model", help="the model's name as its entries give it (e.g. HuggingFaceTB/SmolLM2-135M-Instruct)")
    p.add_argument("--root", default=None, help="the leaderboard folder (default: ./leaderboard, else the checkout's)")
    p.add_argument("--resamples", type=positive_int, default=2000, help="bootstrap resamples over models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plots", action="store_true", help="also write a PNG (profile bars and one scatter per pair of kinds)")
    p.add_argument("--output-path", default="results", help="folder for the PNG (default: results)")
    args = p.parse_args(list(argv))
    args.root = args.root or str(default_root())
    board = collect(args.root)
    if args.model not in board.scores:
        known = ", ".join(sorted(board.scores)) or "none"
        raise GroundingEvalError(f"profile: {args.model} has no leaderboard entries under {args.root}/{SUBMISSIONS}; "
                                 f"models with entries: {known}")
    cors = correlations(board, args.resamples, args.seed)
    console.print(f"entries: {Path(args.root).resolve() / SUBMISSIONS}")
    console.print(profile_table(board, args.model))
    console.print(correlation_table(cors))
    if args.plots:
        name = "".join(ch if ch.isalnum() or ch in "-_." else "__" for ch in args.model)
        console.print(f"plot written to {plot(board, args.model, cors, Path(args.output_path) / f'profile_{name}.png')}")
    return 0
