"""Entry point: pick the subcommand, run it, turn a user error into one line and exit code 2."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from rich.console import Console

from grounding_eval import parallel
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import all_kinds

# Subcommand -> module of grounding_eval.cli with `cmd(argv, console) -> exit code` (a kind's own subcommands,
# such as the probe's `grid`, are in its row of the kinds table). Imported on demand
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
    "profile": "profile",
}


def _command_module(name: str) -> str | None:
    """The module of subcommand `name`: the shared ones here, then those a task kind adds (the kinds table)."""
    if name in SUBCOMMANDS:
        return f"grounding_eval.cli.{SUBCOMMANDS[name]}"
    return next((k.commands[name] for k in all_kinds().values() if name in k.commands), None)


def run(argv: Sequence[str], console: Console | None = None) -> int:
    """Run one command line (without the program name); returns the exit code."""
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    module = _command_module(argv[0]) if argv and not argv[0].startswith("-") else None
    if module is None:
        module = "grounding_eval.cli.evaluate"
    else:
        argv = argv[1:]
    return importlib.import_module(module).cmd(list(argv), console)


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
