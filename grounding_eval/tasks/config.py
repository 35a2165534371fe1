"""The task schema and its strict YAML loader.

A task is one YAML file. Loading is strict on purpose: a typo in a key would otherwise silently fall back to
a default and change the numbers, so every unknown key, wrong type or out-of-range value is an error that
names the file, the line and what would be valid. Line numbers survive `include:` merging because every
value carries its (file, line) provenance until it is checked.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from grounding_eval.errors import GroundingEvalError
from grounding_eval.tasks.locations import include_search_dirs

__all__ = [
    "DatasetConfig",
    "EncoderConfig",
    "SplitConfig",
    "ProcrustesConfig",
    "StatisticsConfig",
    "ProbeConfig",
    "TaskConfig",
    "load_task_file",
    "task_from_dict",
    "read_task_name",
]

_TASK_NAME = re.compile(r"[a-z0-9_]+")
_OPTIMIZERS = ("adam", "adamw", "sgd")
_NEGATIVES = ("all_train", "in_batch")
_FIT_ON = ("instances", "concept_means")
_PROCRUSTES_REDUCE = ("pca", "zero_pad")
_BOOTSTRAP_UNITS = ("runs", "runs_and_clips")
_PAIRED_TESTS = ("sign_flip", "t_test")
_SPLIT_UNITS = ("concept",)
_YAML12_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _check(test: Callable[[Any], bool], valid: str) -> dict[str, Any]:
    """Field metadata: a range/value test and the words that say what would pass it."""
    return {"check": test, "valid": valid}


def _templates_ok(templates: list[str]) -> bool:
    if not templates:
        return False
    for t in templates:
        try:
            # format() with only `concept` also catches stray placeholders like "{sound}" before a run does.
            t.format(concept="x")
        except (KeyError, IndexError, ValueError):
            return False
        if "{concept}" not in t:
            return False
    return True


@dataclass(frozen=True)
class DatasetConfig:
    """Which dataset builder makes the concepts and instances, and its arguments."""

    # registered dataset builder name (see `grounding-eval datasets`)
    name: str = field(metadata=_check(bool, "a non-empty dataset name"))
    # keyword arguments for the builder; empty because builders must have working defaults
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EncoderConfig:
    """Which perception encoder (audio backbone, colour space, ...) embeds the instances, and its options."""

    # registered perception encoder name
    name: str = field(metadata=_check(bool, "a non-empty encoder name"))
    # options for the encoder factory; empty because factories must have working defaults
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitConfig:
    """How concepts are divided between fitting the probe and testing it."""

    # share of concepts that train the probe; 0.7 leaves enough unseen concepts to rank against
    train_fraction: float = field(default=0.7, metadata=_check(lambda x: 0 < x < 1, "a number strictly between 0 and 1"))
    # what is split; only "concept", because splitting instances would let the probe memorise test concepts
    unit: str = field(default="concept", metadata=_check(lambda x: x in _SPLIT_UNITS, "one of: concept"))


@dataclass(frozen=True)
class ProbeConfig:
    """The linear probe that maps text and perception embeddings into a shared space."""

    # size of the shared space; 128 is small enough that the probe cannot memorise a few hundred concepts
    projection_dim: int = field(default=128, metadata=_check(lambda x: x >= 1, "an integer >= 1"))
    # softmax temperature of the contrastive loss; 0.1 is the usual CLIP-style value for unit vectors
    temperature: float = field(default=0.1, metadata=_check(lambda x: x > 0, "a number > 0"))
    # learn the temperature too; off so runs differ only in the projection weights
    learn_temperature: bool = False
    # optimiser; adam converges on this small convex-ish problem without tuning
    optimizer: str = field(default="adam", metadata=_check(lambda x: x in _OPTIMIZERS, "one of: adam, adamw, sgd"))
    # step size; 1e-2 with 20 steps: a short schedule of large steps generalised better than 200 steps
    # at 1e-3, which memorised the training concepts (tasks/_audio_probe_base.yaml has the numbers)
    learning_rate: float = field(default=1e-2, metadata=_check(lambda x: x > 0, "a number > 0"))
    # L2 penalty; none by default because the low projection_dim already limits capacity
    weight_decay: float = field(default=0.0, metadata=_check(lambda x: x >= 0, "a number >= 0"))
    # full passes over the training pairs (= optimiser steps with full batches); see learning_rate
    epochs: int = field(default=20, metadata=_check(lambda x: x >= 1, "an integer >= 1"))
    # pairs per step; None = full batch, since the data fit in memory and full batch is deterministic
    batch_size: int | None = field(default=None, metadata=_check(lambda x: x >= 1, "null (full batch) or an integer >= 1"))
    # part of the TRAIN concepts held out for early stopping; 0 = none, so no concept is wasted by default
    val_fraction: float = field(default=0.0, metadata=_check(lambda x: 0 <= x < 1, "a number >= 0 and < 1"))
    # epochs without validation improvement before stopping; 20 tolerates noise (used only if val_fraction > 0)
    patience: int = field(default=20, metadata=_check(lambda x: x >= 1, "an integer >= 1"))
    # z-score each input feature with the fitting rows' mean and std; backbones differ by orders of
    # magnitude in scale, and without it the learning rate would have to be tuned per backbone
    standardize: bool = True
    # N(c), the classes each clip is contrasted with: "all_train" = every training class (the softmax
    # over the whole training vocabulary, the closest reading of the paper's sum over c'); "in_batch" =
    # only the classes present in the current batch (CLIP-style; differs only when batch_size is set)
    negatives: str = field(default="all_train", metadata=_check(lambda x: x in _NEGATIVES, "one of: all_train, in_batch"))
    # what stands for a concept while training: "instances" = every training instance (clip) is a term
    # of the loss; "concept_means" = the mean of each training concept's instances is one term (the
    # paper's sum over classes c read literally; training cost no longer grows with the clip count).
    # Testing always scores each instance
    fit_on: str = field(default="instances", metadata=_check(lambda x: x in _FIT_ON, "one of: instances, concept_means"))
    # rows per forward/backward chunk of a FULL-batch step (memory only: the gradient is accumulated, so
    # the numbers do not change beyond float rounding); null = all rows at once
    chunk_size: int | None = field(default=None, metadata=_check(lambda x: x >= 1, "null (all rows) or an integer >= 1"))


@dataclass(frozen=True)
class ProcrustesConfig:
    """The closed-form baseline: an orthogonal map between class-mean text and perception embeddings."""

    # how both sides reach a common dimension before the orthogonal map: "pca" fits a PCA per side on the
    # training classes; "zero_pad" pads the smaller side with zeros (keeps every direction, but an
    # orthogonal map between spaces of very different size is then mostly unconstrained)
    reduce: str = field(default="pca", metadata=_check(lambda x: x in _PROCRUSTES_REDUCE, "one of: pca, zero_pad"))
    # common dimension for "pca"; null = min(d_text, d_perception, n_train_classes - 1), the largest
    # dimension the centred training class means can fill on both sides
    dim: int | None = field(default=None, metadata=_check(lambda x: x >= 1, "null (automatic) or an integer >= 1"))


@dataclass(frozen=True)
class StatisticsConfig:
    """Uncertainty beyond the mean and standard error over runs."""

    # bootstrap resamples; 2000 keeps the 2.5/97.5 percentiles stable to about 0.1 point
    bootstrap_resamples: int = field(default=2000, metadata=_check(lambda x: x >= 100, "an integer >= 100"))
    # what is resampled: "runs_and_clips" = runs with replacement, then the test clips within each
    # chosen run (both the split and the clip sample vary); "runs" = runs only (any metric)
    bootstrap_unit: str = field(default="runs_and_clips", metadata=_check(lambda x: x in _BOOTSTRAP_UNITS, "one of: runs, runs_and_clips"))
    # two-sided confidence level of the interval
    confidence: float = field(default=0.95, metadata=_check(lambda x: 0 < x < 1, "a number strictly between 0 and 1"))
    # the paired test of the probe against each control over the same splits, one-sided (probe better):
    # "sign_flip" = exact permutation test on the per-run differences (no normality assumption);
    # "t_test" = paired t-test. Both are always reported; this one is the headline p-value
    paired_test: str = field(default="sign_flip", metadata=_check(lambda x: x in _PAIRED_TESTS, "one of: sign_flip, t_test"))


@dataclass(frozen=True, kw_only=True)  # kw_only: required fields can follow defaulted ones in schema order
class TaskConfig:
    """One evaluation task, fully resolved (includes merged, defaults filled in)."""

    # the task name users type; lowercase so names are stable across filesystems and shells
    task: str = field(metadata=_check(lambda x: bool(_TASK_NAME.fullmatch(x)), "lowercase letters, digits and _ ([a-z0-9_]+)"))
    # bump when anything that changes numbers changes, so old results are never compared with new ones
    version: int = field(metadata=_check(lambda x: x >= 0, "an integer >= 0"))
    # one line for `grounding-eval tasks`; optional because the name often says enough
    description: str = ""
    # where the concepts and instances come from
    dataset: DatasetConfig
    # prompts for each concept; several are averaged, one is the plain baseline wording
    prompt_templates: list[str] = field(
        default_factory=lambda: ["the sound of {concept}"],
        metadata=_check(_templates_ok, 'a non-empty list of strings, each containing "{concept}" and no other {placeholder}'),
    )
    # what embeds the instances; aisfx because it is the offline default audio backbone
    perception_encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(name="aisfx"))
    # how concepts are divided; defaults are the protocol's
    split: SplitConfig = field(default_factory=SplitConfig)
    # the probe's training; defaults are the protocol's
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    # metric name -> its arguments; accuracy@k and MRR are the paper's retrieval measures
    metrics: dict[str, dict] = field(
        default_factory=lambda: {"accuracy_at_k": {"k": [1, 3, 5]}, "mrr": {}},
        metadata=_check(bool, "a non-empty mapping of metric name -> arguments"),
    )
    # the number reported first and ranked on; accuracy@3 is the paper's headline figure
    main_metric: str = field(default="accuracy@3", metadata=_check(bool, "a non-empty metric key such as accuracy@3"))
    # control conditions run alongside; permuted_text shows what a probe gets from structure alone
    controls: list[str] = field(default_factory=lambda: ["permuted_text"])
    # the closed-form Procrustes baseline (runs when "procrustes" is among the controls)
    procrustes: ProcrustesConfig = field(default_factory=ProcrustesConfig)
    # bootstrap interval and paired test
    statistics: StatisticsConfig = field(default_factory=StatisticsConfig)
    # repeats with different splits/seeds; 5 gives a usable spread without long runs
    num_runs: int = field(default=5, metadata=_check(lambda x: x >= 1, "an integer >= 1"))
    # base seed; runs use seed, seed+1, ...; 0 so a bare run is reproducible
    seed: int = field(default=0, metadata=_check(lambda x: x >= 0, "an integer >= 0"))
    # cap on instances per concept; None = all, since subsampling changes the numbers
    max_instances_per_concept: int | None = field(
        default=None, metadata=_check(lambda x: x >= 1, "null (all) or an integer >= 1")
    )

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain JSON-able data."""
        return dataclasses.asdict(self)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of to_dict(): identifies the resolved config, whatever the file layout."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def with_overrides(self, **changes: Any) -> TaskConfig:
        """A new, re-validated config with fields replaced; dotted names reach nested ones.

        `cfg.with_overrides(num_runs=1, **{"probe.epochs": 3})`. Nested dataclass values may be given as
        dataclass instances or dicts (a dict replaces that whole sub-config, missing keys taking defaults).
        """
        data = self.to_dict()
        for dotted, value in changes.items():
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            parts = dotted.split(".")
            target = data
            for i, part in enumerate(parts[:-1]):
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    where = ".".join(parts[: i + 1])
                    raise GroundingEvalError(f"override {dotted!r}: {where!r} is not a nested section of the task config")
                target = nxt
            target[parts[-1]] = value
        return task_from_dict(data, source=f"<overrides of task {self.task}>")


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


