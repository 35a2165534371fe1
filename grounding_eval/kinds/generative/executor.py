"""Running model-written programs under a guard, one process each, and getting a waveform back.

This is a GUARD against accidents and careless code, not a security boundary: a determined attacker
with a kernel exploit, or one who finds a hole in the layers below, gets out. Layers, each recorded in
`protections` so the results say which were in force:

1. Static: the program is parsed; an import outside `allowed_imports`, or a call of a forbidden builtin
   (open, eval, exec, compile, __import__, input, ...), or a double-underscore attribute used for escapes
   (__subclasses__, __globals__, ...) refuses it before anything runs.
2. Process: its own process and session (`python -I`: no user site, no PYTHON* variables), an empty
   environment, no stdin, a fresh temporary folder as its only writable place, resource limits (CPU
   seconds, address space, file size, processes, open files), a wall-clock timeout that kills the whole
   process group, stdout/stderr capped (past the cap the program is killed: `output_limit`).
3. Runtime: an audit hook inside the child refuses file opens outside the interpreter, the allowed
   packages and its folder, sockets, subprocesses, fork and exec.
4. bubblewrap (`bwrap`): a new mount namespace that holds only /usr, the interpreter, the allowed packages
   and the program's folder (so /work, /home, /root, /usr/share with its recordings are not there at all),
   no network namespace connectivity, a PID namespace, and (as root) the program runs as nobody (65534), so
   the process limit binds. `sandbox: auto` refuses to run without it (the audit hook alone is not a
   boundary: numpy's ctypes calls C directly); `sandbox: guard-only` asks for layers 1-3 alone, by name,
   and the results record it.

The program's folder has a quota on all its files together (`disk_mb`): a size-limited tmpfs under
bubblewrap, else the harness measures the folder while and after the program runs (`disk_limit`).

The waveform comes back through a pipe (one frame: a JSON status line, then float32 samples); the harness
reads no file the program wrote. The spec (with the pipe's number) reaches the child on stdin, which the
child's wrapper reads and closes before the program runs, so it is not in `sys.argv`. The program can still
find the pipe (it is a small descriptor number), so NOTHING in the frame is trusted: it is parsed into a
strict model (kinds the wrapper sends, a finite rate, whole float32 samples within the length limit) and
anything else is the program's `bad_output`; the first frame is final, the wrapper exits at once after
sending it, and a second frame or a non-zero exit after an `ok` makes the program a failure. A forged frame
can therefore only say what the program could have returned anyway.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from grounding_eval.audio.io import is_silent
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative.base import Executor
from grounding_eval.kinds.generative.outcomes import CHILD_FAILURE_KINDS, OK

CHILD = Path(__file__).with_name("_child.py")
NOBODY = 65534

# Modules a sound-synthesis program needs, and nothing that reaches files, processes or the network.
DEFAULT_ALLOWED_IMPORTS = ("math", "cmath", "random", "numpy", "array", "struct", "itertools", "functools",
                           "collections", "statistics", "fractions", "decimal", "bisect", "heapq", "operator",
                           "string", "re", "typing", "dataclasses", "enum", "abc", "copy", "scipy.signal")
FORBIDDEN_CALLS = frozenset({"open", "eval", "exec", "compile", "__import__", "input", "breakpoint", "globals",
                             "locals", "vars", "getattr", "setattr", "delattr", "memoryview", "help", "exit", "quit"})
ESCAPE_ATTRIBUTES = frozenset({"__subclasses__", "__globals__", "__builtins__", "__code__", "__bases__", "__mro__",
                               "__class__", "__dict__", "__getattribute__", "__loader__", "__spec__", "__closure__",
                               "__reduce__", "__reduce_ex__", "gi_frame", "f_globals", "f_locals", "f_back", "tb_frame"})


@dataclass(frozen=True)
class Limits:
    """Resource limits for one program. Defaults fit a few seconds of numpy synthesis with room to spare."""

    wall_seconds: float = 20.0      # wall clock, then the whole process group is killed
    cpu_seconds: int = 10           # RLIMIT_CPU
    memory_mb: int = 1024           # RLIMIT_AS (address space: numpy's import alone maps ~100 MB)
    file_size_mb: int = 16          # RLIMIT_FSIZE, for scratch files in its own folder
    processes: int = 16             # RLIMIT_NPROC (binds only for a non-root uid: see `protections`)
    open_files: int = 64            # RLIMIT_NOFILE
    output_kb: int = 64             # stdout + stderr kept; more than this kills the program
    max_seconds_audio: float = 30.0 # longest waveform accepted, at the returned sample rate
    disk_mb: int = 64               # all files in the program's folder together


@dataclass
class Execution:
    """What became of one program: `kind` is "ok" or one of outcomes.FAILURE_KINDS."""

    kind: str
    detail: str = ""
    waveform: np.ndarray | None = None  # float32, mono, at `sample_rate`
    sample_rate: float | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The JSON-able part (no samples)."""
        rec = {"kind": self.kind, "detail": self.detail, "seconds": round(self.seconds, 4)}
        if self.waveform is not None:
            rec["n_samples"] = int(self.waveform.size)
            rec["sample_rate"] = self.sample_rate
        return rec


