"""The shape of the package, enforced: imports form no cycle, no function is longer than a screen, and no
module imports another module's private (`_name`) names. A change that breaks one of these makes the code
harder to read top-down; these tests say where."""

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
    "grounding_eval/__init__.py": {"grounding_eval.runner"},
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