def _from_node(node: yaml.Node, file: str, constructor: yaml.constructor.SafeConstructor) -> _Loc:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Loc] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            kline = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise GroundingEvalError(f"{file}:{kline}: keys must be strings, got {key!r}")
            if key in out:
                # YAML keeps the last silently; in a task file that is almost always a mistake.
                raise GroundingEvalError(f"{file}:{kline}: duplicate key {key!r} (first at line {out[key].line})")
            child = _from_node(value_node, file, constructor)
            # Errors about an entry point at its key, which is where the user will look.
            child.line = kline
            out[key] = child
        return _Loc(out, file, line)
    if isinstance(node, yaml.SequenceNode):
        return _Loc([_from_node(n, file, constructor) for n in node.value], file, line)
    return _Loc(constructor.construct_object(node, deep=True), file, line)


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


def _parse_file(path: Path, shown: str) -> _Loc:
    """Compose one YAML file into a provenance tree (no include resolution)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GroundingEvalError(f"{shown}: cannot read task file: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise GroundingEvalError(f"{shown}{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise GroundingEvalError(f"{shown}: invalid YAML: {exc}") from exc
    if node is None:
        return _Loc({}, shown, 1)
    try:
        tree = _from_node(node, shown, yaml.SafeLoader(""))
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
# Checking the tree against the dataclasses.


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"a list of {_type_name(item).removeprefix('a ').removeprefix('an ')}s" if item is not Any else "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _got(value: Any) -> str:
    shown = repr(_plain(value))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(_plain(value)).__name__})"


def _plain(value: Any) -> Any:
    if isinstance(value, _Loc):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json_value(loc: _Loc, dotted: str) -> Any:
    """Free-form values (args mappings) must still be JSON-able so the content hash is well defined."""
    v = loc.value
    if isinstance(v, dict):
        return {k: _json_value(c, f"{dotted}.{k}") for k, c in v.items()}
    if isinstance(v, list):
        return [_json_value(c, f"{dotted}[{i}]") for i, c in enumerate(v)]
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    raise _fail(loc, loc.file, f"{dotted}: unsupported value {v!r} ({type(v).__name__}); use a string, number, boolean, null, list or mapping")


def _convert(loc: _Loc, tp: Any, dotted: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    v = loc.value

    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        if v is None:
            raise _fail(loc, loc.file, f"{dotted} must be {_type_name(inner)}, got null")
        try:
            return _convert(loc, inner, dotted)
        except GroundingEvalError as exc:
            # Say that null was an option too, which the inner type's message cannot know.
            msg = str(exc)
            if type(None) in args and f"{dotted} must be " in msg:
                msg = msg.replace(f"{dotted} must be ", f"{dotted} must be null or ", 1)
            raise GroundingEvalError(msg) from exc
    if tp is Any:
        return _json_value(loc, dotted)
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, dict):
            raise _fail(loc, loc.file, f"{dotted} must be a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}, got {_got(v)}")
        return _build(tp, loc, dotted)
    if tp is bool:
        if not isinstance(v, bool):
            raise _fail(loc, loc.file, f"{dotted} must be true or false, got {_got(v)}")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail(loc, loc.file, f"{dotted} must be an integer, got {_got(v)}")
        return v
    if tp is float:
        if isinstance(v, str) and _YAML12_FLOAT.fullmatch(v.strip()):
            v = float(v)  # PyYAML (YAML 1.1) reads 1e-3 as a string; YAML 1.2 and users mean a number
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _fail(loc, loc.file, f"{dotted} must be a number, got {_got(v)}")
        return float(v)  # 1 and 1.0 must hash the same
    if tp is str:
        if not isinstance(v, str):
            raise _fail(loc, loc.file, f"{dotted} must be a string, got {_got(v)}")
        return v
    if origin is list:
        (item_tp,) = args or (Any,)
        if not isinstance(v, list):
            raise _fail(loc, loc.file, f"{dotted} must be {_type_name(tp)}, got {_got(v)}")
        return [_convert(c, item_tp, f"{dotted}[{i}]") for i, c in enumerate(v)]
    if origin is dict or tp is dict:
        key_tp, val_tp = args or (str, Any)
        if not isinstance(v, dict):
            raise _fail(loc, loc.file, f"{dotted} must be a mapping, got {_got(v)}")
        out = {}
        for k, c in v.items():
            if val_tp is dict and c.value is None:
                out[k] = {}  # `mrr:` with nothing after it means "no arguments"
            elif val_tp is dict:
                if not isinstance(c.value, dict):
                    raise _fail(c, c.file, f"{dotted}.{k} must be a mapping of arguments (or empty), got {_got(c.value)}")
                out[k] = _json_value(c, f"{dotted}.{k}")
            else:
                out[k] = _convert(c, val_tp, f"{dotted}.{k}")
        return out
    raise TypeError(f"task schema uses an unsupported type {tp!r} at {dotted}")  # a bug in this module


def _build(cls: type, loc: _Loc, prefix: str) -> Any:
    """Check a mapping against dataclass `cls`: no unknown keys, right types, valid ranges, required present."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    given: dict[str, _Loc] = loc.value
    where_in = f"in {prefix}" if prefix else "at the top level"
    for key, child in given.items():
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise _fail(child, loc.file, f"unknown key {key!r} {where_in}; {hint}valid: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name not in given:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _fail(loc, loc.file, f"missing required field {dotted!r} ({_type_name(hints[name])})")
            continue
        child = given[name]
        value = _convert(child, hints[name], dotted)
        check = f.metadata.get("check")
        if check is not None and value is not None and not check(value):
            raise _fail(child, child.file, f"{dotted} must be {f.metadata['valid']}, got {_got(value)}")
        kwargs[name] = value
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------------
# Public entry points.


def _build_task(tree: _Loc) -> Any:
    """A probe task, or (`kind: generative`) a generative one (grounding_eval/generative/config.py)."""
    kind = tree.value.get("kind")
    if kind is not None and kind.value == "generative":
        from grounding_eval.generative.config import GenerativeTaskConfig

        return _build(GenerativeTaskConfig, tree, "")
    if kind is not None and kind.value != "probe":
        raise _fail(kind, kind.file, f"kind must be probe or generative, got {_got(kind.value)}")
    tree = _Loc({k: v for k, v in tree.value.items() if k != "kind"}, tree.file, tree.line)
    return _build(TaskConfig, tree, "")


def load_task_file(path: str | Path, *, display: str | None = None) -> TaskConfig:
    """Load, include-resolve and validate one task YAML file; `display` is how messages name it (default: path)."""
    return _build_task(_resolve_file(Path(path), display or str(path), ()))


def task_from_dict(d: dict[str, Any], source: str = "<dict>") -> TaskConfig:
    """Validate a config given as a dict (plugins, overrides) exactly as a file would be; `include` is not allowed."""
    if not isinstance(d, dict):
        raise GroundingEvalError(f"{source}: a task config must be a mapping, got {type(d).__name__}")
    if "include" in d:
        raise GroundingEvalError(f"{source}: 'include' works only in YAML files; register the file path instead")
    return _build_task(_from_plain(d, source))


def read_task_name(path: str | Path, *, display: str | None = None) -> str:
    """Just the `task:` name of a file (following includes), without validating the rest: cheap task discovery."""
    shown = display or str(path)
    tree = _resolve_file(Path(path), shown, ())
    name = tree.value.get("task")
    if name is None:
        raise _fail(tree, shown, "missing required field 'task' (a string)")
    if not isinstance(name.value, str) or not _TASK_NAME.fullmatch(name.value):
        raise _fail(name, name.file, f"task must be lowercase letters, digits and _ ([a-z0-9_]+), got {_got(name.value)}")
    return name.value
