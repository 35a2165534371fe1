"""`grounding-eval validate RESULTS.json ...`: check results files against the results schema of their kind."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser
from grounding_eval.results import load


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval validate")
    p.add_argument("results", nargs="+")
    for path in p.parse_args(argv).results:
        res = load(path)  # the file's `kind` picks its model (the kinds table)
        kind = f"{res.kind}, " if "kind" in type(res).model_fields else ""  # a file that names its kind
        console.print(f"{path}: valid ({kind}schema version {res.schema_version})")
    return 0
