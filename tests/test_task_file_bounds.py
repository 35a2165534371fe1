"""Hostile and careless task files (issue 24): a YAML alias bomb, an oversize file, a file nested thousands of
levels deep, a recursive alias, bytes that are not UTF-8. Each is refused in one line naming the file, in
bounded time and memory, and a broken file sitting in an --include-path folder affects only its own task: a
command naming any other task still runs."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.tasks import TaskManager, load_task_file
from grounding_eval.tasks.config import MAX_TASK_FILE_BYTES, MAX_TASK_VALUES, read_task_name

SHIPPED = "distro_sounds_audio_probe"
SECONDS = 5  # each of these finishes in well under a second once bounded; unbounded, the bomb never does


class TooSlow(BaseException):
    """Not an Exception, so no `except Exception`/`except OSError` in the code under test can swallow it."""


@contextlib.contextmanager
def within(seconds: float):
    """Fail the test (instead of hanging the suite and eating memory) when the body runs longer than `seconds`."""

    def on_alarm(signum, frame):
        raise TooSlow(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def one_line_error(fn, *args, **kwargs) -> str:
    with within(SECONDS), pytest.raises(GroundingEvalError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def bomb_text(task: str = "bomb", levels: int = 8) -> str:
    """"Billion laughs": each anchor a list of nine aliases of the one before, 9**9 strings when expanded."""
    lines = [f"task: {task}", "version: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# The broken files of every sort, as (file name, bytes, what the one-line error says).
BROKEN = {
    "bomb": ("bomb.yaml", bomb_text().encode(), "alias"),
    "oversize": ("big.yaml", b"task: big\nversion: 1\ndescription: '" + b"x" * (MAX_TASK_FILE_BYTES + 10) + b"'\n",
                 "bytes"),
    "unparsable": ("bad.yaml", b"task: bad\nversion: [1\n", "invalid YAML"),
    "not_utf8": ("bin.yaml", b"task: bin\nversion: 1\ndescription: \xff\xfe\x00 binary\n", "UTF-8"),
    "deep": ("deep.yaml", b"task: deep\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested"),
    "recursive": ("rec.yaml", b"task: rec\nversion: 1\nx: &a [1, *a]\n", "recursive"),
    "too_many_values": ("many.yaml", b"task: many\nx: [" + b",".join([b"1"] * (MAX_TASK_VALUES + 1)) + b"]\n",
                        "values"),
}


def write_broken(folder: Path, case: str) -> tuple[Path, str]:
    name, data, says = BROKEN[case]
    path = folder / name
    path.write_bytes(data)
    return path, says


# -- the loader ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_hostile_file_is_refused_in_one_line_naming_it(tmp_path, case):
    path, says = write_broken(tmp_path, case)
    for fn in (load_task_file, read_task_name):
        msg = one_line_error(fn, path)
        assert msg.startswith(f"{path}"), msg
        assert says in msg, msg
        assert "Traceback" not in msg and len(msg) < 400, msg


def test_the_alias_bomb_error_names_the_line_it_expands_at(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb_text())
    msg = one_line_error(load_task_file, path)
    line = int(msg.split(":")[1])  # the expansion passes the bound inside one of the a1..a8 lines (4..11)
    assert 4 <= line <= 11, msg
    assert str(MAX_TASK_VALUES) in msg, msg


def test_an_alias_bomb_used_as_a_key_is_refused(tmp_path):
    path = tmp_path / "keybomb.yaml"
    path.write_text(bomb_text("keybomb") + "? *a8\n: 1\n")
    msg = one_line_error(load_task_file, path)
    assert msg.startswith(f"{path}:"), msg


def test_a_bomb_in_an_included_base_names_the_base(tmp_path):
    (tmp_path / "_base.yaml").write_text(bomb_text("base"))
    user = tmp_path / "mine.yaml"
    user.write_text("include: _base.yaml\ntask: mine\nversion: 1\ndataset: {name: distro_sounds}\n")
    msg = one_line_error(load_task_file, user)
    assert msg.startswith(f"{tmp_path / '_base.yaml'}:") and "alias" in msg, msg


def test_an_oversize_base_is_refused_before_it_is_parsed(tmp_path):
    (tmp_path / "_base.yaml").write_bytes(b"x: '" + b"y" * (60 * MAX_TASK_FILE_BYTES) + b"'\n")  # ~60 MB
    user = tmp_path / "mine.yaml"
    user.write_text("include: _base.yaml\ntask: mine\nversion: 1\ndataset: {name: distro_sounds}\n")
    msg = one_line_error(load_task_file, user)
    assert msg.startswith(f"{tmp_path / '_base.yaml'}:") and "bytes" in msg, msg


def test_aliases_within_the_bound_still_work(tmp_path):
    """A task file that reuses a block through an anchor is legitimate YAML and still loads."""
    path = tmp_path / "reuse.yaml"
    path.write_text("task: reuse\nversion: 1\ndataset:\n  name: distro_sounds\n  args: &none {}\n"
                    "perception_encoder:\n  name: logmel\n  args: *none\n")
    cfg = load_task_file(path)
    assert cfg.dataset.args == {} and cfg.perception_encoder.args == {} and cfg.perception_encoder.name == "logmel"


def test_every_shipped_task_file_is_far_inside_the_bounds():
    """The bounds are chosen far above any real task file: the largest shipped one is a few KB."""
    root = Path(__file__).resolve().parent.parent
    files = list((root / "tasks").rglob("*.yaml")) + list((root / "plugins").rglob("tasks/*.yaml"))
    assert files
    assert max(f.stat().st_size for f in files) * 50 < MAX_TASK_FILE_BYTES


# -- the manager: a broken neighbour affects only its own task ---------------------------------------


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_shipped_task_still_loads_beside_a_broken_file(tmp_path, case):
    path, says = write_broken(tmp_path, case)
    tm = TaskManager([str(tmp_path)])
    with within(SECONDS):
        assert tm.get(SHIPPED).task == SHIPPED
    # Listing every task must not hide the broken file; its own task names it.
    for msg in (one_line_error(tm.names), one_line_error(tm.get, path.stem)):
        assert f"{path}" in msg and says in msg, msg


# -- the command line ----------------------------------------------------------------------------------


def run_cli(argv, capsys) -> tuple[int, str]:
    from grounding_eval.cli import main

    with within(60), pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("case", ["bomb", "oversize"])
def test_cli_tasks_listing_names_the_broken_file_in_one_line(tmp_path, capsys, case):
    path, says = write_broken(tmp_path, case)
    code, err = run_cli(["tasks", "--include-path", str(tmp_path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("grounding-eval: error: ") and str(path) in err and says in err, err


def test_cli_a_run_of_a_shipped_task_gets_past_a_bomb_in_the_include_path(tmp_path, capsys):
    """The run reaches its own checks (here: an unknown backbone) instead of hanging on the unrelated bomb."""
    write_broken(tmp_path, "bomb")
    code, err = run_cli(["--model", "nobody/none", "--task", SHIPPED, "--include-path", str(tmp_path),
                         "--audio-backbone", "no_such_backbone"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "unknown audio backbone" in err and "bomb" not in err, err


def test_cli_naming_the_bomb_task_is_one_line(tmp_path, capsys):
    path, _ = write_broken(tmp_path, "bomb")
    code, err = run_cli(["--model", "nobody/none", "--task", "bomb", "--include-path", str(tmp_path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and str(path) in err and "alias" in err, err


def test_a_chain_of_includes_thousands_long_is_one_line(tmp_path):
    """Each file includes the next: a chain longer than Python's stack was a RecursionError traceback."""
    n = 1200
    for i in range(n):
        (tmp_path / f"_b{i}.yaml").write_text(f"include: _b{i + 1}.yaml\n" if i + 1 < n else "version: 1\n")
    user = tmp_path / "mine.yaml"
    user.write_text("include: _b0.yaml\ntask: mine\ndataset: {name: distro_sounds}\n")
    msg = one_line_error(load_task_file, user)
    assert msg.startswith(f"{tmp_path}") and "include" in msg, msg


def test_asking_for_a_broken_files_task_names_that_file_not_another_broken_one(tmp_path):
    """With several broken files, the task named after one of them gets that file's error, not the first one's."""
    write_broken(tmp_path, "unparsable")  # bad.yaml: sorts first, so it is the "first" broken file
    path, says = write_broken(tmp_path, "recursive")  # rec.yaml
    msg = one_line_error(TaskManager([str(tmp_path)], plugin_tasks=[]).get, "rec")
    assert msg.startswith(f"{path}:") and says in msg and "bad.yaml" not in msg, msg
