"""`grounding-eval leaderboard submit RESULTS.json ...` and `grounding-eval leaderboard build`."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table


def cmd_leaderboard(argv: Sequence[str], console: Console) -> int:
    from grounding_eval.cli import _Parser

    p = _Parser(prog="grounding-eval leaderboard", description="Submit results to the leaderboard and build its page.")
    sub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    s = sub.add_parser("submit", help="check results files and file one entry per task under ROOT/submissions/")
    s.add_argument("results", nargs="+", help="results JSON written by grounding-eval")
    s.add_argument("--root", default="leaderboard", help="the leaderboard folder (default: leaderboard)")
    s.add_argument("--force", action="store_true", help="replace a stored entry even where the policy keeps it")
    s.add_argument("--include-path", action="append", default=[], help="extra folder of task YAML files")
    b = sub.add_parser("build", help="render ROOT/index.html and ROOT/README.md from ROOT/submissions/")
    b.add_argument("--root", default="leaderboard")
    b.add_argument("--include-path", action="append", default=[])
    args = p.parse_args(argv)
    if args.action == "submit":
        from grounding_eval.leaderboard.submit import submit

        table = Table(title="leaderboard submit")
        for col in ("results", "task", "entry", "action", "why"):
            table.add_column(col)
        for path in args.results:
            for placed in submit(path, args.root, force=args.force, include_paths=tuple(args.include_path)):
                table.add_row(path, placed.task, str(placed.path), placed.action, placed.reason)
        console.print(table)
        console.print("next: `grounding-eval leaderboard build` to refresh the page")
        return 0
    from grounding_eval.leaderboard.build import build

    page, readme, board = build(args.root, tuple(args.include_path))
    n = sum(len(v) for v in board.tasks.values())
    console.print(f"{page}: {n} entries in {len(board.tasks)} task table(s)"
                  + (f", {len(board.stale)} stale entries left off" if board.stale else ""))
    console.print(f"{readme}: markdown table")
    return 0
