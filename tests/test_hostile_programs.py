"""Hostile programs and careless inputs against the generative executor (issue 24): nothing a program sends
back is trusted, a forged result proves nothing, a poisoned cache is recomputed, no run goes without a
boundary unless asked by name, and the program's folder has a total-size quota.

The forging programs reach the result pipe through modules the allow-list permits (`typing.sys`,
`random._os`): first through `sys.argv` (where the harness used to put the descriptor's number), else by
writing to every small descriptor number.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative import executor as executor_module
from grounding_eval.kinds.generative.executor import GuardedPythonExecutor, Limits, sandbox_tool
from grounding_eval.kinds.generative.outcomes import KINDS
from grounding_eval.kinds.generative.results import parse_generative_results
from grounding_eval.kinds.generative.runner import ExecutionCache, run_programs
from grounding_eval.progress import Reporter

FAST = Limits(wall_seconds=8, cpu_seconds=2, memory_mb=768, output_kb=16, max_seconds_audio=5)
SANDBOXES = ["guard-only"] + (["bwrap"] if sandbox_tool() else [])
DATA = Path(__file__).resolve().parent / "data" / "notes_generative_template.json"

# Writes one frame (<II lengths, JSON head, payload) to the result pipe, found through sys.argv or by trying
# every small descriptor; HEAD and PAYLOAD are filled in per test, AFTER says what the program does next.
FORGE = """
import re, struct, typing, random
import numpy as np
HEAD = {head}
PAYLOAD = {payload}
frame = struct.pack("<II", len(HEAD), len(PAYLOAD)) + HEAD + PAYLOAD
found = re.search(r'"result_fd": (\\d+)', " ".join(typing.sys.argv))
targets = [int(found.group(1))] if found else list(range(3, 40))
for fd in targets:
    try:
        random._os.write(fd, frame)
    except OSError:
        pass
{after}
"""
TONE = "0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)"
GOOD_PAYLOAD = f"({TONE}).astype('<f4').tobytes()"
EXIT_QUIETLY = "random._os._exit(0)"


def forge(head: str, payload: str = "b''", after: str = EXIT_QUIETLY) -> str:
    return FORGE.format(head=head, payload=payload, after=after)


def run(program: str, sandbox: str = "guard-only", **limits):
    lim = Limits(**{**FAST.__dict__, **limits})
    return GuardedPythonExecutor(limits=lim, sandbox=sandbox).run_program(program)


@pytest.fixture(params=SANDBOXES)
def sandbox(request):
    return request.param


@pytest.mark.parametrize("head,payload", [
    ("b'{\"kind\": \"totally_fine\"}'", "b''"),                            # a kind the harness does not know
    ("b'{\"kind\": [\"ok\"]}'", "b''"),                                     # not even a string
    ("b'{\"kind\": \"ok\", \"sample_rate\": \"16000\"}'", GOOD_PAYLOAD),   # a rate that is a string
    ("b'{\"kind\": \"ok\", \"sample_rate\": {\"hz\": 16000}}'", GOOD_PAYLOAD),  # ... or a dict
    ("b'{\"kind\": \"ok\", \"sample_rate\": Infinity}'", GOOD_PAYLOAD),    # ... or not finite
    ("b'{\"kind\": \"ok\", \"sample_rate\": 16000}'", "b'0' * 4001"),  # not a whole number of float32s
    ("b'{\"kind\": \"ok\", \"sample_rate\": 16000, \"extra\": 1}'", GOOD_PAYLOAD),  # a field the harness does not send
    ("b'{\"kind\": \"timeout\", \"detail\": \"x\"}'", "b'0' * 8"),    # a failure carrying samples
    ("b'not json'", "b''"),
])
def test_a_malformed_status_is_the_programs_bad_output(sandbox, head, payload):
    ex = run(forge(head, payload), sandbox)  # before the fix: recorded verbatim, or TypeError/ValueError raised
    assert ex.kind == "bad_output", ex.record()
    assert ex.kind in KINDS and "result" in ex.detail


def test_a_forged_ok_followed_by_an_exception_is_a_failure(sandbox):
    program = forge("b'{\"kind\": \"ok\", \"sample_rate\": 16000}'", GOOD_PAYLOAD, after="raise ValueError('boom')")
    ex = run(program, sandbox)
    assert ex.kind == "runtime_error" and "boom" in ex.detail, ex.record()


def test_a_forged_ok_followed_by_audio_is_a_failure(sandbox):
    """Two messages on the pipe: the first is final, and a program that wrote one itself is not trusted."""
    program = forge("b'{\"kind\": \"ok\", \"sample_rate\": 16000}'", GOOD_PAYLOAD,
                    after=f"def generate():\n    return {TONE}, 16000\n")
    ex = run(program, sandbox)
    assert ex.kind == "bad_output" and "more than one" in ex.detail, ex.record()


def test_the_descriptor_is_not_in_argv(sandbox):
    ex = run("import typing\ndef generate():\n    raise ValueError(repr(typing.sys.argv))\n", sandbox)
    assert ex.kind == "runtime_error" and "result_fd" not in ex.detail and "sys_path" not in ex.detail, ex.record()


def test_a_numpy_integer_rate_is_accepted(sandbox):
    ex = run(f"import numpy as np\ndef generate():\n    return {TONE}, np.int64(16000)\n", sandbox)
    assert ex.kind == "ok" and ex.sample_rate == 16000 and ex.waveform.size == 8000, ex.record()
    ex = run(f"import numpy as np\ndef generate():\n    return np.int32(16000), {TONE}\n", sandbox)  # (rate, samples)
    assert ex.kind == "ok" and ex.sample_rate == 16000, ex.record()
    ex = run(f"import numpy as np\ndef generate():\n    return {TONE}, np.bool_(True)\n", sandbox)
    assert ex.kind == "bad_output", ex.record()


class _Exec:
    """Counts the programs it runs; returns a fixed good tone."""

    name = "counting"

    def __init__(self):
        self.runs = 0
        self.inner = GuardedPythonExecutor(limits=FAST, sandbox="guard-only")

    def run(self, text):
        self.runs += 1
        return self.inner.run(text)


TONE_TEXT = f"```python\nimport numpy as np\ndef generate():\n    return {TONE}, 16000\n```"


@pytest.mark.parametrize("poison", [
    {"kind": "totally_fine", "detail": "", "seconds": 0.1},
    {"kind": ["ok"], "detail": "", "seconds": 0.1},
    {"kind": "runtime_error", "detail": {"x": 1}, "seconds": 0.1},
    "not a record",
])
def test_a_poisoned_cache_record_is_recomputed(tmp_path, poison):
    cache = ExecutionCache(tmp_path, "k" * 64)
    path = cache.dir / f"{cache.key(TONE_TEXT)}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(poison))
    assert cache.get(TONE_TEXT) is None  # before the fix: replayed as it was
    ex = _Exec()
    clips = run_programs("m", [], [[TONE_TEXT]], ex, cache, Reporter(Console(stderr=True), False))
    assert ex.runs == 1 and clips.records[0]["kind"] == "ok" and clips.wavs[0] is not None
    assert cache.get(TONE_TEXT)[0]["kind"] == "ok"  # and the good record replaces it


def test_a_cached_clip_that_does_not_match_its_hash_is_recomputed(tmp_path):
    cache = ExecutionCache(tmp_path, "k" * 64)
    rec, wav = cache.put(TONE_TEXT, GuardedPythonExecutor(limits=FAST, sandbox="guard-only").run(TONE_TEXT))
    assert cache.get(TONE_TEXT) is not None
    wav.write_bytes(wav.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # one sample swapped for infinity
    assert cache.get(TONE_TEXT) is None


def test_an_executor_that_returns_an_unknown_kind_stops_in_one_line(tmp_path):
    class Liar:
        name = "liar"

        def run(self, text):
            return executor_module.Execution("totally_fine")

    cache = ExecutionCache(tmp_path, "k" * 64)
    with pytest.raises(GroundingEvalError) as err:
        run_programs("m", [], [[TONE_TEXT]], Liar(), cache, Reporter(Console(stderr=True), False))
    assert "\n" not in str(err.value) and "totally_fine" in str(err.value) and "liar" in str(err.value)


def test_a_results_file_with_an_unknown_kind_is_refused_in_one_line():
    data = json.loads(DATA.read_text())
    clips = next(iter(data["tasks"]["notes_generative"]["executions"].values()))
    clips[0]["kind"] = "totally_fine"
    with pytest.raises(GroundingEvalError) as err:
        parse_generative_results(data, "x.json")
    msg = str(err.value)
    assert "\n" not in msg and "x.json" in msg and "kind" in msg and "runtime_error" in msg, msg


def test_auto_refuses_when_bubblewrap_cannot_be_used(monkeypatch):
    monkeypatch.setattr(executor_module, "sandbox_tool", lambda: None)
    with pytest.raises(GroundingEvalError) as err:
        GuardedPythonExecutor(limits=FAST, sandbox="auto")
    msg = str(err.value)
    assert "\n" not in msg and "guard-only" in msg and "bubblewrap" in msg, msg


def test_guard_only_is_accepted_and_recorded(monkeypatch):
    monkeypatch.setattr(executor_module, "sandbox_tool", lambda: None)
    ex = GuardedPythonExecutor(limits=FAST, sandbox="guard-only")
    assert ex.identity()["sandbox"] == "guard-only"  # in the results and the execution cache key
    prot = ex.protections()
    assert prot["sandbox"] == "guard-only" and prot["filesystem_hidden"] is False
    assert "not a boundary" in prot["sandbox_note"]
    assert ex.run(TONE_TEXT).kind == "ok"
    with pytest.raises(GroundingEvalError) as err:
        GuardedPythonExecutor(limits=FAST, sandbox="nothing")
    assert "guard-only" in str(err.value)


@pytest.mark.skipif(not sandbox_tool(), reason="bubblewrap is not usable here")
def test_auto_uses_bubblewrap_and_says_so():
    ex = GuardedPythonExecutor(limits=FAST, sandbox="auto")
    assert ex.identity()["sandbox"] == "bubblewrap" and ex.protections()["sandbox"] == "bubblewrap"


FILL_DISK = """
import numpy as np
block = np.ones(4 << 20, np.uint8)
for i in range(200):   # 800 MB in 4 MB files, each under the per-file limit
    block.tofile(f"chunk{i}.bin")
