"""`grounding-eval validate RESULTS.json ...`: check results files against the results schema."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser
from grounding_eval.generative.command import validate
from grounding_eval.results import load_results


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval validate")
    p.add_argument("results", nargs="+")
    for path in p.parse_args(argv).results:
        generative = _generative(path)
        if generative is not None:
            validate(generative, path)
            console.print(f"{path}: valid (generative, schema version {generative['schema_version']})")
            continue
        data = load_results(path)
        console.print(f"{path}: valid (schema version {data['schema_version']})")
    return 0


def _generative(path: str) -> dict | None:
    """The file's data when it is a generative results file (kind: generative); else None (load_results judges it)."""
    import json

    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == "generative" else None
