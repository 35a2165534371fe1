"""The shape of the package, enforced: imports form no cycle, no function is longer than a screen, no
module imports another module's private (`_name`) names, and the task kinds are layered: the shared core
never imports a kind's package and no kind imports another's. A change that breaks one of these makes the
code harder to read top-down (or a kind no longer one package and one registration); these tests say where."""

from __future__ import annotations

import ast
from pathlib import Path

import grounding_eval

ROOT = Path(grounding_eval.__file__).parent
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of the package's own modules, anywhere
    in the file (a function-level import is a dependency too)."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "grounding_eval"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "grounding_eval":
                continue
            names = [a.name for a in node.names]
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]  # `from pkg import module`
            out += [(s, [], node.lineno) for s in subs]
            out.append((mod, [n for n in names if f"{mod}.{n}" not in known], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for mod, _names, _line in _imports(name, path, known):
            if mod in known and mod != name:
                graph[name].add(mod)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None. Importing a package's __init__ from inside it is not a
    cycle of this kind (Python runs the __init__ first), so edges to an ancestor package are ignored."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for dep in sorted(graph[m]):
            if m.startswith(dep + "."):
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set(), "a.x": {"a"}}) is None


def _long_functions(tree: ast.AST, limit: int) -> list[str]:
    return [f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_longer_than_a_screen():
    long = [f"{path.relative_to(ROOT.parent)}: {f}" for path in _modules().values()
            for f in _long_functions(ast.parse(path.read_text()), MAX_FUNCTION_LINES)]
    assert long == []


def test_the_length_check_counts_lines():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert _long_functions(ast.parse(f"def f():\n{body}\n"), MAX_FUNCTION_LINES) == ["f (line 1): 81 lines"]


def _private_imports() -> list[str]:
    mods = _modules()
    bad = []
    for name, path in mods.items():
        for mod, names, line in _imports(name, path, set(mods)):
            if mod != name:
                bad += [f"{path.relative_to(ROOT.parent)}:{line}: {n} from {mod}" for n in names
                        if n.startswith("_") and not n.startswith("__")]
    return bad


def test_no_module_imports_another_modules_private_names():
    assert _private_imports() == []


def test_the_private_check_sees_a_private_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from grounding_eval.cli.args import Parser, _hidden\n")
    assert _imports("grounding_eval.m", f, {"grounding_eval.cli.args"}) == [("grounding_eval.cli.args", ["Parser", "_hidden"], 1)]


# An own-package import inside a function hides a dependency from the reader. The one that stays lazy,
# for the heavy library behind it (a reason each):
FUNCTION_IMPORTS_KEPT = {
    # `import grounding_eval` (every plugin, every light command) must not load torch, which the runner does.
    # It is also the one import of a kind's package by the shared core (KIND_IMPORTS_KEPT below).
    "grounding_eval/__init__.py": {"grounding_eval.kinds.probe.runner"},
}


def _function_imports(path: Path) -> list[tuple[str, int]]:
    """(module, line) of each import of the package's own modules inside a function body."""
    out = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "grounding_eval"):
                    out.append(("." * node.level + (node.module or ""), node.lineno))
                elif isinstance(node, ast.Import):
                    out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "grounding_eval"]
    return out


def test_own_package_imports_are_at_module_top():
    found = []
    for path in _modules().values():
        rel = path.relative_to(ROOT.parent).as_posix()
        found += [f"{rel}:{line}: {mod}" for mod, line in _function_imports(path)
                  if mod not in FUNCTION_IMPORTS_KEPT.get(rel, set())]
    assert found == []


