"""What can become of one generated program, and the counting of it: every failure is a kind, none is dropped."""

from __future__ import annotations

import math
from collections import Counter
from statistics import NormalDist
from typing import Iterable

OK = "ok"
# In the order a program meets them: extraction, parsing, the allow-list, running, checking its output.
FAILURE_KINDS = (
    "no_code",          # the generation holds no program (no code block, empty)
    "syntax_error",     # the program does not parse
    "forbidden_import", # imports a module outside the allow-list, or calls a forbidden builtin (open, eval, ...)
    "runtime_error",    # raised an exception (including one the guard raised: socket, file outside its folder)
    "guard_refused",    # the runtime guard refused an action (file outside its folder, socket, subprocess)
    "timeout",          # wall clock or CPU seconds ran out
    "memory",           # hit the memory limit
    "output_limit",     # printed more than the output cap
    "disk_limit",       # wrote more than its folder's quota (all files together), or a file over the per-file limit
    "crashed",          # died without a status (a signal, a hard exit)
    "bad_output",       # returned something that is not a waveform (wrong type or shape, bad sample rate), or
                        # its result message broke the protocol (unknown kind, bad field, more than one message)
    "nan",              # the waveform holds NaN or infinity
    "bad_length",       # too short or too long
    "silence",          # every sample below the silence threshold
)
KINDS = (OK,) + FAILURE_KINDS
# The failures the harness's own code inside the child reports; any other kind in a result message is forged.
CHILD_FAILURE_KINDS = ("runtime_error", "guard_refused", "memory", "disk_limit", "bad_output", "bad_length")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate (sound at 0 % and 100 %, unlike the normal approximation)."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def count_outcomes(kinds: Iterable[str], confidence: float = 0.95) -> dict:
    """Counts of every kind (zeros included, so tables line up), and the valid-audio rate with its interval."""
    counts = Counter(kinds)
    unknown = set(counts) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown outcome kind(s): {sorted(unknown)}")
    n = sum(counts.values())
    ok = counts.get(OK, 0)
    low, high = wilson_interval(ok, n, confidence)
    return {"n": n, "counts": {k: counts.get(k, 0) for k in KINDS},
            "valid_rate": ok / n if n else 0.0, "valid_rate_interval": [low, high],
            "interval": f"wilson {confidence:g}"}