def generate():
    return 0.5 * np.sin(np.arange(8000) * 0.1), 16000
"""


def test_the_folder_has_a_total_size_quota(sandbox):
    ex = GuardedPythonExecutor(limits=Limits(**{**FAST.__dict__, "disk_mb": 32, "wall_seconds": 20}), sandbox=sandbox,
                               check_imports=False).run_program(FILL_DISK)
    assert ex.kind == "disk_limit", ex.record()
    assert "32" in ex.detail


def test_a_program_within_the_quota_runs(sandbox):
    program = FILL_DISK.replace("range(200)", "range(2)")
    ex = GuardedPythonExecutor(limits=Limits(**{**FAST.__dict__, "disk_mb": 32}), sandbox=sandbox,
                               check_imports=False).run_program(program)
    assert ex.kind == "ok", ex.record()


@pytest.mark.skipif(not sandbox_tool(), reason="bubblewrap is not usable here")
def test_numpy_ctypes_reaches_no_host_file_under_bubblewrap(tmp_path):
    """The audit hook does not see numpy's ctypes (docs/generative.md): bubblewrap is the boundary."""
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    program = f"import numpy as np\nnp.ctypeslib.ctypes.pythonapi.system(b'rm -f {canary}')\n"
    GuardedPythonExecutor(limits=FAST, sandbox="bwrap").run_program(program)
    assert canary.read_text() == "still here"


@pytest.mark.parametrize("argv", [["validate"], ["leaderboard", "submit"]])
def test_validate_and_submit_refuse_an_unknown_kind_in_one_line(tmp_path, capsys, argv):
    from grounding_eval.cli import main

    data = json.loads(DATA.read_text())
    next(iter(data["tasks"]["notes_generative"]["executions"].values()))[0]["kind"] = "totally_fine"
    path = tmp_path / "poisoned.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit) as exc:
        main([*argv, str(path)] + (["--root", str(tmp_path / "board")] if "submit" in argv else []))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "poisoned.json" in err and "kind" in err, err
