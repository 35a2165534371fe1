"""`grounding-eval schema task|generative-task|results|generative-results|grid`: print a file format's JSON Schema (for editors and other tools)."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Sequence

from rich.console import Console

from grounding_eval.cli.args import Parser
from grounding_eval.kinds import DEFAULT_KIND, all_kinds, resolve
from grounding_eval.tasks.config import task_json_schema


def _schemas() -> dict[str, Callable[[], dict[str, Any]]]:
    """`task` and `results` for the default kind (the probe), `<kind>-task` and `<kind>-results` for each other
    kind, and the other file formats a kind names (the probe's `grid`)."""
    out: dict[str, Callable[[], dict[str, Any]]] = {}
    for name, kind in all_kinds().items():
        prefix = "" if name == DEFAULT_KIND else f"{name}-"
        out[f"{prefix}task"] = functools.partial(task_json_schema, name)
        out[f"{prefix}results"] = kind.results_schema
        for schema_name, model in kind.schemas.items():
            out[schema_name] = functools.partial(lambda spec: resolve(spec).model_json_schema(), model)
    return out


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval schema", description="print the JSON Schema of a file format")
    schemas = _schemas()
    p.add_argument("kind", choices=sorted(schemas), help="which file: " + ", ".join(sorted(schemas)))
    args = p.parse_args(argv)
    # Plain print, not rich: the output is JSON for other programs (rich would wrap and colour it).
    print(json.dumps(schemas[args.kind](), indent=2))
    return 0
