"""The guarded executor against hostile programs: each one contained, and recorded as its failure kind.

Each hostile program is run twice where it matters: once through every layer (the allow-list refuses it
before it runs), and once with the static check and the audit hook switched off, to show the process
layers (rlimits, timeout, output cap, bubblewrap's namespaces) hold on their own.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from grounding_eval.kinds.generative.executor import (
    GuardedPythonExecutor,
    Limits,
    check_program,
    extract_code,
    sandbox_tool,
)
from grounding_eval.kinds.generative.outcomes import FAILURE_KINDS, count_outcomes

FAST = Limits(wall_seconds=8, cpu_seconds=2, memory_mb=768, output_kb=16, max_seconds_audio=5)
RECORDING = "/usr/share/sounds/freedesktop/stereo/bell.oga"  # a reference recording the harness reads
SANDBOXES = ["guard-only"] + (["bwrap"] if sandbox_tool() else [])

TONE = """
import numpy as np
def generate():
    sr = 16000
    t = np.arange(sr // 2) / sr
    return 0.5 * np.sin(2 * np.pi * 440.0 * t), sr
"""


@pytest.fixture(scope="module", params=SANDBOXES)
def sandbox(request):
    return request.param


def guarded(sandbox):
    return GuardedPythonExecutor(limits=FAST, sandbox=sandbox)


def bare(sandbox):
    """No allow-list, no audit hook: only the process layers (and bubblewrap when given) stand."""
    return GuardedPythonExecutor(limits=FAST, sandbox=sandbox, check_imports=False, runtime_guard=False)


def test_a_good_program_returns_its_waveform(sandbox):
    ex = guarded(sandbox).run(f"Here is the code:\n```python\n{TONE}```\nEnjoy!")
    assert ex.kind == "ok", ex.record()
    assert ex.sample_rate == 16000 and ex.waveform.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(ex.waveform))
    assert abs(np.argmax(spectrum) * 16000 / 8000 - 440) < 3  # the tone the program computed, not a stand-in


def test_module_level_audio_and_rate_are_accepted(sandbox):
    ex = guarded(sandbox).run_program("import math\nsr = 8000\naudio = [0.3 * math.sin(i * 0.2) for i in range(8000)]\n")
    assert ex.kind == "ok" and ex.sample_rate == 8000 and ex.waveform.size == 8000


def test_the_static_check_refuses_before_running():
    assert check_program("import os\nos.fork()", ["numpy"])[0] == "forbidden_import"
    assert check_program("from subprocess import run", ["numpy"])[0] == "forbidden_import"
    assert check_program("x = open('/etc/passwd').read()", ["numpy"])[0] == "forbidden_import"
    assert check_program("().__class__.__bases__[0].__subclasses__()", ["numpy"])[0] == "forbidden_import"
    assert check_program("import numpy.fft", ["numpy"])[0] == "ok"
    assert check_program("from scipy.signal import chirp", ["scipy.signal"])[0] == "ok"
    assert check_program("from scipy import signal", ["scipy.signal"])[0] == "ok"
    assert check_program("from scipy import io", ["scipy.signal"])[0] == "forbidden_import"
    assert check_program("def f(:\n", ["numpy"])[0] == "syntax_error"


def test_no_code_and_syntax_errors_are_counted():
    ex = GuardedPythonExecutor(limits=FAST, sandbox="guard-only")
    assert ex.run("I am sorry, I cannot write code.").kind == "no_code"
    assert ex.run("```python\ndef generate(:\n    return 1\n```").kind == "syntax_error"
    assert extract_code("```python\nimport math\n") == "import math\n"  # cut off before the closing fence


FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"
ENDLESS = "while True:\n    pass\n"
MEMORY_HOG = "import numpy as np\nx = np.ones(10**10)\n"
HUGE_OUTPUT = "while True:\n    print('x' * 4096)\n"
READ_RECORDING = f"import numpy as np\ndata = open({RECORDING!r}, 'rb').read()\naudio = np.frombuffer(data[:4000], np.uint8) / 255.0 - 0.5\n"
SOCKET = "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)\n"


def delete_program(target):
    return f"import os\nos.remove({str(target)!r})\n"


@pytest.mark.parametrize("program", [FORK_BOMB, READ_RECORDING, SOCKET, "import shutil\nshutil.rmtree('/work')\n"])
def test_hostile_programs_are_refused_by_the_allow_list(sandbox, program):
    ex = guarded(sandbox).run_program(program)
    assert ex.kind == "forbidden_import", ex.record()


def test_endless_loop_is_killed(sandbox):
    ex = bare(sandbox).run_program(ENDLESS)
    assert ex.kind == "timeout", ex.record()
    assert ex.seconds < FAST.wall_seconds + 5


def test_memory_hog_is_stopped(sandbox):
    ex = bare(sandbox).run_program(MEMORY_HOG)
    assert ex.kind == "memory", ex.record()


def test_huge_output_is_capped_and_killed(sandbox):
    ex = bare(sandbox).run_program(HUGE_OUTPUT)
    assert ex.kind == "output_limit", ex.record()
    assert len(ex.stdout) + len(ex.stderr) <= FAST.output_kb * 1024


def test_reading_the_reference_recordings_is_refused(sandbox):
    if not os.path.exists(RECORDING):
        pytest.skip("sound-theme-freedesktop is not installed")
    # The static check is off: the audit hook stops the read.
    ex = GuardedPythonExecutor(limits=FAST, sandbox=sandbox, check_imports=False).run_program(READ_RECORDING)
    assert ex.kind == "guard_refused" and RECORDING in ex.detail, ex.record()
    if sandbox == "bwrap":  # and without the hook, the file is simply not there inside the namespace
        ex = bare(sandbox).run_program(READ_RECORDING)
        assert ex.kind == "runtime_error" and "FileNotFoundError" in ex.detail, ex.record()


def test_deleting_files_outside_its_folder_is_refused(sandbox, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    ex = GuardedPythonExecutor(limits=FAST, sandbox=sandbox, check_imports=False).run_program(delete_program(canary))
    assert ex.kind == "guard_refused", ex.record()
    if sandbox == "bwrap":
        ex = bare(sandbox).run_program(delete_program(canary))
        assert ex.kind == "runtime_error" and "FileNotFoundError" in ex.detail, ex.record()
    assert canary.read_text() == "still here"


def test_opening_a_socket_is_refused(sandbox):
    ex = GuardedPythonExecutor(limits=FAST, sandbox=sandbox, check_imports=False).run_program(SOCKET)
    assert ex.kind == "guard_refused" and "socket" in ex.detail, ex.record()
    if sandbox == "bwrap":  # no hook: the network namespace has no route anywhere
        ex = bare(sandbox).run_program(SOCKET)
        assert ex.kind == "runtime_error" and "OSError" in ex.detail, ex.record()


def test_fork_bomb_is_contained(sandbox):
    ex = GuardedPythonExecutor(limits=FAST, sandbox=sandbox, check_imports=False).run_program(FORK_BOMB)
    assert ex.kind == "guard_refused" and "fork" in ex.detail, ex.record()
    executor = bare(sandbox)
    if not executor.protections()["process_limit_binds"]:
        pytest.skip("as root without bubblewrap the process limit does not bind: no unguarded fork bomb here")
    ex = executor.run_program(FORK_BOMB)
    assert ex.kind == "runtime_error" and "BlockingIOError" in ex.detail, ex.record()  # the process limit bit
    assert not _processes_of(65534 if executor.protections()["runs_as"] == "nobody" else None)  # none left behind


def _processes_of(uid):
    """Processes still running as `uid` (the sandbox's nobody), e.g. a fork bomb's survivors."""
    if uid is None:
        return []
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(pid)
        except FileNotFoundError:
            pass
    return found


@pytest.mark.parametrize("program,kind", [
    ("def generate():\n    return 'a string', 16000\n", "bad_output"),
    ("import numpy as np\ndef generate():\n    return np.full(8000, np.nan), 16000\n", "nan"),
    ("import numpy as np\ndef generate():\n    return np.ones(10), 16000\n", "bad_length"),
    ("import numpy as np\ndef generate():\n    return np.zeros(16000), 16000\n", "silence"),
    ("import numpy as np\ndef generate():\n    return np.ones(1600) * 0.1, 'fast'\n", "bad_output"),
    ("def generate():\n    raise ValueError('no')\n", "runtime_error"),
    ("x = 1\n", "bad_output"),
])
def test_bad_outputs_are_each_their_own_kind(program, kind):
    ex = GuardedPythonExecutor(limits=FAST, sandbox="guard-only").run_program(program)
    assert ex.kind == kind, ex.record()


def test_every_kind_is_counted_with_an_interval():
    summary = count_outcomes(["ok"] * 6 + ["timeout", "no_code", "silence", "silence"])
    assert summary["n"] == 10 and summary["counts"]["silence"] == 2 and summary["counts"]["syntax_error"] == 0
    assert set(summary["counts"]) == {"ok", *FAILURE_KINDS}
    low, high = summary["valid_rate_interval"]
    assert summary["valid_rate"] == 0.6 and 0.3 < low < 0.6 < high < 0.9
    with pytest.raises(ValueError):
        count_outcomes(["exploded"])


def test_protections_say_what_was_in_force(sandbox):
    prot = guarded(sandbox).protections()
    assert prot["sandbox"] == ("bubblewrap" if sandbox == "bwrap" else "guard-only")
    assert "not a security boundary" in prot["note"]
    assert prot["network_namespace"] is (sandbox == "bwrap")
