"""What many test files need to call the CLI in-process (imported by name: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import pytest

from grounding_eval.cli import main


def run_cli(argv, capsys):
    """(exit code, stdout, stderr) of `grounding-eval ARGV` run in this process."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err
