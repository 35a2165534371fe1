"""A whole generative run with one forged program (issue 24, done-when): the run finishes, the forger is
counted as a failure, the other programs are scored.

The forger reaches `os` through numpy (past the import allow-list), finds the result pipe among its file
descriptors, writes a well-formed `ok` frame with a loud tone into it, prints junk, then raises. The wrapper
then sends its own (runtime_error) frame behind the forged one: an `ok` followed by more is never an `ok`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TINY = """task: tiny_notes_gen
include: notes_generative.yaml
dataset: {name: notes, args: {instruments: [Piano, Flute, Trumpet], notes: [A4, C5], include_recordings: false}}
prompts: {notes: [A4]}
generator: {n_samples: 1}
scoring: {embedder: {name: logmel}, probe_seeds: 1, k: [1], bootstrap_resamples: 200}
controls: [silence]
"""

TONE = ("```python\nimport numpy as np\ndef generate():\n    t = np.arange(16000) / 16000\n"
        "    return 0.5 * np.sin(2 * np.pi * 440 * t), 16000\n```")

# Every pipe from fd 3 up gets a frame the wrapper would send for a good clip: <II lengths, the JSON status,
# float32 samples. Then junk on stdout and an exception (the program "fails", hoping the forged ok counts).
FORGER = """```python
import struct
import numpy as np

def generate():
    os = np.lib._npyio_impl.os
    t = np.arange(16000) / 16000
    payload = (0.9 * np.sin(2 * np.pi * 440 * t)).astype('<f4').tobytes()
    head = b'{"kind": "ok", "sample_rate": 16000}'
    frame = struct.pack("<II", len(head), len(payload)) + head + payload
    forged = 0
    for fd in range(3, 64):
        try:
            if os.fstat(fd).st_mode & 0o170000 == 0o010000:
                os.write(fd, frame)
                forged += 1
        except OSError:
            pass
    print("\\x00junk {\\"kind\\": \\"ok\\"} \\xff" * 50)
    raise RuntimeError(f"forged {forged} frame(s)")
```"""


def test_a_run_with_one_forged_program_counts_it_as_a_failure_and_scores_the_others(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    rows = [{"prompt_id": "piano_A4", "sample": 0, "text": TONE},
            {"prompt_id": "flute_A4", "sample": 0, "text": FORGER},
            {"prompt_id": "trumpet_A4", "sample": 0, "text": TONE}]
    gens = tmp_path / "gens.jsonl"
    gens.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.json"
    exe = Path(sys.executable).with_name("grounding-eval")
    proc = subprocess.run([str(exe), "--model", "replay", "--load-generations", str(gens), "--task", "tiny_notes_gen",
                           "--include-path", str(tmp_path), "--allow-code-execution", "--quiet",
                           "--cache-dir", str(tmp_path / "cache"), "--output-path", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    execs = {e["prompt_id"]: e for e in res["tasks"]["tiny_notes_gen"]["executions"]["replay"]}
    forged = execs["flute_A4"]
    assert forged["kind"] in ("bad_output", "runtime_error"), forged
    # The forgery did reach the pipe (the program counted its frame), and was not taken for a result.
    assert forged["kind"] == "bad_output" or "forged 1 frame(s)" in forged.get("detail", ""), forged
    assert execs["piano_A4"]["kind"] == "ok" and execs["trumpet_A4"]["kind"] == "ok"
    system = res["results"]["tiny_notes_gen"]["results"]["systems"]["replay"]
    assert system["outcomes"]["counts"]["ok"] == 2 and system["outcomes"]["valid_rate"] == 2 / 3
    assert system["valid_only"]["n_clips"] == 2 and system["failures_as_silence"]["n_clips"] == 3
    for scored_on in ("valid_only", "failures_as_silence"):
        assert system[scored_on]["accuracy@1"]["mean"] is not None and system[scored_on]["mrr"]["n"] > 0
