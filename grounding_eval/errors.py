"""The one error type users see: a bad input or a missing piece, reported in one line, exit code 2."""

from __future__ import annotations

import re

# torch's DataLoader re-raises a worker's exception as the same type with the message
# "Caught X in DataLoader worker process N.\nOriginal Traceback (most recent call last):\n...\nmodule.X: message".
_WORKER = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback", re.S)
_LAST = re.compile(r"^[\w.]+: (.*)$")


def _unwrapped(message: str) -> str:
    """A worker's wrapped message back to the original one line (which file, what is wrong)."""
    if not _WORKER.match(message):
        return message
    last = message.rstrip().splitlines()[-1]
    found = _LAST.match(last)
    return (found.group(1) if found else last) + " (in a data-loader worker)"


class GroundingEvalError(Exception):
    """A problem the user can fix. The message is one line: what is wrong and what would be valid."""

    exit_code = 2

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (_unwrapped(args[0]),)
        super().__init__(*args)
