"""`grounding-eval leaderboard submit RESULTS.json ...`, `leaderboard build`, `leaderboard migrate` and `leaderboard model-index RESULTS.json`."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.cli.args import Parser
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.migrations import CURRENT, migrate
from grounding_eval.leaderboard.model_index import model_index_yaml, push_model_index
from grounding_eval.leaderboard.submit import submit


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval leaderboard", description="Submit results to the leaderboard and build its page.")
    sub = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    s = sub.add_parser("submit", help="check results files and file one entry per task under ROOT/submissions/")
    s.add_argument("results", nargs="+", help="results JSON written by grounding-eval")
    s.add_argument("--root", default="leaderboard", help="the leaderboard folder (default: leaderboard)")
    s.add_argument("--force", action="store_true", help="replace a stored entry even where the policy keeps it")
    s.add_argument("--include-path", action="append", default=[], help="extra folder of task YAML files")
    s.add_argument("--public-name", default=None,
                   help="for a run of --model /local/folder: the public name others can fetch the model by")
    s.add_argument("--weights-sha256", default=None,
                   help="with --public-name: the weights' sha256 (must equal the run's model.identity.weights_sha256)")
    b = sub.add_parser("build", help="render ROOT/index.html and ROOT/README.md from ROOT/submissions/")
    b.add_argument("--root", default="leaderboard")
    b.add_argument("--include-path", action="append", default=[])
    g = sub.add_parser("migrate", help="rewrite ROOT's committed entries and goldens to this harness's format")
    g.add_argument("--root", default="leaderboard")
    g.add_argument("--dry-run", action="store_true", help="list the files and fields that would change; write nothing")
    m = sub.add_parser("model-index", help="print the model-index metadata of a results file for a Hugging Face model card")
    m.add_argument("results", help="results JSON written by grounding-eval")
    m.add_argument("--push", metavar="REPO", default=None, help="also write it into the model card of hub repo REPO")
    args = p.parse_args(argv)
    if args.action == "model-index":
        text = model_index_yaml(args.results)
        print(text, end="")
        if args.push:
            url = push_model_index(args.results, args.push)
            console.print(f"model card of {args.push} updated: {url}")
        return 0
    if args.action == "migrate":
        was, rewrites = migrate(args.root, dry_run=args.dry_run)
        table = Table(title=f"leaderboard migrate: format {was} -> {CURRENT}" + (" (dry run: nothing written)" if args.dry_run else ""))
        for col in ("file", "fields rewritten"):
            table.add_column(col)
        for r in rewrites:
            table.add_row(r.path.relative_to(args.root).as_posix(), f"{len(r.fields)}: " + ", ".join(sorted({f.split('.', 2)[-1] for f in r.fields})))
        console.print(table)
        console.print(f"{len(rewrites)} file(s) {'would change' if args.dry_run else 'rewritten'}")
        return 0
    if args.action == "submit":
        table = Table(title="leaderboard submit")
        for col in ("results", "task", "entry", "action", "why"):
            table.add_column(col)
        for path in args.results:
            for placed in submit(path, args.root, force=args.force, include_paths=tuple(args.include_path),
                                 public_name=args.public_name, weights_sha256=args.weights_sha256):
                table.add_row(path, placed.task, str(placed.path), placed.action, placed.reason)
        console.print(table)
        console.print("next: `grounding-eval leaderboard build` to refresh the page")
        return 0
    page, readme, board = build(args.root, tuple(args.include_path))
    counts = [f"{sum(len(v) for v in tasks.values())} {kind} entries in {len(tasks)} task table(s)"
              for kind, tasks in board.sections.items()]
    console.print(f"{page}: {', '.join(counts) or 'no entries'}"
                  + (f", {len(board.stale)} stale entries left off" if board.stale else ""))
    console.print(f"{readme}: markdown table")
    return 0