class _OkStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["ok"]
    sample_rate: Annotated[float, Field(allow_inf_nan=False)]


class _FailedStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal[CHILD_FAILURE_KINDS]  # type: ignore[valid-type]
    detail: str = ""


_STATUS = TypeAdapter(Annotated[Union[_OkStatus, _FailedStatus], Field(discriminator="kind")])
_FRAME_HEAD = struct.Struct("<II")
MAX_STATUS_BYTES = 4096


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_frame(buf: bytes, max_samples: int) -> tuple[_OkStatus | _FailedStatus | None, bytes, int, str]:
    """(status, payload, bytes used, "") for the first frame in `buf`, or (None, b"", 0, what is wrong).
    Trusts nothing: the status must be one the wrapper sends, the payload whole float32 samples (none for a
    failure) within `max_samples`."""
    if len(buf) < _FRAME_HEAD.size:
        return None, b"", 0, f"result message of {len(buf)} bytes is cut short"
    n_head, n_payload = _FRAME_HEAD.unpack_from(buf)
    used = _FRAME_HEAD.size + n_head + n_payload
    if n_head > MAX_STATUS_BYTES or len(buf) < used:
        return None, b"", 0, f"result message declares {n_head} + {n_payload} bytes, {len(buf) - 8} came"
    try:
        status = _STATUS.validate_python(json.loads(buf[8:8 + n_head], parse_constant=_no_constant))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        why = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else f"not JSON ({exc})"
        return None, b"", 0, f"result message refused: {why[:200]}"
    payload = bytes(buf[8 + n_head:used])
    if isinstance(status, _FailedStatus) and payload:
        return None, b"", 0, f"result message refused: a {status.kind} carries {len(payload)} bytes of samples"
    if len(payload) % 4 or len(payload) // 4 > max_samples:
        return None, b"", 0, (f"result message refused: {len(payload)} bytes of samples is not a whole number of "
                              f"float32 samples up to {max_samples}")
    return status, payload, used, ""


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(text: str) -> str | None:
    """The program inside a generation: the first fenced block tagged python (or untagged) that parses
    best, a block left open at the end (generation cut off) included; else the whole text if it parses as
    Python; else None ("no_code")."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    blocks = [body for lang, body in blocks if lang in ("", "python", "py", "python3")]
    for body in blocks:  # prefer a block that defines or imports something: prose in fences is common
        if body.strip() and re.search(r"^\s*(def |import |from \S+ import )", body, re.M):
            return body
    if blocks:
        return next((b for b in blocks if b.strip()), None)
    if "```" not in text and re.search(r"^\s*(def |import |from \S+ import |\w+\s*=)", text, re.M):
        try:
            ast.parse(text)
            return text
        except (SyntaxError, ValueError):
            return None
    return None


def check_program(source: str, allowed_imports: Sequence[str]) -> tuple[str, str]:
    """(OK, "") or (failure kind, one-line detail) from the parsed program, before anything runs."""
    if not source.strip():
        return "no_code", "empty program"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return "syntax_error", f"{type(exc).__name__}: {exc}"
    allowed = set(allowed_imports)

    def module_ok(name: str) -> bool:
        parts = name.split(".")
        return any(".".join(parts[:i]) in allowed for i in range(1, len(parts) + 1))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not module_ok(alias.name):
                    return "forbidden_import", f"import {alias.name} (line {node.lineno}) is not in the allow-list"
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                return "forbidden_import", f"relative import (line {node.lineno})"
            if not module_ok(node.module) and not all(module_ok(f"{node.module}.{a.name}") for a in node.names):
                return "forbidden_import", f"from {node.module} import (line {node.lineno}) is not in the allow-list"
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_CALLS:
            return "forbidden_import", f"name {node.id!r} (line {node.lineno}) is not allowed"
        elif isinstance(node, ast.Attribute) and node.attr in ESCAPE_ATTRIBUTES:
            return "forbidden_import", f"attribute {node.attr!r} (line {node.lineno}) is not allowed"
    return OK, ""


def _package_dirs(modules: Sequence[str]) -> tuple[list[str], list[str]]:
    """(sys.path entries, folders to expose) for the allowed third-party packages, found in this interpreter."""
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    roots, dirs = [], []
    for top in sorted({m.split(".")[0] for m in modules}):
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin in (None, "built-in", "frozen"):
            continue
        where = os.path.realpath(spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin)
        if where.startswith(stdlib + os.sep):
            continue
        root = os.path.dirname(where)
        roots.append(root)
        dirs.append(where)
        libs = os.path.join(root, f"{top}.libs")  # manylinux wheels keep their shared libraries here
        if os.path.isdir(libs):
            dirs.append(libs)
    return sorted(set(roots)), dirs


def sandbox_tool() -> str | None:
    """Path of a working bubblewrap, or None (not installed, or user namespaces are disabled)."""
    global _BWRAP
    if _BWRAP is None:
        path = shutil.which("bwrap")
        ok = False
        if path:
            try:
                ok = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-net", "true"], capture_output=True,
                                    timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _BWRAP = path if ok else ""
    return _BWRAP or None


_BWRAP: str | None = None


def tmpfs_size_supported(bwrap: str) -> bool:
    """Whether this bubblewrap takes `--size` for a tmpfs (0.7 and later): then the quota is the kernel's."""
    try:
        out = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in out.stdout + out.stderr


