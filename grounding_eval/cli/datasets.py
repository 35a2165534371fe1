"""`grounding-eval datasets`: the registered datasets with their source, clip and class counts.

    grounding-eval datasets                         one row per dataset (counts where known, no audio read)
    grounding-eval datasets NAME [--args k=v,...]   build NAME with those args and report what loaded and
                                                    what was skipped, by reason and by file
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval import plugins
from grounding_eval.cli.args import Parser, key_values
from grounding_eval.data.clips import reason_kind
from grounding_eval.errors import GroundingEvalError


def _describe(entry: Any) -> dict[str, str]:
    fn = entry.extra.get("describe")
    if fn is None:
        return {}
    try:
        return {k: str(v) for k, v in fn().items()}
    except GroundingEvalError as exc:  # a describe hook must not break the listing
        return {"source": str(exc)}


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval datasets")
    p.add_argument("name", nargs="?", help="build this dataset and report clips, classes and skipped files")
    p.add_argument("--args", default=None, help="dataset args k=v,... (e.g. root=/data/FSD50K,class_set=all)")
    p.add_argument("--show", type=int, default=50, help="how many skipped files to list (default 50)")
    args = p.parse_args(argv)
    regs = plugins.registries()
    if args.name is None:
        table = Table(title="datasets")
        for col in ("name", "plugin", "source", "clips", "classes", "description"):
            table.add_column(col, overflow="fold")
        for e in regs.datasets.entries():
            d = _describe(e)
            table.add_row(e.name, e.plugin, d.get("source", "-"), d.get("clips", "-"), d.get("classes", "-"), e.description)
        console.print(table)
        return 0

    entry = regs.datasets.get(args.name)
    kwargs = key_values(args.args, "--args")
    if entry.extra.get("progress"):  # the builder can show a bar while it checks files
        kwargs.setdefault("progress", True)
    ds = regs.datasets.build(args.name, kwargs, "--args")
    counts = Counter(i.concept for i in ds.instances)
    console.print(f"[bold]{ds.name}[/]: {len(ds.concepts)} classes, {len(ds.instances)} clips, "
                  f"{len(ds.skipped)} skipped; fingerprint {ds.fingerprint()[:16]}")
    by_reason = Counter(reason_kind(s.reason) for s in ds.skipped)
    if by_reason:
        console.print("skipped by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items())))
        table = Table(title=f"skipped files (first {min(args.show, len(ds.skipped))} of {len(ds.skipped)})")
        table.add_column("id", overflow="fold")
        table.add_column("reason", overflow="fold")
        for s in ds.skipped[: args.show]:
            table.add_row(s.id, s.reason)
        console.print(table)
    if ds.provenance.get("dropped_classes"):
        console.print(f"dropped classes: {len(ds.provenance['dropped_classes'])} (see provenance dropped_classes)")
    classes = Table(title="clips per class")
    for col in ("class", "prompt text", "parent", "clips"):
        classes.add_column(col)
    for c in ds.concepts:
        classes.add_row(c.name, c.text, c.parent or "", str(counts[c.name]))
    console.print(classes)
    return 0

