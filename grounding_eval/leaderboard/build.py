"""`leaderboard build`: the entries under leaderboard/submissions/ -> leaderboard/index.html and README.md.

The page works offline: its CSS, JS and bar charts (SVG) are inline, nothing is fetched. Every string that
came from a submission is HTML-escaped where it is written; the page's script carries no data at all (it
sorts and filters the table from the DOM), so no submitted text ever lands inside <script>.

Every entry file is checked again here (a file may have been committed by hand): a broken one stops the
build; an entry of an older task version is left off the page and counted ("stale").
"""

from __future__ import annotations

import html
import math
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grounding_eval.atomic import atomic_write_text
from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard import checks
from grounding_eval.leaderboard.submit import SUBMISSIONS, entry_path, model_revision
from grounding_eval.results import load_results

ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass
class Entry:
    """One (task, backbone, model, revision) row, read from its JSON file."""

    task: str
    path: Path  # the JSON file
    rel: str  # its path relative to the leaderboard folder, for links
    data: dict[str, Any]

    @property
    def task_data(self) -> dict[str, Any]:
        return self.data["tasks"][self.task]

    @property
    def result(self) -> dict[str, Any]:
        return self.data["results"][self.task]

    @property
    def model(self) -> str:
        return self.data["model"]["name"]

    @property
    def family(self) -> str:
        """The hub organisation of a hub id (`org/name`), "local" for a folder path, else the name itself."""
        name = self.model.split(":", 1)[-1]  # KIND:NAME
        if name.startswith(("/", ".", "~")) or name.count("/") > 1:
            return "local"
        return name.split("/", 1)[0]

    @property
    def backbone(self) -> str:
        return self.task_data["perception_encoder"]["name"]

    @property
    def revision(self) -> str:
        return model_revision(self.data)

    @property
    def hardware(self) -> str:
        env = self.data["environment"]
        cores = f", {env['cpu_count']} cores" if env.get("cpu_count") else ""
        return f"{env.get('cpu', 'unknown CPU')}{cores}, device {env.get('device', '?')}"


@dataclass
class Board:
    """All current entries grouped by task, and the entries left off."""

    tasks: dict[str, list[Entry]] = field(default_factory=dict)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why)


def collect(root: Path, include_paths: tuple[str, ...] = ()) -> Board:
    board = Board()
    base = root / SUBMISSIONS
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        data = load_results(str(path))
        if len(data["tasks"]) != 1:
            raise GroundingEvalError(f"{rel}: field tasks: an entry holds exactly one task; resubmit it with `leaderboard submit`")
        (task,) = data["tasks"]
        if entry_path(root, data) != path.resolve():
            raise GroundingEvalError(f"{rel}: is not where its task, backbone, model and revision put it "
                                     f"({entry_path(root, data).relative_to(root.resolve()).as_posix()}); resubmit it")
        checks.check_provenance(data, task, rel)
        checks.check_ranges(data, task, rel)
        checks.check_summary(data, task, rel)
        checks.check_chance(data, task, rel)
        t = data["tasks"][task]
        if checks.canonical_hash(t["config"]) != t["hash"]:  # an edited file stops the build; only age is "stale"
            raise GroundingEvalError(f"{rel}: field tasks.{task}.hash: is not the hash of the stored config; "
                                     "the config or the hash was edited")
        try:
            checks.check_task(data, task, rel, include_paths)
        except GroundingEvalError as exc:
            board.stale.append((rel, str(exc).split(": ", 1)[-1]))
            continue
        board.tasks.setdefault(task, []).append(Entry(task, path, rel, data))
    for entries in board.tasks.values():
        main = entries[0].result["main_metric"]
        entries.sort(key=lambda e: (-e.result["probe"][main]["mean"], e.model, e.backbone))
    return board


# -- formatting --------------------------------------------------------------------------------------

def esc(text: Any) -> str:
    """Text for HTML content and double- or single-quoted attributes."""
    return html.escape(str(text), quote=True)