def folder_bytes(folder: Path, cap: int) -> int:
    """Bytes the files under `folder` take on disk (each entry at least one 4 kB block, so a flood of empty
    files counts), without following links; stops counting once past `cap`."""
    total, stack = 0, [str(folder)]
    while stack and total <= cap:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += max(st.st_blocks * 512, 4096)
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


SANDBOXES = ("auto", "bwrap", "guard-only")
AUDIT_HOOK_NOTE = ("guard-only: no bubblewrap, so the audit hook is the last layer, and it is not a boundary "
                   "(numpy's ctypes calls C directly: docs/generative.md)")


def _choose_sandbox(sandbox: str) -> str | None:
    """bubblewrap's path, or None for `guard-only` (asked for by name); auto and bwrap refuse without it."""
    if sandbox == "none":  # the older spelling of guard-only
        sandbox = "guard-only"
    if sandbox not in SANDBOXES:
        raise GroundingEvalError(f"executor sandbox {sandbox!r}: valid: {', '.join(SANDBOXES)}")
    if sandbox == "guard-only":
        return None
    bwrap = sandbox_tool()
    if bwrap is None:
        raise GroundingEvalError(f"executor sandbox {sandbox!r}: bubblewrap is not installed or user namespaces are "
                                 "disabled, and the audit hook alone is not a boundary; install it (apt-get install "
                                 "bubblewrap) or set executor.args sandbox: guard-only to run without it (docs/generative.md)")
    return bwrap


