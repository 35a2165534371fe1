"""`grounding-eval tasks`: every visible task with its version, dataset, encoder and source."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.cli.args import Parser
from grounding_eval.tasks.manager import TaskManager


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval tasks")
    p.add_argument("--include-path", action="append", default=[])
    args = p.parse_args(argv)
    table = Table(title="tasks")
    rows = TaskManager(args.include_path).describe()
    for key in (rows[0].keys() if rows else ["name"]):
        table.add_column(key)
    for row in rows:
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    return 0
