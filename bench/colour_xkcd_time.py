"""Time `grounding-eval --model sentence-transformers/all-MiniLM-L6-v2 --task xkcd_color_probe` from a cold
embedding cache (what a fresh install runs), with torch's default threads and with one thread.

    .venv/bin/python bench/colour_xkcd_time.py

Prints wall and CPU seconds of each and the ratios against the one-minute target. CPU seconds (user + sys
of the child) is what the run would cost on an idle machine; on a shared machine wall time also holds the
waiting, and torch's spinning threads inflate both when more threads want the cores than there are.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("grounding-eval")
ARGS = ["--model", "sentence-transformers/all-MiniLM-L6-v2", "--task", "xkcd_color_probe", "--output-path", "", "--quiet"]


def run(extra_env: dict[str, str]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "GROUNDING_EVAL_CACHE": cache, "HF_HUB_OFFLINE": "1", **extra_env}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([str(CLI), *ARGS], env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    for label, env in (("default threads", {}), ("OMP_NUM_THREADS=1", {"OMP_NUM_THREADS": "1"})):
        wall, cpu = run(env)
        print(f"{label:18s} wall {wall:6.1f} s ({wall / 60:.2f} of a minute), cpu {cpu:6.1f} s ({cpu / 60:.2f} of a minute)")


if __name__ == "__main__":
    main()
