"""Runs INSIDE the guarded child process (`python -I _child.py SPEC_JSON`): stdlib only, never imports
grounding_eval, because the child sees only the interpreter, the allowed packages and its own folder.

It installs an audit hook (a second line behind the AST allow-list: file opens outside the allowed folders,
sockets, subprocesses, fork and exec are refused), runs the program, calls its entry function, and sends
one status line plus the raw float32 samples back through the result pipe the harness passed in.
"""

import json
import os
import struct
import sys


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


def main():
    spec = json.loads(sys.argv[1])
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
                _send(fd, {"kind": "bad_output", "detail": f"no {spec['entry']}() and none of {spec['fallback_names']} defined"})
                return
            rate = next((env[n] for n in spec["rate_names"] if n in env), None)
            if rate is not None:
                out = (out, rate)
    except MemoryError:
        _send(fd, {"kind": "memory", "detail": "MemoryError"})
        return
    except RecursionError as exc:
        _send(fd, {"kind": "runtime_error", "detail": f"RecursionError: {str(exc)[:200]}"})
        return
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from the program count as its errors
        kind = "guard_refused" if isinstance(exc, PermissionError) and str(exc).startswith("guard:") else "runtime_error"
        _send(fd, {"kind": kind, "detail": f"{type(exc).__name__}: {str(exc)[:200]}"})
        return
    _send_audio(fd, out, spec)


def _send_audio(fd, out, spec):
    rate = spec["default_rate"]
    if isinstance(out, tuple) and len(out) == 2:
        out, rate = out
        if isinstance(out, (int, float)) and not isinstance(rate, (int, float)):
            out, rate = rate, out  # (rate, samples), the order scipy.io.wavfile uses
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate != rate:
        _send(fd, {"kind": "bad_output", "detail": f"sample rate is {type(rate).__name__}, not a number"})
        return
    try:
        import array

        try:
            import numpy as np

            arr = np.asarray(out, dtype=np.float64)
            if arr.ndim == 2:  # channels: average them (either layout, the shorter axis is the channel one)
                arr = arr.mean(axis=0 if arr.shape[0] < arr.shape[1] else 1)
            if arr.ndim != 1:
                _send(fd, {"kind": "bad_output", "detail": f"waveform has shape {arr.shape}, not 1-D"})
                return
            if arr.size > spec["max_samples"]:
                _send(fd, {"kind": "bad_length", "detail": f"{arr.size} samples > {spec['max_samples']}"})
                return
            payload = arr.astype("<f4").tobytes()
        except ImportError:
            seq = list(out)
            if len(seq) > spec["max_samples"]:
                _send(fd, {"kind": "bad_length", "detail": f"{len(seq)} samples > {spec['max_samples']}"})
                return
            payload = array.array("f", [float(x) for x in seq]).tobytes()
    except MemoryError:
        _send(fd, {"kind": "memory", "detail": "MemoryError while converting the output"})
        return
    except Exception as exc:
        _send(fd, {"kind": "bad_output", "detail": f"output is not a waveform: {type(exc).__name__}: {str(exc)[:160]}"})
        return
    _send(fd, {"kind": "ok", "sample_rate": float(rate)}, payload)


if __name__ == "__main__":
    main()
