"""The `grounding-eval` command: parse, call the library, print. No evaluation logic lives here.

    grounding-eval --model NAME_OR_PATH --task NAME[,NAME] [--audio-backbone NAME] ...   (evaluate.py)
    grounding-eval SUBCOMMAND ...                                                         (one module each)

`main.SUBCOMMANDS` maps each subcommand to its module; every module has `cmd(argv, console) -> exit code`
and builds its parser from `args.Parser`, so errors are one line with exit code 2.
"""

from __future__ import annotations

from grounding_eval.cli.main import SUBCOMMANDS, main, run

__all__ = ["SUBCOMMANDS", "main", "run"]
