"""What every kind's part of the leaderboard page is made of: one entry (a submitted file, read back), and
the escaping and number formats of the page and the README. A kind's own section (its charts and table)
is its `leaderboard` module's `html_section` / `markdown_section`; `build.py` puts the page together.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding_eval.leaderboard.checks import rules
from grounding_eval.leaderboard.profile import MIN_MODELS, collect, correlations, verdict
from grounding_eval.leaderboard.submit import is_sweep, model_revision, sweep_layers
from grounding_eval.results import ResultsFile


@dataclass
class BoardEntry:
    """One (task, backbone, model, revision) row, read from its JSON file; or a layer sweep of one."""

    task: str
    path: Path  # the JSON file
    rel: str  # its path relative to the leaderboard folder, for links
    data: ResultsFile

    @property
    def sweep(self) -> bool:
        return is_sweep(self.data)

    @property
    def key(self) -> str:
        """The results key shown in the table: the task, or a sweep's last layer."""
        return sweep_layers(self.data)[-1][1] if self.sweep else self.task

    @property
    def task_data(self) -> Any:  # the kind's task record
        return self.data.tasks[self.key]

    @property
    def result(self) -> Any:  # the kind's task result
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
        return rules(self.data).backbone(self.task_data)

    @property
    def revision(self) -> str:
        return model_revision(self.data)

    @property
    def hardware(self) -> str:
        env = self.data.environment
        cores = f", {env.cpu_count} cores" if env.cpu_count else ""
        return f"{'unknown CPU' if env.cpu is None else env.cpu}{cores}, device {env.device}"


# -- formatting --------------------------------------------------------------------------------------

def esc(text: Any) -> str:
    """Text for HTML content and double- or single-quoted attributes."""
    return html.escape(str(text), quote=True)


def pct(stat: Any) -> str:
    """A score over runs: `mean ± standard error` in percent (a probe's Stat)."""
    if not stat:
        return "–"
    return f"{100 * stat.mean:.1f} ± {100 * stat.stderr:.1f}" if stat.stderr is not None else f"{100 * stat.mean:.1f}"


def pct_ci(stat: Any) -> str:
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


def cell(text: str, sort: Any, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-sort="{esc(sort)}">{text}</td>'


# -- the cross-kind profile (grounding-eval profile; docs/knowledge.md) ---------------------------------------

def profile_section(root: Path) -> str:
    """Each model's mean main score per kind, and Spearman's rho between kinds over the models with both (95 %
    bootstrap interval over models), each flagged when fewer than MIN_MODELS models make it meaningless."""
    board = collect(root)
    kinds = board.kinds()
    if len(kinds) < 2:
        return ""
    head = "".join(f"<th>{esc(k)}</th>" for k in kinds)
    rows = ""
    for model in sorted(board.scores):
        cells = [board.kind_score(model, k) for k in kinds]
        rows += f"<tr>{cell(esc(model), model, 'model')}" + "".join(
            cell("–" if v is None else f"{100 * v:.1f}", -1 if v is None else v) for v in cells) + "</tr>"
    cors = "".join(_correlation_row(c) for c in correlations(board))
    return ('<section class="profile"><h2>Profile across kinds <small>represent (probe) · know (knowledge) · '
            'produce (generative)</small></h2><p class="legend">Each model\'s main score per kind, the mean over that '
            "kind's tasks (%); below, Spearman's rank correlation between kinds over the models that have both, with a "
            f"95 % bootstrap interval over models. Under {MIN_MODELS} models a correlation means nothing, and says so. "
            "<code>grounding-eval profile MODEL</code> prints one model's profile.</p>"
            f'<table class="board" id="table-profile"><thead><tr><th>model</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
            '<table class="board" id="table-profile-correlation"><thead><tr><th>kinds</th><th>models</th><th>rho</th>'
            f"<th>95 % interval</th><th>note</th></tr></thead><tbody>{cors}</tbody></table></section>")


def _correlation_row(c: dict[str, Any]) -> str:
    rho = "–" if c["rho"] is None else f"{c['rho']:+.2f}"
    ci = "–" if c["ci"] is None else f"[{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]"
    return f"<tr><td>{esc(' vs '.join(c['pair']))}</td><td>{c['n']}</td><td>{rho}</td><td>{ci}</td><td>{esc(verdict(c))}</td></tr>"
