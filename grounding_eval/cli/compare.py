"""`grounding-eval compare NEW.json --baseline OLD.json`: exit 1 when a probe metric (or a generative score) dropped
(see grounding_eval.compare)."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser, comma_list
from grounding_eval.compare import DEFAULT_ALPHA, compare, diff_table
from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.checks import check_summary
from grounding_eval.results import load


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval compare", description="Compare a results file with a baseline; exit 1 on a drop.")
    p.add_argument("new", help="results JSON of the model under test")
    p.add_argument("--baseline", required=True, help="results JSON or leaderboard entry to compare against")
    p.add_argument("--tolerance", type=float, default=None,
                   help="fixed allowed drop, as a fraction (0.02 = 2 points); default: a t-test threshold")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="one-sided level of the default threshold")
    p.add_argument("--two-sided", action="store_true", help="a rise beyond the tolerance fails too (golden checks)")
    p.add_argument("--metrics", default=None, help="comma-separated probe metrics to check (default: all; generative: mrr, accuracy@K, default its main metric)")
    p.add_argument("--task", default=None, help="comma-separated tasks to check (default: all in both files)")
    p.add_argument("--allow-mismatch", action="store_true", help="compare even when task, backbone or dataset differ")
    args = p.parse_args(argv)
    if args.tolerance is not None and not 0.0 <= args.tolerance <= 1.0:
        raise GroundingEvalError(f"--tolerance: {args.tolerance} is not a fraction in [0, 1] (0.02 = 2 points)")
    if not 0.0 < args.alpha < 0.5:
        raise GroundingEvalError(f"--alpha: {args.alpha} is not in (0, 0.5)")
    old, new = load(args.baseline), load(args.new)
    for res, path in ((old, args.baseline), (new, args.new)):
        for task in res.results:
            check_summary(res, task, path)
    cmp = compare(old, new, tolerance=args.tolerance, alpha=args.alpha, two_sided=args.two_sided,
                  metrics=comma_list(args.metrics), tasks=comma_list(args.task))
    console.print(diff_table(cmp, f"{new.model.name} vs baseline {old.model.name}"))
    for note in cmp.notes:
        console.print(f"[yellow]differs:[/] {note}")
    for b in cmp.blocking:
        console.print(f"[bold red]not comparable:[/] {b}")
    if cmp.blocking and not args.allow_mismatch:
        raise GroundingEvalError(f"compare: {args.new} and {args.baseline} do not measure the same thing "
                                 f"({cmp.blocking[0]}); rerun one of them, or pass --allow-mismatch")
    bad = [d for d in cmp.diffs if d.verdict != "ok"]
    if bad:
        console.print("[bold red]REGRESSION:[/] " + "; ".join(
            f"{d.task} {d.metric} {'dropped' if d.verdict == 'DROP' else 'rose'} by {100 * abs(d.delta):.2f} points "
            f"(tolerance {100 * d.threshold:.2f})" for d in bad))
        return 1
    console.print("[green]no metric moved beyond its tolerance[/]")
    return 0
