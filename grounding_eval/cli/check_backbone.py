"""`grounding-eval check-backbone NAME`: a cheap gate for backbone authors (checks in grounding_eval.check_backbone)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

from grounding_eval.check_backbone import make_backbone, noise_clips, real_clips, run_checks
from grounding_eval.cli.args import Parser, key_values


def cmd(argv: Sequence[str], console: Console) -> int:
    p = Parser(prog="grounding-eval check-backbone", description=__doc__.splitlines()[0])
    p.add_argument("name", help="a registered audio backbone, e.g. logmel, aisfx, passt, hear:hear21passt.base")
    p.add_argument("--backbone-args", default=None, help="options k=v,... (checkpoint=PATH, embedding=..., ...)")
    p.add_argument("--clips", nargs="*", default=None, help="audio files (default: a few installed Debian recordings)")
    p.add_argument("--n-real", type=int, default=3, help="how many installed recordings to use")
    args = p.parse_args(argv)
    options = key_values(args.backbone_args, "--backbone-args")
    options.setdefault("device", "cpu")
    backbone = make_backbone(args.name, options)
    with tempfile.TemporaryDirectory(prefix="ge-check-") as tmp:
        real = args.clips if args.clips is not None else real_clips(args.n_real)
        clips = noise_clips(Path(tmp)) + list(real)
        checks = run_checks(backbone, clips)
    table = Table(title=f"check-backbone {args.name}: {len(clips)} clips ({len(clips) - len(real)} noise, {len(real)} real)")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
    console.print(table)
    return 0 if all(c.ok for c in checks) else 1
