"""`grounding-eval grid paper`: the published grid of models x audio backbones in one command, and a table
of our numbers beside the published ones.

A grid is a YAML file (`grounding_eval/kinds/probe/paper/ngo_kim_2024.yaml` is `paper`): a task, a metric, labelled
models (what `--model` takes) and backbones (what `--audio-backbone` takes), and optionally the published
numbers as [mean, standard error, permuted-control mean] per cell. Every cell runs on its own: a cell
whose model or backbone cannot load (no network, no weights, no plugin) is reported with its one-line
reason and the grid goes on; the table shows whatever ran. Results: one results JSON per cell under
OUTPUT/cells/, and OUTPUT/grid_<date>.json + .md with the table.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Callable

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from rich.console import Console

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.results import parse_results
from grounding_eval.validation import Valid, dotted, expected, got, unknown_key

BUILTIN_GRIDS = {"paper": "ngo_kim_2024.yaml"}


def _labels(value: Any) -> Any:
    """Labels and names are text; YAML may read a label such as 2024 as a number."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value


Labels = Annotated[dict[str, str], BeforeValidator(_labels), Field(min_length=1),
                   Valid("a non-empty mapping of label -> name")]
Cell = Annotated[list[float], Field(min_length=2, max_length=3)]
PUBLISHED = "model label -> backbone label -> [mean, stderr] or [mean, stderr, permuted], numbers in %"


class Grid(BaseModel):
    """A grid file: which task and metric, which models and backbones, and the published numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)

    name: str = ""
    """shown in titles; default: the grid's name or path"""
    source: str = ""
    """where the published numbers come from"""
    task: str
    """the task every cell runs (what --task takes)"""
    metric: str = "accuracy@3"
    """the probe score the table shows"""
    chance: float | None = None
    """chance level in %, for the table's caption"""
    models: Labels
    """label -> what --model takes"""
    backbones: Labels
    """label -> what --audio-backbone takes"""
    published: Annotated[dict[str, dict[str, Cell]], Valid(PUBLISHED)] = {}
    """model label -> backbone label -> [mean, stderr] or [mean, stderr, permuted], in %"""


