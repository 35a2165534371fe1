"""What every subcommand's parser shares: one-line errors, `k=v,...` options, positive whole numbers."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from grounding_eval.errors import GroundingEvalError


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2, like every other bad input."""

    def error(self, message: str):
        raise GroundingEvalError(f"{self.prog}: {message} (see --help)")


def key_values(text: str | None, flag: str) -> dict[str, Any]:
    """`k=v,k=v` into a dict, values parsed as YAML scalars (numbers, booleans) where they look like one."""
    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise GroundingEvalError(f"{flag}: {item!r} is not key=value")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v.strip())
        except yaml.YAMLError:
            out[k.strip()] = v.strip()
    return out


def _whole_number(text: str, minimum: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} {rule}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _whole_number(text, 1, "must be at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (a count that may be none, such as retries)."""
    return _whole_number(text, 0, "must be 0 or more")


def comma_list(text: str | None) -> list[str] | None:
    """`a, b,,c` -> ["a", "b", "c"]; None stays None (the option was not given)."""
    return [x.strip() for x in text.split(",") if x.strip()] if text else None