def test_the_function_import_check_sees_one(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef f():\n    import json\n    from grounding_eval.stats import x\n    from . import y\n")
    assert _function_imports(f) == [("grounding_eval.stats", 5), (".", 6)]


# -- kinds: the core never imports a kind's package, and no kind imports another's ---------------------

# The shared core's imports of a kind's package that stay (a reason each):
KIND_IMPORTS_KEPT = {
    # `grounding_eval.evaluate(...)` is the package's convenience entry point (lm-eval's `simple_evaluate`),
    # and it is the probe's run, the first kind's; the import is inside the function (FUNCTION_IMPORTS_KEPT),
    # so `import grounding_eval` loads no kind. Nothing else in the core may do this: ask the kinds table.
    "grounding_eval/__init__.py": {"grounding_eval.kinds.probe.runner"},
}


def _kind_of(module: str) -> str | None:
    """The kind whose package holds `module` (`grounding_eval.kinds.<kind>[.x...]`); None for the shared core,
    which includes the kinds table `grounding_eval.kinds` itself."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["grounding_eval", "kinds"] else None


def _shown(path: Path) -> str:
    return path.relative_to(ROOT.parent).as_posix() if path.is_relative_to(ROOT.parent) else str(path)


def _kind_crossings(mods: dict[str, Path]) -> tuple[list[str], list[str]]:
    """(core imports of a kind's package, imports of one kind's package by another's), as `file:line: ...`,
    for the modules `mods` (name -> file); KIND_IMPORTS_KEPT is left out of the first list."""
    known = set(_modules()) | set(mods)
    core, cross = [], []
    for name, path in mods.items():
        here, shown = _kind_of(name), _shown(path)
        seen: set[tuple[int, str]] = set()  # `from ..kind import m` lists m and its package: one line, one finding
        for mod, _names, line in _imports(name, path, known):
            there = _kind_of(mod)
            if there is None or there == here or (line, there) in seen:
                continue
            seen.add((line, there))
            if here is None and mod not in KIND_IMPORTS_KEPT.get(shown, set()):
                core.append(f"{shown}:{line}: imports {mod}, a module of the {there} kind")
            elif here is not None:
                cross.append(f"{shown}:{line}: the {here} kind imports {mod}, a module of the {there} kind")
    return core, cross


def test_the_core_imports_no_kind_package():
    """No module outside grounding_eval/kinds/<kind>/ imports a kind's package (the table, grounding_eval.kinds,
    is fine): the core asks the kinds table, so a new kind needs no change to it."""
    assert _kind_crossings(_modules())[0] == []


def test_no_kind_imports_another_kind():
    """grounding_eval.kinds.probe never imports grounding_eval.kinds.generative, nor the other way round (any two
    kinds): what two kinds share belongs to the core."""
    assert _kind_crossings(_modules())[1] == []


def test_the_kind_check_sees_a_core_module_import_a_kind(tmp_path):
    """Planted: a core module importing a kind's module, absolutely, as `from kinds import <kind>` and lazily,
    is caught three times; importing the table, or a kind's module from within that kind, is not."""
    core = tmp_path / "core.py"
    core.write_text("from grounding_eval.kinds import get_kind\nfrom grounding_eval.kinds.probe.results import Results\n"
                    "from grounding_eval.kinds import generative\n\ndef f():\n    import grounding_eval.kinds.probe.runner\n")
    own = tmp_path / "own.py"
    own.write_text("from grounding_eval.kinds.probe.results import Results\nfrom . import config\n")
    found, cross = _kind_crossings({"grounding_eval.leaderboard.planted": core, "grounding_eval.kinds.probe.planted": own})
    assert [f.split(": ", 1)[1] for f in found] == [
        "imports grounding_eval.kinds.probe.results, a module of the probe kind",
        "imports grounding_eval.kinds.generative, a module of the generative kind",
        "imports grounding_eval.kinds.probe.runner, a module of the probe kind"]
    assert found[0].startswith(f"{core}:2: ") and cross == []


def test_the_kind_check_sees_one_kind_import_another(tmp_path):
    """Planted: the probe kind importing the generative kind's module (absolute and relative), and a plugin's
    kind importing the probe's, are caught; a kind importing the core is not."""
    probe = tmp_path / "probe_mod.py"
    probe.write_text("from grounding_eval.compare import verdict\nfrom grounding_eval.kinds.generative.results import X\n"
                     "from ..generative import config\n")
    toy = tmp_path / "toy_mod.py"
    toy.write_text("import grounding_eval.kinds.probe.config\n")
    found, cross = _kind_crossings({"grounding_eval.kinds.probe.planted": probe, "grounding_eval.kinds.toy.planted": toy})
    assert found == []
    assert [c.split(": ", 1)[1] for c in cross] == [
        "the probe kind imports grounding_eval.kinds.generative.results, a module of the generative kind",
        "the probe kind imports grounding_eval.kinds.generative.config, a module of the generative kind",
        "the toy kind imports grounding_eval.kinds.probe.config, a module of the probe kind"]
