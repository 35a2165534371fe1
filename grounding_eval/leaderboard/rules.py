"""What a kind's `leaderboard` module provides (the kinds table names it): the shared leaderboard code
(`checks`, `submit`, `build`, `model_index`) asks it these questions and never branches on the kind.
`kinds/probe/leaderboard.py` and `kinds/generative/leaderboard.py` are the two built-in answers; a kind
that a plugin adds writes a module with the same names (`tests/test_new_kind.py` has a small one).
"""

from __future__ import annotations

from typing import Any, Protocol

from grounding_eval.leaderboard.page import BoardEntry
from grounding_eval.results import ResultsFile
from grounding_eval.tasks.config import TaskFile


class KindLeaderboard(Protocol):
    """The module-level names of a kind's leaderboard module."""

    OVERRIDES: tuple[str, ...]  # task-config keys (dotted) an entry may have changed from the task as shipped

    # -- checks: each raises a one-line GroundingEvalError naming `source` and the field ------------------
    def check_size(self, res: ResultsFile, task: str, current: TaskFile, source: str) -> None:
        """At least as much measured (runs, samples per prompt) as the task as shipped (`current`) asks."""

    def check_provenance(self, res: ResultsFile, task: str, source: str) -> None:
        """The exact weights of every model involved, the seeds, the versions (`checks.check_packages`)."""

    def check_ranges(self, res: ResultsFile, task: str, source: str) -> None:
        """Every score and chance level is a fraction in [0, 1]."""

    def check_summary(self, res: ResultsFile, task: str, source: str) -> None:
        """The headline numbers recomputed from the units the file holds (runs, clips)."""

    # Optional: `check_units(res, task, source)`, what the leaderboard (not `compare`) recomputes beyond the
    # summary: each unit's scores from the data beneath it, every interval from its units (checks.check_units).

    def check_chance(self, res: ResultsFile, task: str, source: str) -> None:
        """Chance recomputed (usually through `checks.check_chance_levels`)."""

    # -- filing ------------------------------------------------------------------------------------------
    def backbone(self, task_record: Any) -> str:
        """The entry's encoder axis: a folder level of submissions/ and a column of the page."""

    def size(self, task_record: Any) -> tuple[int, str]:
        """How much was measured, with its word ("runs"): more replaces fewer."""

    def seeds(self, task_record: Any) -> list[int]:
        """The seeds: the same seeds with a later date replace, others do not."""

    def run_key(self, res: ResultsFile) -> tuple:
        """What was measured, unit by unit: equal keys mean the same entry again."""

    # -- the page and the model card ---------------------------------------------------------------------
    def rank(self, entries: list[BoardEntry]) -> None:
        """Sort one task's entries in place, best first."""

    def html_section(self, task: str, entries: list[BoardEntry]) -> str:
        """The task's `<section>` of index.html (escape every submitted string with `page.esc`)."""

    def markdown_section(self, task: str, entries: list[BoardEntry]) -> list[str]:
        """The task's lines of the leaderboard's README.md (escape with `page.md_escape`)."""

    def model_index_rows(self, res: ResultsFile, key: str) -> list[dict[str, Any]]:
        """huggingface_hub.metadata_eval_result's keyword arguments (all but model_pretty_name), one per number."""
