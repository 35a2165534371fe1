"""The sha256 of the source code a function's result depends on, for cache keys that must move when code is edited
in place (a local plugin file, an editable install: no package version moves then).

From the function, the names its code uses are followed, transitively, to the functions, classes and modules
they reach (globals, attributes of modules it names, closure cells). A file enters the digest when it is not an
installed library's (stdlib, site-packages: their versions are recorded elsewhere) or belongs to the function's
own top-level package. Files are hashed whole and by content, not by path, so two checkouts of the same code
give the same digest and an edit anywhere in a followed file moves it (conservative: a comment moves it too).
"""

from __future__ import annotations

import hashlib
import inspect
import sysconfig
from pathlib import Path
from types import CodeType
from typing import Any

# Where installed code lives: followed only inside the function's own package.
_INSTALLED = tuple(sorted({str(Path(sysconfig.get_paths()[k]).resolve())
                           for k in ("stdlib", "platstdlib", "purelib", "platlib")}))


def _names(code: CodeType) -> set[str]:
    """Every global or attribute name a code object uses, nested functions and comprehensions included."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            out |= _names(const)
    return out


def _reached(obj: Any) -> list[Any]:
    """What a function or class names: its globals, those names as attributes of modules it names, closures."""
    if inspect.isclass(obj):
        return [getattr(v, "__func__", v) for v in vars(obj).values()
                if inspect.isfunction(getattr(v, "__func__", v))]
    if not inspect.isfunction(obj):
        return []
    names = _names(obj.__code__)
    found = [obj.__globals__[n] for n in names if n in obj.__globals__]
    for module in [v for v in found if inspect.ismodule(v)]:
        found += [vars(module)[n] for n in names if n in vars(module)]  # `helpers.rank(...)` names both
    for cell in obj.__closure__ or ():
        try:
            found.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    return found


def _source_file(obj: Any) -> Path | None:
    try:
        source = inspect.getsourcefile(obj)
    except TypeError:  # builtins, C extensions
        return None
    return Path(source).resolve() if source and Path(source).is_file() else None


def source_files(fn: Any) -> list[Path]:
    """The source files `fn` depends on (see the module's docstring), its own first."""
    fn = inspect.unwrap(fn)
    top = (getattr(fn, "__module__", None) or "").split(".")[0]
    files: dict[Path, None] = {}
    seen: set[int] = set()
    todo = [fn]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
            continue
        seen.add(id(obj))
        path = _source_file(obj)
        if path is None:
            continue
        own_package = (getattr(obj, "__name__" if inspect.ismodule(obj) else "__module__", None) or "").split(".")[0] == top
        if not own_package and str(path).startswith(_INSTALLED):
            continue
        files[path] = None
        if not inspect.ismodule(obj):  # a module's functions are followed only where a caller names them
            todo += _reached(obj)
    return list(files)


def code_digest(fn: Any) -> str:
    """sha256 over the contents of `source_files(fn)`; for a callable without Python source, its qualified name."""
    files = source_files(fn) if _source_file(inspect.unwrap(fn)) else []
    if not files:
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
    digests = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in files)
    return hashlib.sha256("\0".join(digests).encode()).hexdigest()
