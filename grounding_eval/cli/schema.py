"""`grounding-eval schema task|generative-task|results|generative-results|grid`: print a file format's JSON Schema (for editors and other tools)."""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser
from grounding_eval.grid import Grid
from grounding_eval.results import GENERATIVE_RESULTS_SCHEMA, RESULTS_SCHEMA
from grounding_eval.tasks.config import task_json_schema

SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "task": task_json_schema,
    "generative-task": lambda: task_json_schema("generative"),
    "results": lambda: RESULTS_SCHEMA,
    "generative-results": lambda: GENERATIVE_RESULTS_SCHEMA,
    "grid": Grid.model_json_schema,
}


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval schema", description="print the JSON Schema of a file format")
    p.add_argument("kind", choices=sorted(SCHEMAS), help="which file: " + ", ".join(sorted(SCHEMAS)))
    args = p.parse_args(argv)
    # Plain print, not rich: the output is JSON for other programs (rich would wrap and colour it).
    print(json.dumps(SCHEMAS[args.kind](), indent=2))
    return 0
