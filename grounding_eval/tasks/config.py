"""The task schema and its strict YAML loader.

A task is one YAML file. Loading is strict on purpose: a typo in a key would otherwise silently fall back to
a default and change the numbers, so every unknown key, wrong type or out-of-range value is an error that
names the file, the line and what would be valid. The schema is a set of frozen pydantic models
(`extra="forbid"`); line numbers survive `include:` merging because every value carries its (file, line)
provenance until pydantic has checked it, and pydantic's error location is mapped back onto it.
`task_json_schema()` publishes the same schema for editors (`grounding-eval schema task`). Hostile files are
refused before they cost anything: the file size is bounded before parsing, the node count and nesting while
composing, and alias expansion while building the tree (`MAX_TASK_*`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from grounding_eval.data.options import RENAMED_ARGS
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds import DEFAULT_KIND, all_kinds, get_kind, is_kind
from grounding_eval.tasks.locations import include_search_dirs
from grounding_eval.validation import Valid, dotted, expected, field_at, got, type_name, unknown_key

__all__ = [
    "Args",
    "DatasetConfig",
    "EncoderConfig",
    "Float",
    "load_task_file",
    "task_from_dict",
    "read_task_name",
    "task_json_schema",
    "task_model",
    "Section",
    "TaskFile",
]

MAX_TASK_FILE_BYTES = 1 << 20
"""A task file's size bound (1 MiB), checked before anything is parsed: the largest shipped or plugin task file
is about 5 KB, so this is 200 times any real one; a 50 MB file would otherwise take minutes to parse and be
copied into every results file."""
MAX_TASK_VALUES = 50_000
"""How many keys and values one task file may hold, each use of an alias counted in full: the largest shipped
task file holds 99 (500 times fewer). Nine nested aliases ("billion laughs") would expand to 9**9 = 387 million
values and hang every command whose --include-path holds the file; 50,000 take a second or two to parse at worst
(one-character list items) and a tenth of a second to build."""
MAX_TASK_DEPTH = 64
"""How deeply lists and mappings may nest: task files nest four levels; thousands would exhaust Python's stack."""
MAX_INCLUDE_DEPTH = 32
"""How long a chain of `include:` files may be: a task builds on a base or two."""

_TASK_NAME = re.compile(r"[a-z0-9_]+")
_YAML12_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml12_float(value: Any) -> Any:
    """PyYAML (YAML 1.1) reads 1e-3 as a string; YAML 1.2 and users mean a number."""
    if isinstance(value, str) and _YAML12_FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def _json_value(value: Any, path: tuple = ()) -> Any:
    """Free-form values (args mappings) must still be JSON-able so the content hash is well defined."""
    if isinstance(value, dict):
        for k, v in value.items():
            _json_value(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _json_value(v, (*path, i))
    elif not (value is None or isinstance(value, (str, bool, int, float))):
        raise PydanticCustomError("json_value", "unsupported value", {"path": path, "value": value})
    return value


Float = Annotated[float, BeforeValidator(_yaml12_float)]
Args = Annotated[dict[str, Any], AfterValidator(_json_value)]


def canonical_hash(config: dict[str, Any]) -> str:
    """sha256 of a config's canonical JSON (sorted keys, no spaces): a task's hash, also recomputed from a
    results file's stored config by the leaderboard."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Section(BaseModel):
    """A part of a task file: unknown keys are errors, values are exact types, the result is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)


class DatasetConfig(Section):
    """Which dataset builder makes the concepts and instances, and its arguments."""

    name: Annotated[str, Field(min_length=1), Valid("a non-empty dataset name")]
    """registered dataset builder name (see `grounding-eval datasets`)"""
    args: Args = {}
    """keyword arguments for the builder; empty because builders must have working defaults"""


class EncoderConfig(Section):
    """Which perception encoder (audio backbone, colour space, ...) embeds the instances, and its options."""

    name: Annotated[str, Field(min_length=1), Valid("a non-empty encoder name")]
    """registered perception encoder name"""
    args: Args = {}
    """options for the encoder factory; empty because factories must have working defaults"""


