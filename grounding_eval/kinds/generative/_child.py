"""Runs INSIDE the guarded child process (`python -I _child.py`, the spec as JSON on stdin): stdlib only,
never imports grounding_eval, because the child sees only the interpreter, the allowed packages and its own
folder.

It reads the spec from stdin and puts /dev/null in its place (so the spec, with the result pipe's number, is
not in `sys.argv` or anywhere the program is pointed to), installs an audit hook (a second line behind the
AST allow-list: file opens outside the allowed folders, sockets, subprocesses, fork and exec are refused),
runs the program, calls its entry function, sends ONE frame (a status line plus the raw float32 samples)
back through the result pipe, and exits at once: nothing of the program runs after its result. The harness
trusts none of it (executor.parse_frame): the program can reach the pipe, so a forged frame must prove
nothing.
"""

import errno
import json
import numbers
import os
import struct
import sys

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _send(fd, status, payload=b""):
    head = json.dumps(status).encode()
    os.write(fd, struct.pack("<II", len(head), len(payload)) + head)
    view = memoryview(payload)
    while view:
        n = os.write(fd, view[:1 << 16])
        view = view[n:]


def _guard(read_roots, write_root):
    """Refuse, from now on, what a sound-making program has no business doing (a guard, not a boundary)."""
    read_roots = tuple(os.path.realpath(r) for r in read_roots)
    write_root = os.path.realpath(write_root)
    denied = {"socket.connect", "socket.bind", "socket.sendto", "subprocess.Popen", "os.system", "os.exec",
              "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg", "ctypes.dlopen",
              "os.putenv", "os.unsetenv", "sys.setprofile", "sys.settrace", "os.chmod", "os.chown", "os.link",
              "os.symlink"}

    def inside(path, roots):
        try:
            real = os.path.realpath(os.fsdecode(path))
        except Exception:
            return False
        return any(real == r or real.startswith(r + os.sep) for r in roots)

    def hook(event, args):
        if event in denied:
            raise PermissionError(f"guard: {event} is not allowed")
        if event == "open":
            path, mode = args[0], args[1]
            if isinstance(path, int):  # an already open descriptor: nothing new is reached
                return
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                writing = True
            roots = (write_root,) if writing else read_roots + (write_root,)
            if not inside(path, roots):
                raise PermissionError(f"guard: opening {os.fsdecode(path)!r} is not allowed")
        elif event in ("os.remove", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree", "os.mkdir",
                       "os.truncate", "os.utime"):
            for path in args[:2]:
                if isinstance(path, (str, bytes)) and not inside(path, (write_root,)):
                    raise PermissionError(f"guard: {event} outside the program's folder is not allowed")
        elif event in ("os.listdir", "os.scandir", "glob.glob"):
            path = args[0] if args else "."
            if isinstance(path, (str, bytes)) and not inside(path, read_roots + (write_root,)):
                raise PermissionError(f"guard: listing {os.fsdecode(path)!r} is not allowed")

    sys.addaudithook(hook)


def _read_spec():
    data = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return json.loads(data)


def _finish(fd, status, payload=b""):
    """Send the one result frame and leave: no program code (atexit, __del__) runs after it. A frame that
    cannot be sent (the program closed the pipe) exits non-zero, which fails any frame sent before it."""
    code = 0
    try:
        _send(fd, status, payload)
    except BaseException:
        code = 70
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


def main():
    spec = _read_spec()
    fd = spec["result_fd"]
    sys.path[:0] = spec["sys_path"]
    # Import what the allow-list permits before the guard, so their own file reads are not in the way.
    for name in spec["preload"]:
        try:
            __import__(name)
        except Exception:
            pass
    with open(spec["program"], encoding="utf-8") as f:
        source = f.read()
    if spec["guard"]:
        _guard(spec["read_roots"], spec["workdir"])
    env = {"__name__": "__program__"}
    try:
        exec(compile(source, "program.py", "exec"), env)
        entry = env.get(spec["entry"])
        if callable(entry):
            out = entry()
        else:
            out = next((env[n] for n in spec["fallback_names"] if n in env), None)
            if out is None:
                _finish(fd, {"kind": "bad_output", "detail": f"no {spec['entry']}() and none of {spec['fallback_names']} defined"})
            rate = next((env[n] for n in spec["rate_names"] if n in env), None)
            if rate is not None:
                out = (out, rate)
    except MemoryError:
        _finish(fd, {"kind": "memory", "detail": "MemoryError"})
    except RecursionError as exc:
        _finish(fd, {"kind": "runtime_error", "detail": f"RecursionError: {str(exc)[:200]}"})
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from the program count as its errors
        _finish(fd, {"kind": _failure_kind(exc, spec["workdir"]), "detail": f"{type(exc).__name__}: {str(exc)[:200]}"})
    _send_audio(fd, out, spec)


def _failure_kind(exc, workdir):
    if isinstance(exc, PermissionError) and str(exc).startswith("guard:"):
        return "guard_refused"
    if isinstance(exc, OSError) and (exc.errno in DISK_ERRNOS or _full(workdir)):  # its folder's quota, or
        return "disk_limit"                                                       # the per-file limit
    return "runtime_error"


def _full(folder):
    """Whether the folder's file system (a tmpfs of the quota's size under bubblewrap) has no room left."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 16)


def _is_number(x):
    """A real number: Python's or numpy's (np.int64(16000) is a fine rate), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and type(x).__name__ not in ("bool", "bool_")


def _send_audio(fd, out, spec):
    rate = spec["default_rate"]
    if isinstance(out, tuple) and len(out) == 2:
        out, rate = out
        if _is_number(out) and not _is_number(rate):
            out, rate = rate, out  # (rate, samples), the order scipy.io.wavfile uses
    try:
        rate = float(rate) if _is_number(rate) else None
    except (TypeError, ValueError, OverflowError):
        rate = None
    if rate is None or rate != rate or rate in (float("inf"), float("-inf")):
        _finish(fd, {"kind": "bad_output", "detail": "sample rate is not a finite number"})
    try:
        import array

        try:
            import numpy as np

            arr = np.asarray(out, dtype=np.float64)
            if arr.ndim == 2:  # channels: average them (either layout, the shorter axis is the channel one)
                arr = arr.mean(axis=0 if arr.shape[0] < arr.shape[1] else 1)
            if arr.ndim != 1:
                _finish(fd, {"kind": "bad_output", "detail": f"waveform has shape {arr.shape}, not 1-D"})
            if arr.size > spec["max_samples"]:
                _finish(fd, {"kind": "bad_length", "detail": f"{arr.size} samples > {spec['max_samples']}"})
            payload = arr.astype("<f4").tobytes()
        except ImportError:
            seq = list(out)
            if len(seq) > spec["max_samples"]:
                _finish(fd, {"kind": "bad_length", "detail": f"{len(seq)} samples > {spec['max_samples']}"})
            payload = array.array("f", [float(x) for x in seq]).tobytes()
    except MemoryError:
        _finish(fd, {"kind": "memory", "detail": "MemoryError while converting the output"})
    except Exception as exc:
        _finish(fd, {"kind": "bad_output", "detail": f"output is not a waveform: {type(exc).__name__}: {str(exc)[:160]}"})
    _finish(fd, {"kind": "ok", "sample_rate": rate}, payload)


if __name__ == "__main__":
    main()
