"""`leaderboard build`: the entries under leaderboard/submissions/ -> leaderboard/index.html and README.md.

The page works offline: its CSS, JS and bar charts (SVG) are inline, nothing is fetched. Every string that
came from a submission is HTML-escaped where it is written; the page's script carries no data at all (it
sorts and filters the table from the DOM), so no submitted text ever lands inside <script>.

Every entry file is checked again here (a file may have been committed by hand): a broken one stops the
build; an entry of an older task version is left off the page and counted ("stale").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Iterator

from grounding_eval.atomic import atomic_write_text
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import all_kinds, get_kind
from grounding_eval.leaderboard import checks
from grounding_eval.leaderboard.migrations import local_paths
from grounding_eval.leaderboard.page import BoardEntry, esc, profile_section
from grounding_eval.leaderboard.submit import SUBMISSIONS, entry_path, entry_task
from grounding_eval.results import load

ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass
class Board:
    """All current entries, by kind and task (each kind's section ranks and draws its own), and the entries left off."""

    sections: dict[str, dict[str, list[BoardEntry]]] = field(default_factory=dict)  # kind -> task -> entries
    stale: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why)


def collect(root: Path, include_paths: tuple[str, ...] = ()) -> Board:
    board = Board()
    base = root / SUBMISSIONS
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        data = load(str(path))
        if held := local_paths(json.loads(path.read_text())):
            raise GroundingEvalError(f"{rel}: field {held[0]}: a path on the submitter's machine ({len(held)} such field(s)); "
                                     "entries keep none: run `grounding-eval leaderboard migrate`, or resubmit")
        try:
            task = entry_task(data)
        except GroundingEvalError as exc:
            raise GroundingEvalError(f"{rel}: {exc}") from None
        if entry_path(root, data) != path.resolve():
            raise GroundingEvalError(f"{rel}: is not where its task, backbone, model and revision put it "
                                     f"({entry_path(root, data).relative_to(root.resolve()).as_posix()}); resubmit it")
        stale = None
        for key, t in data.tasks.items():  # one key, or every layer of a sweep
            checks.check_provenance(data, key, rel)
            checks.check_ranges(data, key, rel)
            checks.check_summary(data, key, rel)
            checks.check_units(data, key, rel)
            checks.check_chance(data, key, rel)
            if checks.canonical_hash(t.config) != t.hash:  # an edited file stops the build; only age is "stale"
                raise GroundingEvalError(f"{rel}: field tasks.{key}.hash: is not the hash of the stored config; "
                                         "the config or the hash was edited")
            try:
                checks.check_task(data, key, rel, include_paths)
            except GroundingEvalError as exc:
                stale = str(exc).split(": ", 1)[-1]
        if stale:
            board.stale.append((rel, stale))
            continue
        entry = BoardEntry(task, path, rel, data)
        board.sections.setdefault(data.kind, {}).setdefault(task, []).append(entry)
    for kind, tasks in board.sections.items():
        for entries in tasks.values():
            get_kind(kind).load("leaderboard").rank(entries)
    return board


def _in_order(board: Board) -> Iterator[tuple[ModuleType, str, list[BoardEntry]]]:
    """(the kind's leaderboard module, task, its entries): kinds in table order, tasks by name within a kind."""
    for kind in [k for k in all_kinds() if k in board.sections]:
        rules = get_kind(kind).load("leaderboard")
        for task in sorted(board.sections[kind]):
            yield rules, task, board.sections[kind][task]


# -- the page ----------------------------------------------------------------------------------------

def _options(values: list[str]) -> str:
    return "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(set(values)))


def render_html(board: Board, profile: str = "") -> str:
    """The page: one section per task, then the cross-kind profile (`profile`: page.profile_section's HTML)."""
    css = (ASSETS / "board.css").read_text()
    js = (ASSETS / "board.js").read_text()
    every = [e for tasks in board.sections.values() for es in tasks.values() for e in es]
    sections = [section.html_section(task, entries) for section, task, entries in _in_order(board)]
    stale = ""
    if board.stale:
        items = "".join(f"<li><code>{esc(p)}</code>: {esc(why)}</li>" for p, why in board.stale)
        stale = f'<section class="stale"><h2>Not shown ({len(board.stale)})</h2><ul>{items}</ul></section>'
    body = "".join(sections) or "<p>No entries yet: <code>grounding-eval leaderboard submit RESULTS.json</code>.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>grounding-eval leaderboard</title>"
        f"<style>{css}</style></head><body>"
        "<h1>grounding-eval leaderboard</h1>"
        "<p>What do language models know about the perceptual world? Scores are percentages, mean ± standard error "
        "over runs (class splits). Each row is one submitted results file; hardware is what it ran on.</p>"
        '<div class="filters"><label>backbone <select id="filter-backbone"><option value="">all</option>'
        f'{_options([e.backbone for e in every])}</select></label> '
        '<label>model family <select id="filter-family"><option value="">all</option>'
        f'{_options([e.family for e in every])}</select></label></div>'
        f"{body}{profile}{stale}"
        f"<script>{js}</script></body></html>\n")


def render_markdown(board: Board) -> str:
    lines = ["# grounding-eval leaderboard", "",
             "Generated by `grounding-eval leaderboard build` from `submissions/` (do not edit by hand; "
             "`index.html` is the sortable page). Scores in %, mean ± standard error over runs.", ""]
    for section, task, entries in _in_order(board):
        lines += section.markdown_section(task, entries)
    if board.stale:
        lines += [f"{len(board.stale)} entries of older task versions are not shown.", ""]
    return "\n".join(lines)


def build(root: str | Path = "leaderboard", include_paths: tuple[str, ...] = ()) -> tuple[Path, Path, Board]:
    """Write root/index.html and root/README.md; returns their paths and the board."""
    root = Path(root)
    if not root.is_dir():
        raise GroundingEvalError(f"{root}: no such leaderboard folder; submit an entry first or pass --root")
    board = collect(root, include_paths)
    page, readme = root / "index.html", root / "README.md"
    html_text, md_text = render_html(board, profile_section(root)), render_markdown(board)  # both rendered before either is written
    atomic_write_text(page, html_text)
    atomic_write_text(readme, md_text)
    return page, readme, board
