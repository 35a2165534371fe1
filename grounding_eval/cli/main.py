"""Entry point: pick the subcommand, run it, turn a user error into one line and exit code 2."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from rich.console import Console

from grounding_eval import parallel
from grounding_eval.errors import GroundingEvalError

# Subcommand -> module of grounding_eval.cli with `cmd(argv, console) -> exit code`. Imported on demand
# so that `grounding-eval tasks` does not pay for torch, which the evaluation and backbone commands load.
SUBCOMMANDS = {
    "tasks": "tasks",
    "plugins": "plugins",
    "datasets": "datasets",
    "validate": "validate",
    "schema": "schema",
    "cache": "cache",
    "check-backbone": "check_backbone",
    "leaderboard": "leaderboard",
    "compare": "compare",
    "grid": "grid",
}


def run(argv: Sequence[str], console: Console | None = None) -> int:
    """Run one command line (without the program name); returns the exit code."""
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    module = SUBCOMMANDS.get(argv[0], "evaluate") if argv else "evaluate"
    if module != "evaluate":
        argv = argv[1:]
    return importlib.import_module(f"grounding_eval.cli.{module}").cmd(list(argv), console)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = run(argv)
    except GroundingEvalError as exc:
        print(f"grounding-eval: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("grounding-eval: interrupted; finished embeddings are cached and a rerun resumes", file=sys.stderr)
        code = 130
    finally:
        parallel.end()  # under accelerate launch: the process group torn down, not left to the exit
    sys.exit(code)