class TaskFile(Section):
    """What every task kind's config can do: plain data, a content hash, re-validated overrides."""

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain JSON-able data."""
        return self.model_dump()

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of to_dict(): identifies the resolved config, whatever the file layout."""
        return canonical_hash(self.to_dict())

    def with_overrides(self, **changes: Any) -> TaskFile:
        """A new, re-validated config with fields replaced; dotted names reach nested ones.

        `cfg.with_overrides(num_runs=1, **{"probe.epochs": 3})`. Nested sections may be given as models or
        dicts (a dict replaces that whole sub-config, missing keys taking defaults).
        """
        data = self.to_dict()
        for key, value in changes.items():
            if isinstance(value, BaseModel):
                value = value.model_dump()
            parts = key.split(".")
            target = data
            for i, part in enumerate(parts[:-1]):
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    where = ".".join(parts[: i + 1])
                    raise GroundingEvalError(f"override {key!r}: {where!r} is not a nested section of the task config")
                target = nxt
            target[parts[-1]] = value
        return task_from_dict(data, source=f"<overrides of task {self.task}>")  # type: ignore[attr-defined]


def task_model(kind: str) -> type[TaskFile]:
    """The config model of a task kind (the kinds table)."""
    return get_kind(kind).load("config")


def task_json_schema(kind: str = DEFAULT_KIND) -> dict[str, Any]:
    """A task file's JSON Schema (what editors use to complete and check task YAML); `include` (and `kind` for
    a probe task) are keys a file may have that its resolved config does not."""
    schema = task_model(kind).model_json_schema()
    schema["properties"] = {"include": {"description": "base file(s) merged under this one, relative to it",
                                        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                            "kind": {"description": "the task kind: " + ", ".join(all_kinds()), "const": kind},
                            **schema["properties"]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"grounding-eval {kind} task", **schema}


# --------------------------------------------------------------------------------------------------
# Provenance-carrying tree: every value knows the file and line it came from.


@dataclass
class _Loc:
    """A value with its provenance. `value` is a scalar, a list of _Loc, or a dict of str -> _Loc."""

    value: Any
    file: str
    line: int | None  # 1-based; None for values that did not come from a file (plugin dicts, overrides)

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


def _fail(loc: _Loc | None, file: str, msg: str) -> GroundingEvalError:
    where = loc.where() if loc is not None else file
    return GroundingEvalError(f"{where}: {msg}".replace("\n", " "))


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer, refusing a file with too many nodes or nested too deeply while it composes: a
    hostile file costs at most MAX_TASK_VALUES nodes of parsing, and never exhausts Python's stack."""

    def __init__(self, text: str, shown: str) -> None:
        super().__init__(text)
        self.ge_shown, self.ge_nodes, self.ge_depth = shown, 0, 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.ge_nodes += 1
        self.ge_depth += 1
        try:
            if self.ge_nodes > MAX_TASK_VALUES or self.ge_depth > MAX_TASK_DEPTH:
                line = self.peek_event().start_mark.line + 1
                problem = (_too_deep() if self.ge_depth > MAX_TASK_DEPTH else
                           f"more than {MAX_TASK_VALUES} keys and values; a task file may hold at most "
                           f"{MAX_TASK_VALUES} (real ones hold about a hundred)")
                raise GroundingEvalError(f"{self.ge_shown}:{line}: {problem}")
            return super().compose_node(parent, index)
        finally:
            self.ge_depth -= 1


def _too_deep() -> str:
    return f"lists and mappings nested more than {MAX_TASK_DEPTH} levels deep; a task file's sections nest a few levels"


@dataclass
class _Walk:
    """One file's walk from composed YAML nodes to the provenance tree. Every use of an alias is expanded into
    values of its own, so the walk counts what it builds (MAX_TASK_VALUES: a "billion laughs" of nested aliases
    is refused after that many values, not after 9**9) and refuses an alias inside the list or mapping it names."""

    file: str
    constructor: yaml.constructor.SafeConstructor
    built: int = 0
    seen: set[int] = field(default_factory=set)  # nodes built once: meeting one again is a use of its alias
    open: set[int] = field(default_factory=set)  # the lists and mappings being built (the current path)

    def enter(self, node: yaml.Node, at: int) -> int:
        """Count `node` and return the line it is used at (an alias's use: `at`, the line of its parent's use)."""
        self.built += 1
        line = node.start_mark.line + 1 if id(node) not in self.seen else at
        self.seen.add(id(node))
        if self.built > MAX_TASK_VALUES:
            raise GroundingEvalError(f"{self.file}:{line}: YAML aliases expand to more than {MAX_TASK_VALUES} keys "
                                     f"and values; a task file may hold at most {MAX_TASK_VALUES}, each use of an "
                                     "alias counted in full: write the values out instead")
        if id(node) in self.open:
            raise GroundingEvalError(f"{self.file}:{line}: a recursive alias (it names a list or mapping that contains "
                                     "it); a task file's values must be finite")
        if len(self.open) >= MAX_TASK_DEPTH:
            raise GroundingEvalError(f"{self.file}:{line}: {_too_deep()}")
        return line


def _from_node(node: yaml.Node, walk: _Walk, at: int) -> _Loc:
    """The provenance tree of a composed node; `at` is the line its parent is used at (for errors in aliases)."""
    at = walk.enter(node, at)
    line, file = node.start_mark.line + 1, walk.file
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        walk.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return _Loc([_from_node(n, walk, at) for n in node.value], file, line)
            return _Loc(_mapping(node, walk, at), file, line)
        finally:
            walk.open.discard(id(node))
    return _Loc(walk.constructor.construct_object(node, deep=True), file, line)


def _mapping(node: yaml.MappingNode, walk: _Walk, at: int) -> dict[str, _Loc]:
    out: dict[str, _Loc] = {}
    file = walk.file
    for key_node, value_node in node.value:
        kline = walk.enter(key_node, at)
        if not isinstance(key_node, yaml.ScalarNode):  # never built: an aliased key could be a whole bomb
            shape = "mapping" if isinstance(key_node, yaml.MappingNode) else "list"
            raise GroundingEvalError(f"{file}:{kline}: keys must be strings, got a {shape}")
        key = walk.constructor.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise GroundingEvalError(f"{file}:{kline}: keys must be strings, got {key!r}")
        if key in out:
            # YAML keeps the last silently; in a task file that is almost always a mistake.
            raise GroundingEvalError(f"{file}:{kline}: duplicate key {key!r} (first at line {out[key].line})")
        child = _from_node(value_node, walk, kline)
        # Errors about an entry point at its key, which is where the user will look.
        child.line = kline
        out[key] = child
    return out


def _from_plain(value: Any, source: str) -> _Loc:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise GroundingEvalError(f"{source}: keys must be strings, got {k!r}")
            out[k] = _from_plain(v, source)
        return _Loc(out, source, None)
    if isinstance(value, (list, tuple)):
        return _Loc([_from_plain(v, source) for v in value], source, None)
    return _Loc(value, source, None)


def _read_text(path: Path, shown: str) -> str:
    """A task file's text, refused before any parsing when it is larger than MAX_TASK_FILE_BYTES or not UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TASK_FILE_BYTES + 1)  # never more, whatever the file's size
    except OSError as exc:
        raise GroundingEvalError(f"{shown}: cannot read task file: {exc.strerror or exc}") from exc
    if len(data) > MAX_TASK_FILE_BYTES:
        try:
            size = f"{path.stat().st_size:,} bytes"
        except OSError:
            size = f"more than {MAX_TASK_FILE_BYTES:,} bytes"
        raise GroundingEvalError(f"{shown}: task file is {size}; a task file may have at most {MAX_TASK_FILE_BYTES:,} "
                                 "bytes (1 MiB; real ones are a few KB): is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise GroundingEvalError(f"{shown}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); a task file must be "
                                 "UTF-8 YAML") from exc


def _parse_file(path: Path, shown: str) -> _Loc:
    """Compose one YAML file into a provenance tree (no include resolution), within the bounds above."""
    loader = _BoundedLoader(_read_text(path, shown), shown)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise GroundingEvalError(f"{shown}{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise GroundingEvalError(f"{shown}: invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if node is None:
        return _Loc({}, shown, 1)
    try:
        tree = _from_node(node, _Walk(shown, yaml.SafeLoader("")), node.start_mark.line + 1)
    except yaml.MarkedYAMLError as exc:  # e.g. a bad !!tag or timestamp value
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise GroundingEvalError(f"{shown}{line}: invalid YAML: {exc.problem}") from exc
    if not isinstance(tree.value, dict):
        raise GroundingEvalError(f"{shown}:{tree.line}: a task file must be a mapping of keys to values")
    return tree


def _merge(base: _Loc, over: _Loc) -> _Loc:
    """Including file wins; mappings merge key by key, anything else (lists too) is replaced whole."""
    if isinstance(base.value, dict) and isinstance(over.value, dict):
        merged = dict(base.value)
        for k, v in over.value.items():
            merged[k] = _merge(merged[k], v) if k in merged else v
        return _Loc(merged, over.file, over.line)
    return over


def _resolve_file(path: Path, shown: str, stack: tuple[Path, ...]) -> _Loc:
    """Parse a file and merge its includes under it; `stack` holds the files being resolved (cycles)."""
    real = path.resolve()
    if real in stack:
        chain = " -> ".join(str(p) for p in (*stack, real))
        raise GroundingEvalError(f"{shown}: include cycle: {chain}")
    if len(stack) >= MAX_INCLUDE_DEPTH:
        raise GroundingEvalError(f"{shown}: included through more than {MAX_INCLUDE_DEPTH} files ({stack[0]} -> ... "
                                 f"-> {stack[-1]} -> {shown}); a task builds on a base or two")
    tree = _parse_file(path, shown)
    own: dict[str, _Loc] = dict(tree.value)
    inc = own.pop("include", None)
    if inc is None:
        return _Loc(own, shown, tree.line)
    names = inc.value if isinstance(inc.value, list) else [inc]
    base: _Loc | None = None
    for item in names:
        if not isinstance(item.value, str) or not item.value:
            raise _fail(item, shown, "include must be a file name or a list of file names, relative to this file")
        target = path.parent / item.value
        target_shown = str(Path(shown).parent / item.value)
        if not target.is_file():
            # A user's task file may build on a shipped or plugin task (`include: _audio_probe_base.yaml`).
            found = [d / item.value for d in include_search_dirs() if (d / item.value).is_file()]
            if not found:
                raise _fail(item, shown, f"include {item.value!r} not found (looked for {target_shown}, the shipped "
                                         "tasks and the plugins' task folders)")
            target, target_shown = found[0], str(found[0])
        sub = _resolve_file(target, target_shown, (*stack, real))
        base = sub if base is None else _merge(base, sub)  # later includes override earlier ones
    own_tree = _Loc(own, shown, tree.line)
    return own_tree if base is None else _merge(base, own_tree)


# --------------------------------------------------------------------------------------------------
# Mapping pydantic's errors back onto the file and line each value came from.


def _plain(value: Any) -> Any:
    if isinstance(value, _Loc):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _loc_of(tree: _Loc, loc: tuple) -> _Loc:
    """The deepest provenance node along `loc` (the parent mapping for a missing key)."""
    node = tree
    for part in loc:
        value = node.value
        if isinstance(value, dict) and part in value:
            node = value[part]
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            node = value[part]
        else:
            return node
    return node


def _message(model: type[TaskFile], err: dict[str, Any], tree: _Loc) -> str:
    """One pydantic error as `file:line: field must be what is valid, got value (type)`."""
    loc = tuple(err["loc"])
    node = _loc_of(tree, loc)
    if err["type"] == "extra_forbidden":
        return f"{node.where()}: {unknown_key(model, loc)}"
    if err["type"] == "missing":
        return f"{node.where()}: missing required field {dotted(loc)!r} ({type_name(field_at(model, loc)[0])})"
    if err["type"] == "json_value":
        sub = (*loc, *err["ctx"]["path"])
        value = err["ctx"]["value"]
        return (f"{_loc_of(tree, sub).where()}: {dotted(sub)}: unsupported value {value!r} ({type(value).__name__}); "
                "use a string, number, boolean, null, list or mapping")
    valid = "a mapping of arguments (or empty)" if len(loc) == 2 and loc[0] == "metrics" else expected(model, err)
    return f"{node.where()}: {dotted(loc)} must be {valid}, got {got(err['input'])}"


def _build(tree: _Loc) -> TaskFile:
    """Validate the provenance tree against its kind's model; the first problem in file order becomes the error."""
    kind = tree.value.get("kind")
    kind_name = DEFAULT_KIND if kind is None else _plain(kind)
    if not is_kind(kind_name):
        raise _fail(kind, kind.file, f"kind must be {' or '.join(all_kinds())}, got {got(kind_name)}")
    model = task_model(kind_name)
    if "kind" not in model.model_fields:  # a kind whose config has no kind field (the probe's: its hash predates kinds)
        tree = _Loc({k: v for k, v in tree.value.items() if k != "kind"}, tree.file, tree.line)
    try:
        return model.model_validate(_plain(tree))
    except ValidationError as exc:
        errors = exc.errors()

    def order(err: dict[str, Any]) -> tuple:
        return (err["type"] != "extra_forbidden", _loc_of(tree, tuple(err["loc"])).line or 0)

    raise GroundingEvalError(_message(model, min(errors, key=order), tree).replace("\n", " "))


# --------------------------------------------------------------------------------------------------
# Public entry points.


def load_task_file(path: str | Path, *, display: str | None = None) -> TaskFile:
    """Load, include-resolve and validate one task YAML file; `display` is how messages name it (default: path)."""
    tree = _resolve_file(Path(path), display or str(path), ())
    cfg = _build(tree)
    _note_renamed_args(tree)
    return cfg


_noted: set[str] = set()


def _note_renamed_args(tree: _Loc) -> None:
    """One line on stderr (once per place) for each old dataset-arg name a user's task file writes; the old
    name still works. Shipped and plugin task files keep theirs: the task hash covers the spelling."""
    dataset = tree.value.get("dataset")
    args = dataset.value.get("args") if dataset is not None and isinstance(dataset.value, dict) else None
    if args is None or not isinstance(args.value, dict):
        return
    for old, new in RENAMED_ARGS.items():
        node = args.value.get(old)
        if node is None or node.where() in _noted or _is_shipped(node.file):
            continue
        _noted.add(node.where())
        print(f"grounding-eval: note: {node.where()}: dataset.args.{old} is now called {new}; "
              f"write {new} (the old name still works)", file=sys.stderr)


def _is_shipped(file: str) -> bool:
    path = Path(file).resolve()
    return any(path.is_relative_to(d.resolve()) for d in include_search_dirs())


def task_from_dict(d: dict[str, Any], source: str = "<dict>") -> TaskFile:
    """Validate a config given as a dict (plugins, overrides) exactly as a file would be; `include` is not allowed."""
    if not isinstance(d, dict):
        raise GroundingEvalError(f"{source}: a task config must be a mapping, got {type(d).__name__}")
    if "include" in d:
        raise GroundingEvalError(f"{source}: 'include' works only in YAML files; register the file path instead")
    return _build(_from_plain(d, source))


def read_task_name(path: str | Path, *, display: str | None = None) -> str:
    """Just the `task:` name of a file (following includes), without validating the rest: cheap task discovery."""
    shown = display or str(path)
    tree = _resolve_file(Path(path), shown, ())
    name = tree.value.get("task")
    if name is None:
        raise _fail(tree, shown, "missing required field 'task' (a string)")
    if not isinstance(name.value, str) or not _TASK_NAME.fullmatch(name.value):
        raise _fail(name, name.file, f"task must be lowercase letters, digits and _ ([a-z0-9_]+), got {got(name.value)}")
    return name.value
