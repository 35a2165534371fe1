"""Every command block marked `bash runnable` in README.md and docs/ runs and exits 0, so the docs cannot
rot: a renamed option, subcommand or file breaks this test. Runnable blocks are kept to commands that take
seconds and need no network (the long runs are shown in plain `bash` blocks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```bash runnable\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            out.append((f"{path.relative_to(REPO)}:{text[: m.start()].count(chr(10)) + 1}", m.group(1)))
    return out


def test_the_docs_have_runnable_blocks():
    places = {where.split(":")[0] for where, _ in _blocks()}
    assert "README.md" in places and len(places) >= 4


@pytest.mark.parametrize("where, script", _blocks(), ids=[w for w, _ in _blocks()])
def test_runnable_block(where, script, tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "GROUNDING_EVAL_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stderr[-2000:]}"
