"""`grounding-eval grid paper|FILE`: a grid of models x tasks x audio backbones in one command, and a table
of our numbers beside the published ones.

A grid is a YAML file (`grounding_eval/kinds/probe/paper/ngo_kim_2024.yaml` is `paper`): a task (or `tasks`),
a metric, labelled models (what `--model` takes, with optional `model_args` per label) and backbones (what
`--audio-backbone` takes; none: each task's own), optionally the published numbers as [mean, standard error,
permuted-control mean] per cell, and the resources of a SLURM job (`slurm:`). Its cells are grouped into one
job per model load (`cluster.py`), run here (`--executor local`) or on a SLURM cluster (`--executor slurm`).
Every cell runs on its own: a cell whose model or backbone cannot load is reported with its one-line reason
and the grid goes on; the table shows whatever ran. Results: one results JSON per cell under
OUTPUT/cells/<cell>/results.json, and OUTPUT/grid_<date>.json + .md with the table.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.probe.results import parse_results
from grounding_eval.validation import Valid, dotted, expected, got, unknown_key

BUILTIN_GRIDS = {"paper": "ngo_kim_2024.yaml"}


def _labels(value: Any) -> Any:
    """Labels and names are text; YAML may read a label such as 2024 as a number."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value


Labels = Annotated[dict[str, str], BeforeValidator(_labels), Field(min_length=1),
                   Valid("a non-empty mapping of label -> name")]
OptionalLabels = Annotated[dict[str, str], BeforeValidator(_labels), Valid("a mapping of label -> name")]
Cell = Annotated[list[float], Field(min_length=2, max_length=3)]
PUBLISHED = "model label -> backbone label -> [mean, stderr] or [mean, stderr, permuted], numbers in %"


class Slurm(BaseModel):
    """The resources of one SLURM job (one model load); command-line options override each."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)

    partition: str | None = None
    """the partition (sbatch --partition); default: the cluster's default partition"""
    time: Annotated[int, Field(ge=1), Valid("a whole number of minutes >= 1")] = 60
    """the time limit of one job, in minutes"""
    gpus: Annotated[int, Field(ge=0), Valid("a whole number >= 0")] = 0
    """GPUs per job"""
    cpus: Annotated[int, Field(ge=1), Valid("a whole number >= 1")] = 1
    """CPUs per job"""
    mem_gb: Annotated[float, Field(gt=0), Valid("a number of GB > 0")] | None = None
    """memory per job in GB; default: the partition's"""
    account: str | None = None
    """sbatch --account"""
    constraint: str | None = None
    """sbatch --constraint (node features)"""
    sbatch: list[str] = []
    """extra sbatch lines, each `--key=value` or `--flag` (e.g. --qos=high)"""
    setup: list[str] = []
    """shell lines run before the job (module load ..., source venv/bin/activate)"""
    parallel: Annotated[int, Field(ge=1), Valid("a whole number >= 1")] = 16
    """at most this many jobs of the grid at once (the job array's %N)"""


class Grid(BaseModel):
    """A grid file: which task and metric, which models and backbones, and the published numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)

    name: str = ""
    """shown in titles; default: the grid's name or path"""
    source: str = ""
    """where the published numbers come from"""
    task: str = ""
    """the task every cell runs (what --task takes); `published` is for this task"""
    tasks: list[str] = []
    """several tasks: every model x backbone cell runs each (give task or tasks)"""
    metric: str = "accuracy@3"
    """the probe score the table shows"""
    chance: float | None = None
    """chance level in %, for the table's caption"""
    models: Labels
    """label -> what --model takes"""
    model_args: dict[str, str] = {}
    """model label -> its --model-args (k=v,...), e.g. layer=all"""
    backbones: OptionalLabels = {}
    """label -> what --audio-backbone takes; empty: each task's own perception encoder"""
    published: Annotated[dict[str, dict[str, Cell]], Valid(PUBLISHED)] = {}
    """model label -> backbone label -> [mean, stderr] or [mean, stderr, permuted], in %"""
    slurm: Slurm = Slurm()
    """the resources of each SLURM job (--executor slurm)"""

    @property
    def task_list(self) -> list[str]:
        return list(self.tasks) or [self.task]

    @property
    def backbone_labels(self) -> dict[str, str | None]:
        """label -> backbone; no backbones: one column, each task's own encoder (None)."""
        return dict(self.backbones) or {"task's own": None}


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
        grid = Grid.model_validate({"name": spec, **{k: v for k, v in data.items() if v is not None}})
    except ValidationError as exc:
        raise GroundingEvalError(f"{shown}: {_message(exc.errors()[0])}") from None
    if not grid.task and not grid.tasks:
        raise GroundingEvalError(f"{shown}: missing field 'task' (a task name) or 'tasks' (a list of task names)")
    if not grid.task:
        grid = grid.model_copy(update={"task": grid.tasks[0]})
    for label in grid.model_args:
        if label not in grid.models:
            raise GroundingEvalError(f"{shown}: field model_args.{label}: not a model label of the grid; "
                                     f"valid: {', '.join(grid.models)}")
    return grid


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


