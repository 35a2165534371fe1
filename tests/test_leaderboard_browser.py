"""The built leaderboard page in a real browser (headless Debian chromium over DevTools): a click on a
column header sorts the table, a screenshot is taken, and a model name holding markup shows as text."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from chromium import Browser
from grounding_eval.leaderboard.build import build
from grounding_eval.leaderboard.submit import submit

REPO = Path(__file__).resolve().parent.parent
TASK = "distro_sounds_audio_probe"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def board(tmp_path):
    """The committed real entries (MiniLM x aisfx, MiniLM x logmel) plus one whose model name is markup."""
    root = tmp_path / "lb"
    for f in sorted((REPO / "leaderboard" / "submissions" / TASK).rglob("*.json")):
        submit(str(f), root)
    evil = json.loads((REPO / "leaderboard" / "golden" / f"{TASK}.json").read_text())
    evil = copy.deepcopy(evil)
    evil["model"]["name"] = XSS
    evil["model"]["identity"]["weights_sha256"] = "ab" * 32  # another model, so it is its own row
    (tmp_path / "evil.json").write_text(json.dumps(evil))
    submit(str(tmp_path / "evil.json"), root)
    build(root)
    return root


ROWS = "[...document.querySelectorAll('table.board tbody tr')].map(r => r.cells[1].textContent + ' | ' + r.cells[4].textContent)"


def test_page_sorts_on_click_and_shows_markup_as_text(board, tmp_path):
    with Browser() as b:
        b.open((board / "index.html").as_uri())
        before = b.eval(ROWS)
        committed = [p for p in sorted((REPO / "leaderboard" / "submissions" / TASK).rglob("*.json"))
                     if not p.name.endswith(".layers.json")]  # sweeps are curves, not table rows
        assert len(before) == len(committed) + 1
        # Rows start ranked by the probe's main metric; a click on "#" sorts high to low: the order reverses.
        headers = b.eval("[...document.querySelectorAll('table.board th')].map(h => h.textContent)")
        b.click("table.board th[data-col='0']")
        after = b.eval(ROWS)
        assert after != before and after == before[::-1]
        # A click on "backbone" sorts by name, A to Z.
        col = headers.index("backbone")
        b.click(f"table.board th[data-col='{col}']")
        assert [r.split(" | ")[1] for r in b.eval(ROWS)] == sorted(r.split(" | ")[1] for r in before)
        b.click(f"table.board th[data-col='{col}']")  # second click: Z to A
        assert [r.split(" | ")[1] for r in b.eval(ROWS)] == sorted((r.split(" | ")[1] for r in before), reverse=True)
        # A numeric column: the permuted control, high to low on the first click.
        ctrl = headers.index("accuracy@3 (permuted_text)")
        b.click(f"table.board th[data-col='{ctrl}']")
        values = b.eval(f"[...document.querySelectorAll('table.board tbody tr')].map(r => parseFloat(r.cells[{ctrl}].dataset.sort))")
        assert values == sorted(values, reverse=True)
        # Filter by backbone hides the other rows.
        b.eval("(() => { const s = document.getElementById('filter-backbone'); s.value = 'logmel';"
               " s.dispatchEvent(new Event('change')); })()")
        visible = b.eval("[...document.querySelectorAll('table.board tbody tr')].filter(r => !r.hidden).map(r => r.cells[4].textContent)")
        assert visible == ["logmel"] * sum(p.parts[-3] == "logmel" for p in committed)
        b.eval("(() => { const s = document.getElementById('filter-backbone'); s.value = '';"
               " s.dispatchEvent(new Event('change')); })()")
        # The markup in the model name is text: no <img> element exists, no alert() ran, the text reads as submitted.
        assert b.eval("document.querySelectorAll('img').length") == 0
        assert XSS in b.eval("[...document.querySelectorAll('td.model')].map(td => td.textContent)")
        assert XSS in b.eval("[...document.querySelectorAll('select#filter-family option')].map(o => o.textContent)")
        assert b.dialogs() == []
        shot = b.screenshot(tmp_path / "leaderboard.png")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


NO_OVERFLOW = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def _at_width(b: Browser, width: int) -> None:
    b.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)


@pytest.fixture
def board_with_sweep(tmp_path, tiny_sweep_results, quick_tasks):
    """The committed entries plus a real layer sweep (tiny BERT on the quick task, filed under a public name)."""
    root = tmp_path / "lb"
    for f in sorted((REPO / "leaderboard" / "submissions").rglob("*.json")):
        submit(str(f), root)
    sweep = json.loads(tiny_sweep_results.read_text())
    submit(str(tiny_sweep_results), root, include_paths=(quick_tasks,), public_name="example/tiny-bert",
           weights_sha256=sweep["model"]["identity"]["weights_sha256"])
    build(root, (quick_tasks,))
    return root


def test_page_fits_1280_px_and_draws_the_layer_sweep(board_with_sweep, tmp_path):
    with Browser() as b:
        b.open((board_with_sweep / "index.html").as_uri())
        _at_width(b, 1280)
        scroll, client = b.eval(NO_OVERFLOW)
        assert client <= 1280 and scroll <= client, f"page is {scroll} px wide in a {client} px window"
        # one section per task; the sweep is a drawn curve: 3 layers x (probe, control) points, a chance line
        committed_tasks = [p for p in (REPO / "leaderboard" / "submissions").iterdir() if p.is_dir()]
        assert b.eval("document.querySelectorAll('section.task').length") == len(committed_tasks) + 1
        fig = "document.querySelector('figure.sweep[data-family=\"example\"]')"
        assert b.eval(f"{fig}.querySelectorAll('circle.pt.probe').length") == 3
        assert b.eval(f"{fig}.querySelectorAll('circle.pt.control').length") == 3
        assert b.eval(f"{fig}.querySelector('line.chance') !== null")
        # the curves are lines and their +-SE bands the only fills: a filled polyline closes from the first to
        # the last layer and covers the chart (the bar chart's .probe/.control fill once reached them)
        for cls in ("probe", "control"):
            assert b.eval(f"getComputedStyle({fig}.querySelector('polyline.line.{cls}')).fill") == "none"
            assert b.eval(f"getComputedStyle({fig}.querySelector('polygon.band.{cls}')).fill") != "none"
        width = b.eval(f"{fig}.querySelector('svg').getBoundingClientRect().width")
        assert 200 < width <= 1280
        # the family filter hides the sweep of another family, and shows it again
        b.eval("(() => { const s = document.getElementById('filter-family'); s.value = 'sentence-transformers';"
               " s.dispatchEvent(new Event('change')); })()")
        assert b.eval(f"{fig}.hidden") is True
        b.eval("(() => { const s = document.getElementById('filter-family'); s.value = 'example';"
               " s.dispatchEvent(new Event('change')); })()")
        assert b.eval(f"{fig}.hidden") is False
        assert b.eval("[...document.querySelectorAll('table.board tbody tr')].every(r => r.hidden)")
        b.screenshot(tmp_path / "sweep.png")


def test_the_committed_page_fits_1280_px():
    """The real leaderboard as committed (built by `grounding-eval leaderboard build`): every task a section,
    no horizontal scrolling at 1280 px. (The layer-sweep curve is checked above on a real tiny sweep.)"""
    with Browser() as b:
        b.open((REPO / "leaderboard" / "index.html").as_uri())
        _at_width(b, 1280)
        scroll, client = b.eval(NO_OVERFLOW)
        assert scroll <= client <= 1280, f"page is {scroll} px wide in a {client} px window"
        tasks = {p.name for p in (REPO / "leaderboard" / "submissions").iterdir() if p.is_dir()}
        assert b.eval("document.querySelectorAll('section.task').length") == len(tasks) >= 3
        assert b.eval("document.querySelectorAll('table.board tbody tr').length") >= 12
        # each table's rows fit too (a wide table inside a narrow section would not show in scrollWidth if clipped)
        widths = b.eval("[...document.querySelectorAll('table.board')].map(t => t.getBoundingClientRect().right)")
        assert max(widths) <= client
        # SmolLM2's committed sweep: embeddings + 30 layers, probe and permuted control at each, the chance line
        figs = b.eval("[...document.querySelectorAll('figure.sweep')].map(f => [f.querySelector('figcaption b').textContent,"
                      " f.querySelectorAll('circle.pt.probe').length, f.querySelectorAll('circle.pt.control').length,"
                      " f.querySelector('line.chance') !== null])")
        smol = [f for f in figs if f[0] == "HuggingFaceTB/SmolLM2-135M-Instruct"]
        assert smol and all(f[1:] == [31, 31, True] for f in smol)


def test_a_generative_table_shows_its_row_sorts_and_fits(tmp_path):
    """A generative entry (the template baseline on the notes tier, as the harness wrote it) beside a probe entry:
    its own table with the main metric, valid-audio rate and controls; sorting and the filter work on it too."""
    root = tmp_path / "lb"
    submit(str(REPO / "leaderboard" / "golden" / f"{TASK}.json"), root)
    submit(str(REPO / "tests" / "data" / "notes_generative_template.json"), root)
    build(root)
    gen = "table.board.generative"
    with Browser() as b:
        b.open((root / "index.html").as_uri())
        _at_width(b, 1280)
        scroll, client = b.eval(NO_OVERFLOW)
        assert scroll <= client <= 1280, f"page is {scroll} px wide in a {client} px window"
        headers = b.eval(f"[...document.querySelectorAll('{gen} th')].map(h => h.textContent)")
        assert headers[:8] == ["#", "model", "revision", "embedder", "failures as silence", "valid clips", "valid audio %",
                               "template baseline"]
        row = b.eval(f"[...document.querySelectorAll('{gen} tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
        assert len(row) == 1 and row[0][1:4] == ["template", "template", "aisfx"]
        assert row[0][4].split() == ["10.0", "[5.0,", "16.0]"] and row[0][6].split() == ["100.0", "[96.3,", "100.0]"]
        b.click(f"{gen} th[data-col='{headers.index('valid audio %')}']")  # sorting works (one row: stays)
        assert b.eval(f"document.querySelectorAll('{gen} tbody tr').length") == 1
        b.eval("(() => { const s = document.getElementById('filter-family'); s.value = 'sentence-transformers';"
               " s.dispatchEvent(new Event('change')); })()")
        assert b.eval(f"[...document.querySelectorAll('{gen} tbody tr')].every(r => r.hidden)")
        assert not b.eval("[...document.querySelectorAll('table.board:not(.generative) tbody tr')].every(r => r.hidden)")