def load_grid(spec: str) -> Grid:
    """A built-in grid name (`paper`) or a path to a grid YAML file."""
    if spec in BUILTIN_GRIDS:
        text = resources.files("grounding_eval.kinds.probe").joinpath("paper", BUILTIN_GRIDS[spec]).read_text(encoding="utf-8")
        shown = f"grid {spec!r}"
    else:
        path = Path(spec)
        if not path.is_file():
            raise GroundingEvalError(f"grid {spec!r}: not a built-in grid ({', '.join(BUILTIN_GRIDS)}) nor a YAML file")
        try:
            text, shown = path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError:
            raise GroundingEvalError(f"{spec}: not UTF-8 text; a grid is a YAML file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise GroundingEvalError(f"{shown}{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise GroundingEvalError(f"{shown}: a grid file is a mapping with task, metric, models, backbones")
    try:
        return Grid.model_validate({"name": spec, **{k: v for k, v in data.items() if v is not None}})
    except ValidationError as exc:
        raise GroundingEvalError(f"{shown}: {_message(exc.errors()[0])}") from None


def _message(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        return unknown_key(Grid, loc)
    if err["type"] == "missing":
        return f"missing field {dotted(loc)!r} ({expected(Grid, err)})"
    if loc[0] == "published":  # the whole table's shape, at the level of the cell that breaks it
        return f"field {dotted(loc[:3])}: must be {PUBLISHED}"
    return f"field {dotted(loc)}: must be {expected(Grid, err)}, got {got(err['input'])}"


def pick(labels: dict[str, str], wanted: str | None, what: str) -> dict[str, str]:
    if not wanted:
        return labels
    out = {}
    for w in (x.strip() for x in wanted.split(",") if x.strip()):
        hit = [k for k in labels if k.lower() == w.lower() or labels[k] == w]
        if not hit:
            raise GroundingEvalError(f"--{what}: {w!r} is not in the grid; valid: {', '.join(labels)}")
        out[hit[0]] = labels[hit[0]]
    return out


def run_grid(grid: Grid, evaluate: Callable[..., Any], *, models: dict[str, str], backbones: dict[str, str],
             output_dir: Path, console: Console, eval_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every cell, each in isolation (`evaluate` is runner.evaluate, passed in so that reading a grid file,
    e.g. for `schema grid`, does not load the runner's torch); a failing cell becomes its one-line reason."""

    cells: list[dict[str, Any]] = []
    for m_label, model in models.items():
        for b_label, backbone in backbones.items():
            cell: dict[str, Any] = {"model_label": m_label, "model": model, "backbone_label": b_label, "backbone": backbone}
            console.print(f"[bold]{m_label}[/] x [bold]{b_label}[/] ({model}, --audio-backbone {backbone}) ...")
            try:
                res = evaluate(model, grid.task, audio_backbone=backbone, output_path=str(output_dir / "cells"),
                               console=console, **eval_kwargs)
            except GroundingEvalError as exc:
                cell["error"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - any loader failure is this cell's, not the grid's
                cell["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            else:
                typed = parse_results(res, "results (internal)")
                r = typed.results[grid.task]
                if grid.metric not in r.probe:  # a typo would otherwise fill every cell with "-"
                    raise GroundingEvalError(f"grid {grid.name}: metric {grid.metric!r} is not a score of task "
                                             f"{grid.task}; valid: {', '.join(sorted(r.probe))}")
                permuted = r.controls.get("permuted_text", {}).get(grid.metric)
                cell["ours"] = r.probe[grid.metric].model_dump(exclude_unset=True)  # plain data for the grid JSON
                cell["permuted_text"] = permuted.model_dump(exclude_unset=True) if permuted else None
                test = r.paired_tests.get("permuted_text", {}).get(grid.metric)
                cell["p_value"] = test.p_value if test else None
                cell["results_file"] = typed.output_file
            if "error" in cell:
                console.print(f"  [red]failed[/]: {cell['error']}")
            pub = grid.published.get(m_label, {}).get(b_label)
            if pub:
                cell["published"] = {"mean": pub[0], "stderr": pub[1], "permuted_text": pub[2] if len(pub) > 2 else None}
            cells.append(cell)
    return {"grid": grid.name, "source": grid.source, "task": grid.task, "metric": grid.metric,
            "chance_percent": grid.chance, "cells": cells}


def _ours(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "-"
    se = stat.get("stderr")
    return f"{100 * stat['mean']:.1f}" + (f" ± {100 * se:.1f}" if se is not None else "")


def grid_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per model; per backbone two columns: ours "mean ± SE / permuted", paper "mean (SEM) / permuted"."""
    cells = summary["cells"]
    models = list(dict.fromkeys(c["model_label"] for c in cells))
    backbones = list(dict.fromkeys(c["backbone_label"] for c in cells))
    header = ["LM"]
    for b in backbones:
        header += [f"{b} ours / perm", f"{b} paper / perm"]
    rows = []
    for m in models:
        row = [m]
        for b in backbones:
            c = next(x for x in cells if x["model_label"] == m and x["backbone_label"] == b)
            pub = c.get("published")
            if c.get("error", "").startswith("not run"):
                ours = "-"
            elif "error" in c:
                ours = "failed"
            else:
                ours = f"{_ours(c.get('ours'))} / {_ours(c.get('permuted_text'))}"
            paper = "-"
            if pub:
                paper = f"{pub['mean']:.1f} ({pub['stderr']:.1f})"
                if pub.get("permuted_text") is not None:
                    paper += f" / {pub['permuted_text']:.1f}"
            row += [ours, paper]
        rows.append(row)
    return header, rows


def markdown(summary: dict[str, Any]) -> str:
    header, rows = grid_rows(summary)
    lines = [f"# Grid {summary['grid']}: {summary['metric']} (%) on {summary['task']}", "",
             f"Published: {summary['source']}. Ours: mean ± standard error over runs.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    failed = [c for c in summary["cells"] if "error" in c]
    if failed:
        lines += ["", "Cells that did not run:", ""]
        lines += [f"- {c['model_label']} x {c['backbone_label']}: {c['error']}" for c in failed]
    return "\n".join(lines) + "\n"