def cell_summary(grid: Grid, cell: Any, results_file: Path | None, reason: str,
                 published: dict[str, Any]) -> dict[str, Any]:
    """One cell of the grid's summary: its numbers from its results file, or the one-line reason it has none."""
    out: dict[str, Any] = {"model_label": cell.model_label, "model": cell.model, "model_args": cell.model_args,
                           "task": cell.task, "backbone_label": cell.backbone_label, "backbone": cell.backbone,
                           **published}
    if results_file is None:
        out["error"] = reason
        return out
    typed = parse_results(json.loads(results_file.read_text(encoding="utf-8")), str(results_file))
    entry = cell.task if cell.task in typed.results else next(iter(typed.results))
    r = typed.results[entry]
    if grid.metric not in r.probe:  # a typo would otherwise fill every cell with "-"
        raise GroundingEvalError(f"grid {grid.name}: metric {grid.metric!r} is not a score of task "
                                 f"{cell.task}; valid: {', '.join(sorted(r.probe))}")
    permuted = r.controls.get("permuted_text", {}).get(grid.metric)
    out["ours"] = r.probe[grid.metric].model_dump(exclude_unset=True)  # plain data for the grid JSON
    out["permuted_text"] = permuted.model_dump(exclude_unset=True) if permuted else None
    test = r.paired_tests.get("permuted_text", {}).get(grid.metric)
    out["p_value"] = test.p_value if test else None
    out["results_file"] = str(results_file)
    return out


def _ours(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "-"
    se = stat.get("stderr")
    return f"{100 * stat['mean']:.1f}" + (f" ± {100 * se:.1f}" if se is not None else "")


def grid_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per model; per (task,) backbone a column "mean ± SE / permuted", and where the grid has published
    numbers a paper column "mean (SEM) / permuted" beside it."""
    cells = summary["cells"]
    models = list(dict.fromkeys(c["model_label"] for c in cells))
    tasks = list(dict.fromkeys(c.get("task", summary["task"]) for c in cells))
    backbones = list(dict.fromkeys(c["backbone_label"] for c in cells))
    with_paper = any(c.get("published") for c in cells)
    columns = [(t, b) for t in tasks for b in backbones]
    header = ["LM"]
    for t, b in columns:
        name = b if len(tasks) == 1 else f"{t} {b}"
        header += [f"{name} ours / perm"] + ([f"{name} paper / perm"] if with_paper else [])
    rows = []
    for m in models:
        row = [m]
        for t, b in columns:
            c = next((x for x in cells if x["model_label"] == m and x.get("task", summary["task"]) == t
                      and x["backbone_label"] == b), {})
            pub = c.get("published")
            if not c or c.get("error", "").startswith("not run"):
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
            row += [ours] + ([paper] if with_paper else [])
        rows.append(row)
    return header, rows


def markdown(summary: dict[str, Any]) -> str:
    header, rows = grid_rows(summary)
    lines = [f"# Grid {summary['grid']}: {summary['metric']} (%) on {', '.join(summary.get('tasks') or [summary['task']])}", "",
             f"Published: {summary['source']}. Ours: mean ± standard error over runs.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    failed = [c for c in summary["cells"] if "error" in c]
    if failed:
        lines += ["", "Cells that did not run:", ""]
        lines += [f"- {c['model_label']} x {c.get('task', summary['task'])} x {c['backbone_label']}: {c['error']}"
                  for c in failed]
    return "\n".join(lines) + "\n"