def pct(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "–"
    se = stat.get("stderr")
    return f"{100 * stat['mean']:.1f} ± {100 * se:.1f}" if se is not None else f"{100 * stat['mean']:.1f}"


def md_escape(text: Any) -> str:
    """Text for a GitHub markdown table cell: HTML is escaped (GitHub renders raw HTML), markdown inert."""
    out = html.escape(str(text), quote=True)
    for ch in "\\`*_[]|#!":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def _metrics(entries: list[Entry]) -> list[str]:
    seen: list[str] = []
    for e in entries:
        for m in e.result["probe"]:
            if m not in seen:
                seen.append(m)
    return seen


def _controls(entries: list[Entry]) -> list[str]:
    return sorted({c for e in entries for c in e.result.get("controls", {})})


# -- the bar chart (SVG, in the style of the paper's Figure 3) -------------------------------------------

def bar_chart(task: str, entries: list[Entry]) -> str:
    """Probe vs permuted control per (model, backbone), ± standard error, chance as a dashed line."""
    main = entries[0].result["main_metric"]
    chance = entries[0].result["chance"].get(main, 0.0)
    groups = []
    for e in entries:
        ctrl = e.result.get("controls", {}).get("permuted_text", {}).get(main)
        groups.append((f"{e.model} · {e.backbone}", e.result["probe"][main], ctrl))
    top = max([chance] + [s["mean"] + (s["stderr"] or 0) for _, p, c in groups for s in (p, c) if s]) or 1.0
    top = min(1.0, math.ceil(top * 10 + 0.5) / 10)
    bw, gap, left, h, bottom, right = 30, 70, 48, 220, 170, 270
    width = left + len(groups) * (2 * bw + gap) + right
    y = lambda v: 10 + h * (1 - v / top)  # noqa: E731 - a local scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" height="{h + bottom}" '
             f'viewBox="0 0 {width} {h + bottom}"><title>{esc(task)}: {esc(main)}, probe vs permuted control</title>']
    for i in range(6):  # y grid
        v = top * i / 5
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{100 * v:.0f}</text>')
    parts.append(f'<text x="12" y="{10 + h / 2}" transform="rotate(-90 12 {10 + h / 2})" text-anchor="middle">{esc(main)} (%)</text>')
    for g, (label, probe, ctrl) in enumerate(groups):
        x0 = left + gap + g * (2 * bw + gap)
        for j, (stat, cls) in enumerate(((probe, "probe"), (ctrl, "control"))):
            if not stat:
                continue
            x = x0 + j * bw
            parts.append(f'<rect class="{cls}" x="{x}" y="{y(stat["mean"]):.1f}" width="{bw - 2}" '
                         f'height="{max(0.0, y(0) - y(stat["mean"])):.1f}"><title>{esc(label)} {cls}: {pct(stat)} %</title></rect>')
            if stat.get("stderr"):
                cx, lo, hi = x + (bw - 2) / 2, y(max(0.0, stat["mean"] - stat["stderr"])), y(min(top, stat["mean"] + stat["stderr"]))
                parts.append(f'<path class="err" d="M{cx:.1f},{lo:.1f}V{hi:.1f}M{cx - 5:.1f},{lo:.1f}h10M{cx - 5:.1f},{hi:.1f}h10"/>')
        tx = x0 + bw
        parts.append(f'<text class="label" x="{tx}" y="{y(0) + 12:.1f}" transform="rotate(35 {tx} {y(0) + 12:.1f})">{esc(label if len(label) <= 48 else label[:47] + "…")}</text>')
    parts.append(f'<line class="chance" x1="{left}" x2="{width - right}" y1="{y(chance):.1f}" y2="{y(chance):.1f}"/>'
                 f'<text class="chance-label" x="{width - right + 8}" y="{y(chance) + 4:.1f}">chance {100 * chance:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the page ----------------------------------------------------------------------------------------

def _cell(text: str, sort: Any, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-sort="{esc(sort)}">{text}</td>'


def task_table(task: str, entries: list[Entry]) -> str:
    main = entries[0].result["main_metric"]
    metrics = [main] + [m for m in _metrics(entries) if m != main]
    controls = _controls(entries)
    head = ["#", "model", "family", "revision", "backbone", f"{main} (probe)"]
    head += [f"{main} ({c})" for c in controls] + [f"chance {main}"]
    head += [f"{m} (probe)" for m in metrics[1:]] + ["runs", "seeds", "hardware", "date", "raw"]
    out = [f'<table class="board" id="table-{esc(task)}"><thead><tr>']
    for i, h in enumerate(head):
        kind = "num" if h in ("#", "runs") or "(" in h or h.startswith("chance") else "text"
        out.append(f'<th data-col="{i}" data-kind="{kind}" tabindex="0" title="click to sort">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for rank, e in enumerate(entries, 1):
        r, t = e.result, e.task_data
        cells = [_cell(str(rank), rank), _cell(esc(e.model), e.model, "model"), _cell(esc(e.family), e.family),
                 _cell(f"<code>{esc(e.revision)}</code>", e.revision), _cell(esc(e.backbone), e.backbone),
                 _cell(f"<b>{pct(r['probe'].get(main))}</b>", r["probe"][main]["mean"])]
        for c in controls:
            stat = r.get("controls", {}).get(c, {}).get(main)
            cells.append(_cell(pct(stat), stat["mean"] if stat else -1))
        cells.append(_cell(f"{100 * r['chance'].get(main, float('nan')):.1f}", r["chance"].get(main, -1)))
        for m in metrics[1:]:
            stat = r["probe"].get(m)
            cells.append(_cell(pct(stat), stat["mean"] if stat else -1))
        seeds = t["seeds"]
        cells += [_cell(str(len(t["runs"])), len(t["runs"])),
                  _cell(esc(f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else seeds[0]), seeds[0]),
                  _cell(esc(e.hardware), e.hardware), _cell(esc(e.data["date"][:10]), e.data["date"]),
                  _cell(f'<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>', e.rel)]
        out.append(f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _options(values: list[str]) -> str:
    return "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(set(values)))


def render_html(board: Board) -> str:
    css = (ASSETS / "board.css").read_text()
    js = (ASSETS / "board.js").read_text()
    every = [e for es in board.tasks.values() for e in es]
    sections = []
    for task, entries in sorted(board.tasks.items()):
        t0 = entries[0].task_data
        sections.append(
            f'<section class="task"><h2>{esc(task)} <small>v{esc(t0["version"])} · {esc(t0["dataset"]["name"])}: '
            f'{esc(t0["dataset"]["n_concepts"])} concepts, {esc(t0["dataset"]["n_instances"])} instances · '
            f'hash <code>{esc(t0["hash"][:12])}</code></small></h2>'
            f"{bar_chart(task, entries)}"
            f'<p class="legend"><span class="key probe"></span> probe <span class="key control"></span> permuted-text '
            f"control, bars ± standard error over runs; dashed: chance. Click a column header to sort.</p>"
            f"{task_table(task, entries)}</section>")
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
        f"{body}{stale}"
        f"<script>{js}</script></body></html>\n")


def render_markdown(board: Board) -> str:
    lines = ["# grounding-eval leaderboard", "",
             "Generated by `grounding-eval leaderboard build` from `submissions/` (do not edit by hand; "
             "`index.html` is the sortable page). Scores in %, mean ± standard error over runs.", ""]
    for task, entries in sorted(board.tasks.items()):
        main = entries[0].result["main_metric"]
        controls = _controls(entries)
        lines += [f"## {md_escape(task)}", "",
                  "| model | revision | backbone | " + f"{md_escape(main)} probe | "
                  + "".join(f"{md_escape(c)} | " for c in controls) + "chance | runs | hardware | raw |",
                  "|" + "---|" * (8 + len(controls))]
        for e in entries:
            r = e.result
            ctrl = "".join(f"{pct(r.get('controls', {}).get(c, {}).get(main))} | " for c in controls)
            lines.append(f"| {md_escape(e.model)} | {md_escape(e.revision)} | {md_escape(e.backbone)} | "
                         f"{pct(r['probe'][main])} | {ctrl}{100 * r['chance'][main]:.1f} | {len(e.task_data['runs'])} | "
                         f"{md_escape(e.hardware)} | [JSON]({urllib.parse.quote(e.rel)}) |")
        lines.append("")
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
    html_text, md_text = render_html(board), render_markdown(board)  # both rendered before either is written
    atomic_write_text(page, html_text)
    atomic_write_text(readme, md_text)
    return page, readme, board
