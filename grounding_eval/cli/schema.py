"""`grounding-eval schema task|generative-task|results|generative-results|grid`: print a file format's JSON Schema (for editors and other tools)."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser
from grounding_eval.grid import Grid
from grounding_eval.kinds import KINDS
from grounding_eval.tasks.config import task_json_schema

def _schemas() -> dict[str, Callable[[], dict[str, Any]]]:
    """`task` and `results` for the probe kind, `<kind>-task` and `<kind>-results` for each other kind, `grid`."""
    out: dict[str, Callable[[], dict[str, Any]]] = {}
    for name, kind in KINDS.items():
        prefix = "" if name == "probe" else f"{name}-"
        out[f"{prefix}task"] = functools.partial(task_json_schema, name)
        out[f"{prefix}results"] = kind.results_schema
    return {**out, "grid": Grid.model_json_schema}


SCHEMAS = _schemas()


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval schema", description="print the JSON Schema of a file format")
    p.add_argument("kind", choices=sorted(SCHEMAS), help="which file: " + ", ".join(sorted(SCHEMAS)))
    args = p.parse_args(argv)
    # Plain print, not rich: the output is JSON for other programs (rich would wrap and colour it).
    print(json.dumps(SCHEMAS[args.kind](), indent=2))
    return 0
