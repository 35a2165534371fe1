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
from grounding_eval.leaderboard.submit import (SUBMISSIONS, backbone, entry_path, entry_task, is_sweep, model_revision,
                                               sweep_layers)
from grounding_eval.results import AnyResults, GenerativeResults, Interval, Stat, load

ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass
class Entry:
    """One (task, backbone, model, revision) row, read from its JSON file; or a layer sweep of one."""

    task: str
    path: Path  # the JSON file
    rel: str  # its path relative to the leaderboard folder, for links
    data: AnyResults

    @property
    def sweep(self) -> bool:
        return is_sweep(self.data)

    @property
    def generative(self) -> bool:
        return isinstance(self.data, GenerativeResults)

    @property
    def key(self) -> str:
        """The results key shown in the table: the task, or a sweep's last layer."""
        return sweep_layers(self.data)[-1][1] if self.sweep else self.task

    @property
    def task_data(self) -> Any:  # TaskRecord | GenerativeTaskRecord
        return self.data.tasks[self.key]

    @property
    def result(self) -> Any:  # TaskResult | GenerativeTaskResult
        return self.data.results[self.key]

    @property
    def model(self) -> str:
        return self.data.model.name

    @property
    def family(self) -> str:
        """The model family: the hub organisation of `org/name` (HuggingFaceTB, sentence-transformers), the
        kind for static vectors and untrained controls (static, random-init), "local" for a folder path."""
        kind, _, name = self.model.rpartition(":")
        if kind in ("static", "random-init"):
            return kind
        if name.startswith(("/", ".", "~")) or name.count("/") > 1:
            return "local"
        return name.split("/", 1)[0]

    @property
    def backbone(self) -> str:
        return backbone(self.task_data)

    @property
    def revision(self) -> str:
        return model_revision(self.data)

    @property
    def hardware(self) -> str:
        env = self.data.environment
        cores = f", {env.cpu_count} cores" if env.cpu_count else ""
        return f"{'unknown CPU' if env.cpu is None else env.cpu}{cores}, device {env.device}"


@dataclass
class Board:
    """All current entries grouped by task (single-layer rows; layer sweeps apart), and the entries left off."""

    tasks: dict[str, list[Entry]] = field(default_factory=dict)
    sweeps: dict[str, list[Entry]] = field(default_factory=dict)
    generative: dict[str, list[Entry]] = field(default_factory=dict)  # generative tasks: one table each
    stale: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why)


def collect(root: Path, include_paths: tuple[str, ...] = ()) -> Board:
    board = Board()
    base = root / SUBMISSIONS
    for path in sorted(base.rglob("*.json")) if base.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        data = load(str(path))
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
        entry = Entry(task, path, rel, data)
        group = board.generative if entry.generative else board.sweeps if entry.sweep else board.tasks
        group.setdefault(task, []).append(entry)
    for entries in [*board.tasks.values(), *board.sweeps.values()]:
        main = entries[0].result.main_metric
        entries.sort(key=lambda e: (-e.result.probe[main].mean, e.model, e.backbone))
    for entries in board.generative.values():  # ranked by the main metric with failures counted as silence
        entries.sort(key=lambda e: (-_mean(e.result.main()), e.model, e.backbone))
    return board


def _mean(stat: Any) -> float:
    return stat.mean if stat is not None and stat.mean is not None else -1.0


# -- formatting --------------------------------------------------------------------------------------

def esc(text: Any) -> str:
    """Text for HTML content and double- or single-quoted attributes."""
    return html.escape(str(text), quote=True)


def pct(stat: Stat | None) -> str:
    if not stat:
        return "–"
    return f"{100 * stat.mean:.1f} ± {100 * stat.stderr:.1f}" if stat.stderr is not None else f"{100 * stat.mean:.1f}"


def pct_ci(stat: Interval | None) -> str:
    """A score over clips with its 95 % interval: `12.0 [6.0, 19.0]`."""
    if stat is None or stat.mean is None:
        return "–"
    return f"{100 * stat.mean:.1f} [{100 * stat.ci[0]:.1f}, {100 * stat.ci[1]:.1f}]" if stat.ci else f"{100 * stat.mean:.1f}"


def md_escape(text: Any) -> str:
    """Text for a GitHub markdown table cell: HTML is escaped (GitHub renders raw HTML), markdown inert."""
    out = html.escape(str(text), quote=True)
    for ch in "\\`*_[]|#!":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def _metrics(entries: list[Entry]) -> list[str]:
    seen: list[str] = []
    for e in entries:
        for m in e.result.probe:
            if m not in seen:
                seen.append(m)
    return seen


