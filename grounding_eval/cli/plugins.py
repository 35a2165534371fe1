"""`grounding-eval plugins`: the installed plugins and what each registers."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval import plugins
from grounding_eval.cli.args import Parser


def cmd(argv: Sequence[str], console: Console) -> int:
    Parser(prog="grounding-eval plugins").parse_args(argv)
    table = Table(title="plugins")
    for col in ("name", "distribution", "version", "hooks"):
        table.add_column(col)
    for row in plugins.plugin_table():
        table.add_row(row["name"], row["distribution"], row["version"], row["hooks"])
    console.print(table)
    regs = plugins.registries()
    comp = Table(title="what they register")
    for col in ("kind", "name", "plugin", "description"):
        comp.add_column(col)
    for kind, reg in (("text encoder", regs.text_encoders), ("perception encoder", regs.perception_encoders),
                      ("dataset", regs.datasets), ("metric", regs.metrics)):
        for e in reg.entries():
            comp.add_row(kind, e.name, e.plugin, e.description)
    console.print(comp)
    return 0
