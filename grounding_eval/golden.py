"""What every kind's golden check shares (`.ci/golden-check`): one number compared with its tolerance
(`Check`), the rich table of groups with each group's worst |change| / tolerance and the exit code
(`report`), and the command's frame (`golden_main`). What is compared and how far each number may move is
the kind's own `golden` module (the probe's: `grounding_eval/kinds/probe/golden.py`; the generative kind's:
`grounding_eval/kinds/generative/golden.py`).

    exit 0  nothing moved beyond its tolerance
    exit 1  a number moved (each listed with its field, golden, new, difference and tolerance), or a field
            that must be identical differs
    exit 2  the two runs do not measure the same thing (task version/config, dataset, encoders), or bad input

`python -m grounding_eval.golden RUN.json GOLDEN.json` writes a run as the golden (`.ci/golden-check --update`):
its data without where the run wrote its files on this machine (`output_file`, `plot_files`, as
`leaderboard submit` drops them).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.atomic import atomic_write_json
from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.migrations import withhold_local_paths
from grounding_eval.leaderboard.submit import LOCAL_PATHS
from grounding_eval.results import load_results

EPS = 1e-12  # equal numbers never count as a move


@dataclass
class Check:
    """One number compared: where it is, its golden and new value and how far it may move."""

    field: str
    group: str  # table row: "<variant>: <kind of number>"
    golden: float
    new: float
    tolerance: float

    @property
    def delta(self) -> float:
        return self.new - self.golden

    @property
    def ok(self) -> bool:
        return abs(self.delta) <= self.tolerance + EPS


def same(out: list[str], field: str, golden: Any, new: Any) -> None:
    """Record `field` in `out` when the two values that must be identical are not."""
    if golden != new:
        out.append(f"{field}: golden {short(golden)}, new {short(new)}")


@dataclass
class GoldenComparison:
    """Collects the checks of one golden comparison, part by part; a kind's subclass adds `task(task, golden, new)`."""

    checks: list[Check] = field(default_factory=list)
    exact: list[str] = field(default_factory=list)

    def same(self, where: str, golden: Any, new: Any) -> None:
        same(self.exact, where, golden, new)

    def task(self, task: str, golden: dict[str, Any], new: dict[str, Any]) -> None:
        raise NotImplementedError

    def compare(self, golden: dict[str, Any], new: dict[str, Any]) -> tuple[list[Check], list[str]]:
        """(every number compared with its tolerance, every field that must be identical and is not)."""
        for task in golden["results"]:
            self.task(task, golden, new)
        return self.checks, self.exact


def short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _worst(cs: list[Check]) -> float:
    return max((abs(c.delta) / c.tolerance if c.tolerance > 0 else (math.inf if abs(c.delta) > EPS else 0.0)) for c in cs)


def report(checks: list[Check], exact: list[str], console: Console, max_listed: int = 20, what: str = "golden check",
           flip: str = "near-tie flip") -> int:
    """A table per group (values compared, largest |change| / tolerance); the failures by field. Exit code.
    `what` names the check in the title and the last line; `flip` what one tolerance is worth."""
    table = Table(title=f"{what}: every number against one {flip}'s worth",
                  caption="worst = largest |new - golden| / its tolerance in the group (<= 1 passes)")
    for col in ("numbers", "compared", "moved", "worst", "verdict"):
        table.add_column(col, justify="left" if col == "numbers" else "right")
    groups: dict[str, list[Check]] = {}
    for c in checks:
        groups.setdefault(c.group, []).append(c)
    for group, cs in groups.items():
        moved = sum(1 for c in cs if abs(c.delta) > EPS)
        bad = any(not c.ok for c in cs)
        table.add_row(group, str(len(cs)), str(moved), f"{_worst(cs):.2f}", "[bold red]MOVED[/]" if bad else "[green]ok[/]")
    console.print(table)
    failed = [c for c in checks if not c.ok]
    for c in failed[:max_listed]:
        console.print(f"[bold red]moved:[/] {c.field}: golden {c.golden:.6g}, new {c.new:.6g} "
                      f"(Δ {c.delta:+.3g}, tolerance {c.tolerance:.3g})")
    for e in exact[:max_listed]:
        console.print(f"[bold red]differs:[/] {e}")
    if len(failed) > max_listed:
        console.print(f"... and {len(failed) - max_listed} more moved numbers")
    if failed or exact:
        console.print(f"[bold red]{what.upper()} FAILED:[/] {len(failed)} of {len(checks)} numbers moved beyond one "
                      f"{flip}; {len(exact)} field(s) that must be identical differ")
        return 1
    console.print(f"[green]{what} passed:[/] {len(checks)} numbers within one {flip} "
                  f"({sum(1 for c in checks if abs(c.delta) > EPS)} moved at all)")
    return 0


def golden_main(argv: Sequence[str] | None, module: str,
                setup_differences: Callable[[dict[str, Any], dict[str, Any]], list[str]],
                compare_golden: Callable[[dict[str, Any], dict[str, Any]], tuple[list[Check], list[str]]],
                **report_args: Any) -> int:
    """`python -m MODULE NEW.json GOLDEN.json`: refuse two runs that measure different things (exit 2, the
    first difference named), else compare every number and report (exit 0 or 1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    try:
        if len(args) != 2:
            raise GroundingEvalError(f"usage: python -m {module} NEW.json GOLDEN.json")
        new, golden = load_results(args[0]), load_results(args[1])
        blocking = setup_differences(golden, new)
        if blocking:
            raise GroundingEvalError(f"golden check: {args[0]} does not measure what {args[1]} does ({blocking[0]}); "
                                     "a change of the task or its data needs a task version bump and "
                                     "`bash .ci/golden-check --update`")
        checks, exact = compare_golden(golden, new)
    except GroundingEvalError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    return report(checks, exact, console, **report_args)


def write_golden(run: str, golden: str) -> None:
    """`run` (a results file, checked against its schema) written to `golden` without its local paths."""
    data = load_results(run)
    atomic_write_json(golden, withhold_local_paths({k: v for k, v in data.items() if k not in LOCAL_PATHS}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m grounding_eval.golden RUN.json GOLDEN.json")
    write_golden(sys.argv[1], sys.argv[2])