def _controls(entries: list[Entry]) -> list[str]:
    return sorted({c for e in entries for c in e.result.controls})


# -- the bar chart (SVG, in the style of the paper's Figure 3) -------------------------------------------

def bar_chart(task: str, entries: list[Entry]) -> str:
    """Probe vs permuted control per (model, backbone), ± standard error, chance as a dashed line."""
    main = entries[0].result.main_metric
    chance = entries[0].result.chance.get(main, 0.0)
    groups = []
    for e in entries:
        ctrl = e.result.controls.get("permuted_text", {}).get(main)
        groups.append((f"{e.model} · {e.backbone}", e.result.probe[main], ctrl))
    top = max([chance] + [s.mean + (s.stderr or 0) for _, p, c in groups for s in (p, c) if s]) or 1.0
    top = min(1.0, math.ceil(top * 10 + 0.5) / 10)
    bw, gap, left, h, bottom, right = 16, 34, 48, 220, 220, 110  # narrow bars: 16 rows still fit 1280 px
    width = left + len(groups) * (2 * bw + gap) + right
    y = lambda v: 10 + h * (1 - v / top)  # noqa: E731 - a local scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart bars" style="max-width:{width}px" '
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
            parts.append(f'<rect class="{cls}" x="{x}" y="{y(stat.mean):.1f}" width="{bw - 2}" '
                         f'height="{max(0.0, y(0) - y(stat.mean)):.1f}"><title>{esc(label)} {cls}: {pct(stat)} %</title></rect>')
            if stat.stderr:
                cx, lo, hi = x + (bw - 2) / 2, y(max(0.0, stat.mean - stat.stderr)), y(min(top, stat.mean + stat.stderr))
                parts.append(f'<path class="err" d="M{cx:.1f},{lo:.1f}V{hi:.1f}M{cx - 5:.1f},{lo:.1f}h10M{cx - 5:.1f},{hi:.1f}h10"/>')
        tx = x0 + bw
        parts.append(f'<text class="label" x="{tx}" y="{y(0) + 12:.1f}" transform="rotate(50 {tx} {y(0) + 12:.1f})">{esc(label if len(label) <= 44 else label[:43] + "…")}</text>')
    parts.append(f'<line class="chance" x1="{left}" x2="{width - right}" y1="{y(chance):.1f}" y2="{y(chance):.1f}"/>'
                 f'<text class="chance-label" x="{width - right + 8}" y="{y(chance) + 4:.1f}">chance {100 * chance:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the layer-sweep chart (one per swept model and backbone) -------------------------------------------

def sweep_chart(e: Entry) -> str:
    """Main metric per hidden layer (x): probe and permuted control with ± standard error bands, chance dashed."""
    layers = sweep_layers(e.data)
    main = e.result.main_metric
    chance = e.result.chance.get(main, 0.0)
    series = {"probe": [], "control": []}
    for layer, key in layers:
        r = e.data.results[key]
        series["probe"].append((layer, r.probe[main]))
        ctrl = r.controls.get("permuted_text", {}).get(main)
        if ctrl:
            series["control"].append((layer, ctrl))
    top = max([chance] + [st.mean + (st.stderr or 0) for pts in series.values() for _, st in pts]) or 1.0
    top = min(1.0, math.ceil(top * 10 + 0.5) / 10)
    w, h, left, right, pad_top, bottom = 560, 220, 48, 96, 10, 40
    lo_l, hi_l = layers[0][0], max(layers[-1][0], layers[0][0] + 1)
    x = lambda layer: left + (w - left - right) * (layer - lo_l) / (hi_l - lo_l)  # noqa: E731 - local scales
    y = lambda v: pad_top + h * (1 - v / top)  # noqa: E731
    title = f"{e.model} · {e.backbone}: {main} per layer"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart sweep" data-layers="{len(layers)}" '
             f'viewBox="0 0 {w} {h + pad_top + bottom}"><title>{esc(title)}</title>']
    for i in range(6):
        v = top * i / 5
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{100 * v:.0f}</text>')
    step = max(1, round((hi_l - lo_l) / 10))
    for layer in range(lo_l, hi_l + 1, step):
        parts.append(f'<text x="{x(layer):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{layer}</text>')
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{y(0) + 34:.1f}" text-anchor="middle">layer (0 = embeddings)</text>'
                 f'<text x="12" y="{pad_top + h / 2}" transform="rotate(-90 12 {pad_top + h / 2})" text-anchor="middle">{esc(main)} (%)</text>')
    for cls, pts in series.items():
        if not pts:
            continue
        band = [(x(layer), y(min(top, st.mean + (st.stderr or 0)))) for layer, st in pts]
        band += [(x(layer), y(max(0.0, st.mean - (st.stderr or 0)))) for layer, st in reversed(pts)]
        parts.append(f'<polygon class="band {cls}" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in band)}"/>')
        line = " ".join(f"{x(layer):.1f},{y(st.mean):.1f}" for layer, st in pts)
        parts.append(f'<polyline class="line {cls}" points="{line}"/>')
        for layer, st in pts:
            parts.append(f'<circle class="pt {cls}" cx="{x(layer):.1f}" cy="{y(st.mean):.1f}" r="2.5">'
                         f'<title>layer {layer} {"probe" if cls == "probe" else "permuted control"}: {pct(st)} %</title></circle>')
    parts.append(f'<line class="chance" x1="{left}" x2="{w - right}" y1="{y(chance):.1f}" y2="{y(chance):.1f}"/>'
                 f'<text class="chance-label" x="{w - right + 6}" y="{y(chance) + 4:.1f}">chance {100 * chance:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sweep_section(task: str, sweeps: list[Entry]) -> str:
    out = [f'<h3>Layer sweeps <small>(one forward, every hidden layer; the last layer is the table row above)</small></h3>'
           '<div class="sweeps">']
    for e in sweeps:
        main = e.result.main_metric
        best_layer, best_key = max(sweep_layers(e.data), key=lambda lk: e.data.results[lk[1]].probe[main].mean)
        out.append(f'<figure class="sweep" data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{sweep_chart(e)}'
                   f'<figcaption><b>{esc(e.model)}</b> · {esc(e.backbone)} · <code>{esc(e.revision)}</code> · '
                   f'{len(e.task_data.runs)} runs per layer · highest probe at layer {best_layer}: '
                   f'{pct(e.data.results[best_key].probe[main])} (picked on test classes: descriptive, not a '
                   f'held-out choice) · <a href="{esc(urllib.parse.quote(e.rel))}">JSON</a></figcaption></figure>')
    out.append("</div>")
    return "".join(out)


# -- the page ----------------------------------------------------------------------------------------

def _cell(text: str, sort: Any, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-sort="{esc(sort)}">{text}</td>'


def task_table(task: str, entries: list[Entry]) -> str:
    main = entries[0].result.main_metric
    metrics = [main] + [m for m in _metrics(entries) if m != main]
    controls = _controls(entries)
    # At most ~12 narrow columns, so the table fits 1280 px without scrolling: the other metrics share one
    # cell, and hardware shares one with the date.
    head = ["#", "model", "family", "revision", "backbone", f"{main} (probe)"]
    head += [f"{main} ({c})" for c in controls] + [f"chance {main}"]
    head += (["other metrics (probe)"] if metrics[1:] else []) + ["runs", "seeds", "date · hardware", "raw"]
    out = [f'<table class="board" id="table-{esc(task)}"><thead><tr>']
    for i, h in enumerate(head):
        kind = "num" if h in ("#", "runs") or ("(" in h and not h.startswith("other")) or h.startswith("chance") else "text"
        out.append(f'<th data-col="{i}" data-kind="{kind}" tabindex="0" title="click to sort">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for rank, e in enumerate(entries, 1):
        r, t = e.result, e.task_data
        cells = [_cell(str(rank), rank), _cell(esc(e.model), e.model, "model"), _cell(esc(e.family), e.family, "wrap"),
                 _cell(f"<code>{esc(e.revision)}</code>", e.revision, "wrap"), _cell(esc(e.backbone), e.backbone),
                 _cell(f"<b>{pct(r.probe.get(main))}</b>", r.probe[main].mean)]
        for c in controls:
            stat = r.controls.get(c, {}).get(main)
            cells.append(_cell(pct(stat), stat.mean if stat else -1))
        cells.append(_cell(f"{100 * r.chance.get(main, float('nan')):.1f}", r.chance.get(main, -1)))
        if metrics[1:]:
            lines = "<br>".join(f"{esc(m)} {pct(r.probe.get(m))}" for m in metrics[1:])
            others = f"<details><summary>{len(metrics) - 1} more</summary>{lines}</details>"  # folded: keeps rows short
            first = r.probe.get(metrics[1])
            cells.append(_cell(others, first.mean if first else -1, "others"))
        seeds = t.seeds
        cells += [_cell(str(len(t.runs)), len(t.runs)),
                  _cell(esc(f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else seeds[0]), seeds[0]),
                  _cell(f'{esc(e.data.date[:10])}<br><small>{esc(e.hardware)}</small>', e.data.date, "when"),
                  _cell(f'<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>', e.rel)]
        out.append(f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


# -- generative tasks: one table each ---------------------------------------------------------------------

GENERATIVE_CONTROLS = ("silence", "white_noise", "split_half")


def generative_columns(entries: list[Entry]) -> tuple[str, list[str]]:
    """The main metric, and the controls any entry ran (shuffled prompts first: it is per system)."""
    main = entries[0].result.main_metric
    ran = {c for e in entries for c in e.result.results.controls}
    shuffled = any(s.shuffled_prompts for e in entries for s in e.result.results.systems.values())
    return main, (["shuffled prompts"] if shuffled else []) + [c for c in GENERATIVE_CONTROLS if c in ran]


def generative_cells(e: Entry, main: str, controls: list[str]) -> list[tuple[Interval | None, str]]:
    """(score, how it reads) per column after the revision: the system, the template baseline beside it, the controls."""
    r = e.result
    system = r.results.systems[r.main_system]
    template = r.results.systems.get("template")
    out = [(r.main(), "main"), (r.main(scored_on="valid_only"), "valid"),
           (template.failures_as_silence.metric(main) if template else None, "template")]
    for c in controls:
        scores = system.shuffled_prompts if c == "shuffled prompts" else r.results.controls.get(c)
        out.append((scores.metric(main) if scores else None, c))
    return out


def valid_rate(e: Entry) -> str:
    o = e.result.results.systems[e.result.main_system].outcomes
    lo, hi = o.valid_rate_interval
    return f"{100 * o.valid_rate:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def generative_table(task: str, entries: list[Entry]) -> str:
    """Main metric with failures as silence (the ranking) and over valid clips, valid-audio rate, the template
    baseline and the controls beside, chance; percentages with 95 % intervals (bootstrap over clips; Wilson)."""
    main, controls = generative_columns(entries)
    # Narrow columns (the metric is named once, above the table; intervals on a second line; the family only as
    # the row's filter attribute): fits 1280 px.
    head = ["#", "model", "revision", "embedder", "failures as silence", "valid clips", "valid audio %",
            "template baseline", *[c.replace("_", " ") for c in controls], "chance", "prompts × samples · seed",
            "date · hardware", "raw"]
    out = [f'<table class="board generative" id="table-{esc(task)}"><thead><tr>']
    for i, h in enumerate(head):
        kind = "text" if h in ("model", "revision", "embedder", "date · hardware", "raw") else "num"
        out.append(f'<th data-col="{i}" data-kind="{kind}" tabindex="0" title="click to sort">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for rank, e in enumerate(entries, 1):
        r, t = e.result, e.task_data
        o = r.results.systems[r.main_system].outcomes
        cells = [_cell(str(rank), rank), _cell(esc(e.model), e.model, "model"),
                 _cell(f"<code>{esc(e.revision)}</code>", e.revision, "wrap"), _cell(esc(e.backbone), e.backbone)]
        for i, (stat, _) in enumerate(generative_cells(e, main, controls)):
            text = two_lines(pct_ci(stat))
            cells.append(_cell(f"<b>{text}</b>" if i == 0 else text, _mean(stat)))
            if i == 1:
                cells.append(_cell(two_lines(valid_rate(e)), o.valid_rate))
        cells += [_cell(f"{100 * r.chance.get(main, float('nan')):.1f}", r.chance.get(main, -1)),
                  _cell(f"{len(t.prompts)} × {t.n_samples}<br><small>seed {esc(t.seed)}</small>", len(t.prompts) * t.n_samples),
                  _cell(f'{esc(e.data.date[:10])}<br><small>{esc(e.hardware)}</small>', e.data.date, "when"),
                  _cell(f'<a href="{esc(urllib.parse.quote(e.rel))}">JSON</a>', e.rel)]
        out.append(f'<tr data-backbone="{esc(e.backbone)}" data-family="{esc(e.family)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def two_lines(text: str) -> str:
    """`12.0 [6.0, 19.0]` as the score over its interval (keeps the columns narrow)."""
    mean, _, ci = text.partition(" ")
    return f"{mean}<br><small>{ci}</small>" if ci else mean


def generative_section(task: str, entries: list[Entry]) -> str:
    t0 = entries[0].task_data
    main = entries[0].result.main_metric
    return (f'<section class="task generative"><h2>{esc(task)} <small>generative v{esc(t0.version)} · {esc(t0.dataset.name)}: '
            f'{esc(t0.dataset.n_concepts)} concepts, {esc(t0.dataset.n_references)} references · '
            f'hash <code>{esc(t0.hash[:12])}</code></small></h2>'
            '<p class="legend">The model writes a program per prompt; its clip is ranked among all concepts by the '
            f"harness's judge. Scores are <b>{esc(main)}</b> in %, with every failed program counted as a silent clip "
            "(the ranking) and over valid clips only; the template baseline, shuffled prompts and the controls beside. "
            "95 % intervals below each number (bootstrap over clips; valid audio: Wilson). Click a column header to sort.</p>"
            f"{generative_table(task, entries)}</section>")


def generative_markdown(task: str, entries: list[Entry]) -> list[str]:
    main, controls = generative_columns(entries)
    lines = [f"## {md_escape(task)} (generative)", "",
             f"| model | revision | embedder | {md_escape(main)} failures as silence | {md_escape(main)} valid clips | "
             f"valid audio | template baseline | " + "".join(f"{md_escape(c)} | " for c in controls) + "chance | raw |",
             "|" + "---|" * (9 + len(controls))]
    for e in entries:
        cells = [pct_ci(stat) for stat, _ in generative_cells(e, main, controls)]
        cells.insert(2, valid_rate(e))
        lines.append(f"| {md_escape(e.model)} | {md_escape(e.revision)} | {md_escape(e.backbone)} | " + " | ".join(cells)
                     + f" | {100 * e.result.chance.get(main, float('nan')):.1f} | [JSON]({urllib.parse.quote(e.rel)}) |")
    return lines + [""]


def _options(values: list[str]) -> str:
    return "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(set(values)))


def render_html(board: Board) -> str:
    css = (ASSETS / "board.css").read_text()
    js = (ASSETS / "board.js").read_text()
    every = [e for es in [*board.tasks.values(), *board.sweeps.values(), *board.generative.values()] for e in es]
    sections = []
    for task in sorted(set(board.tasks) | set(board.sweeps)):
        entries, sweeps = board.tasks.get(task, []), board.sweeps.get(task, [])
        t0 = (entries or sweeps)[0].task_data
        sections.append(
            f'<section class="task"><h2>{esc(task)} <small>v{esc(t0.version)} · {esc(t0.dataset.name)}: '
            f'{esc(t0.dataset.n_concepts)} concepts, {esc(t0.dataset.n_instances)} instances · '
            f'hash <code>{esc(t0.hash[:12])}</code></small></h2>'
            + (f"{bar_chart(task, entries)}"
               f'<p class="legend"><span class="key probe"></span> probe <span class="key control"></span> permuted-text '
               f"control, bars ± standard error over runs; dashed: chance. Click a column header to sort.</p>"
               f"{task_table(task, entries)}" if entries else "")
            + (sweep_section(task, sweeps) if sweeps else "") + "</section>")
    sections += [generative_section(task, board.generative[task]) for task in sorted(board.generative)]
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
    for task in sorted(set(board.tasks) | set(board.sweeps)):
        entries = board.tasks.get(task, [])
        main = (entries or board.sweeps[task])[0].result.main_metric
        controls = _controls(entries)
        lines += [f"## {md_escape(task)}", "",
                  "| model | revision | backbone | " + f"{md_escape(main)} probe | "
                  + "".join(f"{md_escape(c)} | " for c in controls) + "chance | runs | hardware | raw |",
                  "|" + "---|" * (8 + len(controls))]
        for e in entries:
            r = e.result
            ctrl = "".join(f"{pct(r.controls.get(c, {}).get(main))} | " for c in controls)
            lines.append(f"| {md_escape(e.model)} | {md_escape(e.revision)} | {md_escape(e.backbone)} | "
                         f"{pct(r.probe[main])} | {ctrl}{100 * r.chance[main]:.1f} | {len(e.task_data.runs)} | "
                         f"{md_escape(e.hardware)} | [JSON]({urllib.parse.quote(e.rel)}) |")
        for e in board.sweeps.get(task, []):
            main = e.result.main_metric
            curve = ", ".join(f"{layer}: {100 * e.data.results[k].probe[main].mean:.1f}" for layer, k in sweep_layers(e.data))
            lines.append(f"Layer sweep, {md_escape(e.model)} · {md_escape(e.backbone)} ({md_escape(main)} probe % by layer): "
                         f"{curve}. [JSON]({urllib.parse.quote(e.rel)})")
            lines.append("")
        lines.append("")
    for task in sorted(board.generative):
        lines += generative_markdown(task, board.generative[task])
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