def _rlimits(limits: Limits):
    """The child's resource limits, set between fork and exec."""

    def preexec() -> None:
        mb = 1 << 20
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return preexec

class GuardedPythonExecutor(Executor):
    """Runs each program in its own guarded `python -I` process; see the module docstring for the layers."""

    name = "python_guarded"

    def __init__(self, limits: Limits | None = None, allowed_imports: Sequence[str] = DEFAULT_ALLOWED_IMPORTS,
                 sandbox: str = "auto", entry: str = "generate", default_sample_rate: int = 16000,
                 check_imports: bool = True, runtime_guard: bool = True, silence_db: float = -60.0, min_seconds_audio: float = 0.05):
        self.limits = limits or Limits()
        self.allowed_imports = tuple(allowed_imports)
        self.entry = entry
        self.default_sample_rate = int(default_sample_rate)
        # Both False only in tests that show each deeper layer holding on its own.
        self.check_imports = check_imports
        self.runtime_guard = runtime_guard
        self.silence_db = float(silence_db)
        self.min_seconds_audio = float(min_seconds_audio)
        self.bwrap = _choose_sandbox(sandbox)
        self.tmpfs_quota = bool(self.bwrap) and tmpfs_size_supported(self.bwrap)
        self.sys_path, self.package_dirs = _package_dirs(self.allowed_imports)
        # numpy is imported before the audit hook goes in (almost every program uses it); others load lazily
        self.preload = ["numpy"] if "numpy" in self.allowed_imports else []
        self.python = os.path.realpath(sys.executable)
        self.base_prefix = os.path.realpath(sys.base_prefix)

    @property
    def sandbox(self) -> str:
        """What stands below the audit hook: "bubblewrap", or "guard-only" (asked for by name)."""
        return "bubblewrap" if self.bwrap else "guard-only"

    def identity(self) -> dict[str, Any]:
        """What changes which programs pass and what they return (goes into the cache key and results)."""
        return {"executor": self.name, "limits": asdict(self.limits), "allowed_imports": list(self.allowed_imports),
                "entry": self.entry, "runtime_guard": self.runtime_guard, "sandbox": self.sandbox,
                "default_sample_rate": self.default_sample_rate, "silence_db": self.silence_db,
                "min_seconds_audio": self.min_seconds_audio, "python": sys.version.split()[0]}

    def protections(self) -> dict[str, Any]:
        """Which layers are in force on this machine, for the results JSON."""
        root = os.geteuid() == 0
        drops_uid = bool(self.bwrap) and root
        return {
            "static_allow_list": self.check_imports,
            "own_process_and_session": True, "isolated_python": True, "clean_environment": True,
            "rlimits": ["cpu", "address_space", "file_size", "open_files"]
                       + (["processes"] if (not root or drops_uid) else []),
            "process_limit_binds": (not root) or drops_uid,
            "wall_timeout_kills_group": True, "output_cap": True, "audit_hook": self.runtime_guard,
            "sandbox": self.sandbox,
            **({} if self.bwrap else {"sandbox_note": AUDIT_HOOK_NOTE}),
            "filesystem_hidden": bool(self.bwrap), "network_namespace": bool(self.bwrap),
            "pid_namespace": bool(self.bwrap), "runs_as": "nobody" if drops_uid else ("root" if root else "user"),
            "disk_quota": {"mb": self.limits.disk_mb, "how": "tmpfs size" if self.tmpfs_quota else "measured while running"},
            "result_message": "parsed strictly; the first is final",
            "note": "a guard against accidents and careless code, not a security boundary",
        }

    # -- running -------------------------------------------------------------------------------------------

    def run(self, text: str) -> Execution:
        """The program inside a generated text (`extract_code`), checked, run and validated."""
        source = extract_code(text)
        if source is None:
            return Execution("no_code", "no Python code block in the generation")
        return self.run_program(source)

    def run_program(self, source: str) -> Execution:
        """Check, run and validate one program."""
        t0 = time.perf_counter()
        if self.check_imports or not source.strip():
            kind, detail = check_program(source, self.allowed_imports)
            if kind != OK:
                return Execution(kind, detail, seconds=time.perf_counter() - t0)
        else:
            try:
                compile(source, "program.py", "exec")
            except (SyntaxError, ValueError) as exc:
                return Execution("syntax_error", str(exc), seconds=time.perf_counter() - t0)
        with tempfile.TemporaryDirectory(prefix="ge-prog-") as tmp:
            ex = self._spawn(source, Path(tmp))
        ex.seconds = time.perf_counter() - t0
        if ex.kind == OK:
            ex = self._validate(ex)
        return ex

    def _spec(self, tmp: Path, write_fd: int) -> dict[str, Any]:
        """What the child's wrapper needs (sent on its stdin, which it closes before the program runs)."""
        return {"result_fd": write_fd, "program": str(tmp / "program.py"), "workdir": str(tmp / "work"),
                "sys_path": self.sys_path, "preload": self.preload, "guard": self.runtime_guard,
                "read_roots": [self.base_prefix, *self.package_dirs, "/usr/lib", "/usr/lib64", "/lib", "/lib64",
                               os.path.dirname(CHILD), "/proc/self", "/dev/null", "/dev/urandom"],
                "entry": self.entry, "fallback_names": ["audio", "samples", "waveform", "signal", "wave", "y", "output"],
                "rate_names": ["sample_rate", "sr", "fs", "SAMPLE_RATE", "SR", "rate"],
                "default_rate": self.default_sample_rate, "max_samples": self.max_samples}

    @property
    def max_samples(self) -> int:
        return int(self.limits.max_seconds_audio * 192000)

    def _spawn(self, source: str, tmp: Path) -> Execution:
        work = tmp / "work"
        work.mkdir()
        (tmp / "program.py").write_text(source, encoding="utf-8")
        drop = bool(self.bwrap) and os.geteuid() == 0
        if drop:
            os.chown(work, NOBODY, NOBODY)
            os.chmod(tmp, 0o755)
            os.chmod(tmp / "program.py", 0o644)
        read_fd, write_fd = os.pipe()
        spec = json.dumps(self._spec(tmp, write_fd)).encode()
        argv = [self.python, "-I", "-S", str(CHILD)]
        if self.bwrap:
            argv = self._bwrap_argv(tmp, drop) + argv
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work), "TMPDIR": str(work),
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=str(work), env=env, start_new_session=True, pass_fds=(write_fd,),
                                    preexec_fn=_rlimits(self.limits), close_fds=True)
        finally:
            os.close(write_fd)
        quota = None if self.tmpfs_quota else (work, self.limits.disk_mb << 20)
        out = _Drain(proc, read_fd, self.limits.output_kb * 1024, 8 + MAX_STATUS_BYTES + self.max_samples * 4, quota)
        try:
            proc.stdin.write(spec)
            proc.stdin.close()
        except OSError:  # died before reading it: what it left says why
            pass
        killed_for = out.wait(self.limits.wall_seconds)
        stdout, stderr = out.text()
        return self._interpret(killed_for, proc.returncode, bytes(out.buffers["result"]),
                               {"stdout": stdout, "stderr": stderr})

    def _interpret(self, killed_for: str | None, rc: int | None, buf: bytes, base: dict[str, str]) -> Execution:
        """What became of the program, from why the harness killed it, its exit code and the result pipe."""
        limits = self.limits
        if killed_for == "timeout":
            return Execution("timeout", f"wall clock {limits.wall_seconds:g} s", **base)
        if killed_for == "output_limit":
            return Execution("output_limit", f"more than {limits.output_kb} kB of output", **base)
        if killed_for == "result_limit":
            return Execution("bad_length", "result larger than the longest waveform accepted", **base)
        if killed_for == "disk_limit":
            return Execution("disk_limit", f"its folder grew past {limits.disk_mb} MB (all files together)", **base)
        if not buf:
            return self._no_result(rc, base)
        status, payload, used, why = parse_frame(buf, self.max_samples)
        if status is None:
            return Execution("bad_output", why, **base)
        if isinstance(status, _FailedStatus):  # the first message is final
            detail = status.detail
            if status.kind == "disk_limit":
                detail = f"quota {limits.disk_mb} MB for its folder, {limits.file_size_mb} MB a file: {detail}"
            return Execution(status.kind, detail[:300], **base)
        if used < len(buf):  # an ok, then more: the program wrote to the pipe, or failed after its result
            after, _, _, _ = parse_frame(buf[used:], self.max_samples)
            if isinstance(after, _FailedStatus):
                return Execution(after.kind, f"after a result message: {after.detail}"[:300], **base)
            return Execution("bad_output", "more than one result message (the program wrote to the result pipe)", **base)
        if rc != 0:
            return Execution("crashed", f"exit code {rc} after its result message", **base)
        wave = np.frombuffer(payload, dtype="<f4").astype(np.float32)
        return Execution(OK, "", waveform=wave, sample_rate=status.sample_rate, **base)

    def _no_result(self, rc: int | None, base: dict[str, str]) -> Execution:
        limits, stderr = self.limits, base["stderr"]
        # A signal shows as a negative code, or through bwrap as 128 + the signal.
        sig = -rc if rc is not None and rc < 0 else (rc - 128 if self.bwrap and rc is not None and rc > 128 else None)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return Execution("timeout", f"CPU limit {limits.cpu_seconds} s (signal {sig})", **base)
        if "MemoryError" in stderr:
            return Execution("memory", "MemoryError", **base)
        if self.bwrap and rc == 1 and "bwrap:" in stderr:
            return Execution("crashed", f"sandbox failed to start: {stderr.strip().splitlines()[-1][:200]}", **base)
        return Execution("crashed", f"exit code {rc} without a result", **base)

    def _bwrap_argv(self, tmp: Path, drop: bool) -> list[str]:
        argv = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev",
                "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr", "--tmpfs", "/usr/share", "--tmpfs", "/usr/local/share"]
        for top in ("/bin", "/lib", "/lib64", "/sbin"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        work = str(tmp / "work")
        binds = [(p, p, "--ro-bind") for p in dict.fromkeys([self.base_prefix, *self.package_dirs, str(CHILD.parent)])
                 if not p.startswith("/usr/")]
        binds += [(str(tmp / "program.py"), str(tmp / "program.py"), "--ro-bind"), (work, work, "--bind")]
        # bwrap makes the parents of a bind target private (0700); nobody must be able to walk them.
        parents = sorted({str(q) for _, dest, _ in binds for q in Path(dest).parents if str(q) not in ("/", "/usr", "/tmp")},
                         key=lambda q: q.count("/"))
        for parent in parents:
            argv += ["--dir", parent]
        for src, dest, how in binds:
            if dest == work and self.tmpfs_quota:  # the folder is a tmpfs of disk_mb: the kernel keeps the quota
                argv += ["--perms", "0777", "--size", str(self.limits.disk_mb << 20), "--tmpfs", work]
            else:
                argv += [how, src, dest]
        # The scratch tmpfs mounts hold nothing the program may write (they are RAM, without a size).
        argv += ["--remount-ro", "/tmp", "--remount-ro", "/usr/share", "--remount-ro", "/usr/local/share"]
        argv += ["--chdir", work]
        for key, value in (("PATH", "/usr/bin:/bin"), ("LANG", "C.UTF-8"), ("HOME", work),
                           ("TMPDIR", work), ("OPENBLAS_NUM_THREADS", "1"), ("OMP_NUM_THREADS", "1")):
            argv += ["--setenv", key, value]
        if drop:  # as root the process limit does not bind: the program runs as nobody inside the namespaces
            argv += ["--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
                     "--bounding-set=-all"]
        else:
            argv += ["--"]
        return argv

    def _validate(self, ex: Execution) -> Execution:
        wave, rate = ex.waveform, ex.sample_rate
        assert wave is not None
        if rate is None or not (1000 <= rate <= 192000) or float(rate) != int(rate):
            return Execution("bad_output", f"sample rate {rate!r} is not an integer in 1000..192000", stdout=ex.stdout,
                             stderr=ex.stderr, seconds=ex.seconds)
        rate = int(rate)
        fail = None
        if not np.all(np.isfinite(wave)):
            fail = ("nan", f"{int((~np.isfinite(wave)).sum())} NaN or infinite samples")
        elif wave.size < self.min_seconds_audio * rate:
            fail = ("bad_length", f"{wave.size} samples < {self.min_seconds_audio:g} s at {rate} Hz")
        elif wave.size > self.limits.max_seconds_audio * rate:
            fail = ("bad_length", f"{wave.size / rate:.1f} s > {self.limits.max_seconds_audio:g} s")
        elif is_silent(wave, self.silence_db):
            fail = ("silence", f"peak below {self.silence_db:g} dBFS")
        if fail:
            return Execution(fail[0], fail[1], stdout=ex.stdout, stderr=ex.stderr, seconds=ex.seconds)
        ex.sample_rate = rate
        return ex


class _Drain:
    """Reads stdout, stderr and the result pipe at once (so a full pipe never blocks the child), keeping
    at most `cap` bytes of text output, and kills the process group on timeout or excess."""

    def __init__(self, proc: subprocess.Popen, result_fd: int, cap: int, result_cap: int,
                 quota: tuple[Path, int] | None = None):
        self.proc, self.cap, self.result_cap, self.quota = proc, cap, result_cap, quota
        self.buffers: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
        self.total_text = 0
        self.reason: str | None = None
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._pump, args=(proc.stdout.fileno(), "stdout"), daemon=True),
                        threading.Thread(target=self._pump, args=(proc.stderr.fileno(), "stderr"), daemon=True),
                        threading.Thread(target=self._pump, args=(result_fd, "result"), daemon=True)]
        self.result_fd = result_fd
        for t in self.threads:
            t.start()

    def _pump(self, fd: int, name: str) -> None:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                buf = self.buffers[name]
                if name == "result":
                    if len(buf) + len(chunk) > self.result_cap:
                        self._kill("result_limit")
                        return
                    buf += chunk
                else:
                    self.total_text += len(chunk)
                    room = self.cap - len(self.buffers["stdout"]) - len(self.buffers["stderr"])
                    buf += chunk[:max(room, 0)]
                    if self.total_text > self.cap:
                        self._kill("output_limit")
                        return

    def _kill(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _over_quota(self) -> bool:
        return self.quota is not None and folder_bytes(*self.quota) > self.quota[1]

    def wait(self, timeout: float) -> str | None:
        """Waits for the child (measuring its folder every 50 ms when the quota is the harness's to keep);
        the reason it was killed, if it was."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.proc.wait(timeout=min(0.05, max(deadline - time.monotonic(), 0.001)))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline or self._over_quota():
                    with self.lock:
                        self._kill("timeout" if time.monotonic() >= deadline else "disk_limit")
                    self.proc.wait()
                    break
        if self.reason is None and self._over_quota():  # grew past it in its last moments
            self.reason = "disk_limit"
        # Killing the group also reaps what the program forked; pipes close once every holder is gone.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for t in self.threads:
            t.join(timeout=5)
        os.close(self.result_fd)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.reason

    def text(self) -> tuple[str, str]:
        return (self.buffers["stdout"].decode("utf-8", "replace"), self.buffers["stderr"].decode("utf-8", "replace"))
