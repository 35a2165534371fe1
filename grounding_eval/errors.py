"""The one error type users see: a bad input or a missing piece, reported in one line, exit code 2."""

from __future__ import annotations


class GroundingEvalError(Exception):
    """A problem the user can fix. The message is one line: what is wrong and what would be valid."""

    exit_code = 2
