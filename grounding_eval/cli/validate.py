"""`grounding-eval validate RESULTS.json ...`: check results files against the results schema."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser
from grounding_eval.results import load_results


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval validate")
    p.add_argument("results", nargs="+")
    for path in p.parse_args(argv).results:
        data = load_results(path)
        console.print(f"{path}: valid (schema version {data['schema_version']})")
    return 0
