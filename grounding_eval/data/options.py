"""The options every clip dataset takes, declared once: `ClipOptions`, and `clip_builder` to give them.

Task files write them flat beside the builder's own args (`dataset.args: {root: ..., max_clips_per_class:
100}`), so `clip_builder` shows them to the registry's argument check as ordinary keyword parameters and
hands the builder one `ClipOptions`; `assemble` (clips.py) is the one place that applies them.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Annotated, Any, Callable, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Problem, Valid, validated

F = TypeVar("F", bound=Callable[..., Any])

# Old spelling -> the name every builder uses now. Still accepted; task files get a note (tasks/config.py).
RENAMED_ARGS = {"min_clips_per_concept": "min_clips_per_class"}


class ClipOptions(BaseModel):
    """Which clips of a listed dataset are used. Every field changes which clips a dataset keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    max_clips_per_class: Annotated[int | None, Field(ge=1), Valid("an integer >= 1, or null (no cap)")] = None
    """at most this many usable clips per class, drawn in an order fixed by `seed`; null keeps every clip"""
    seed: int = 0
    """the seed of the per-class draw (only used with max_clips_per_class)"""
    min_clips_per_class: Annotated[int, Field(ge=1), Valid("an integer >= 1")] = 1
    """a class with fewer usable clips is dropped (its clips listed as skipped, the class in dropped_classes)"""
    min_seconds: Annotated[float, Field(ge=0), Valid("a number >= 0")] = 0.0
    """shorter clips are skipped as "too short" (needs check_audio)"""
    silence_db: float | None = -60.0
    """clips whose peak stays below this many dBFS are skipped as "silent"; null keeps them (needs check_audio)"""
    check_audio: bool = True
    """decode every clip (unreadable, too short, silent); false: only missing, empty and extension checks"""


def clip_builder(builder: F | None = None, **defaults: Any) -> Any:
    """Give `builder` (which takes `clips: ClipOptions`) the clip options as flat keyword args in its place.

    `@clip_builder(check_audio=False)` changes a default for this builder. The old spellings in
    RENAMED_ARGS are accepted (a DeprecationWarning; task files get a one-line note when loaded).
    """
    if builder is None:
        return functools.partial(clip_builder, **defaults)
    unknown = set(defaults) - set(ClipOptions.model_fields)
    if unknown:
        raise TypeError(f"clip_builder: {sorted(unknown)} are not ClipOptions fields")
    sig = inspect.signature(builder)
    fields = ClipOptions.model_fields
    kind = sig.parameters["clips"].kind
    flat = [inspect.Parameter(name, kind, default=defaults.get(name, f.default),
                              annotation=Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)
            for name, f in fields.items()]
    old = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=fields[new].annotation | None) for name, new in RENAMED_ARGS.items()]
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        params.extend(flat if p.name == "clips" else [p])
    visible = sig.replace(parameters=params + old)

    @functools.wraps(builder)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = visible.bind(*args, **kwargs).arguments
        for name, new in RENAMED_ARGS.items():
            if name in given:
                value = given.pop(name)
                if new in given:
                    raise GroundingEvalError(f"{builder.__name__}: give {new} or its old name {name}, not both")
                warnings.warn(f"{name} is now called {new}", DeprecationWarning, stacklevel=2)
                given[new] = value
        clip_args = {**defaults, **{k: given.pop(k) for k in list(given) if k in fields}}
        clips = validated(ClipOptions, clip_args, lambda p: _message(builder.__name__, p))
        return builder(**given, clips=clips)

    wrapper.__signature__ = visible  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in visible.parameters.values()
                               if p.annotation is not inspect.Parameter.empty}
    return wrapper


def _message(builder: str, p: Problem) -> str:
    return f"{builder}: {p.field} must be {p.valid}, got {p.value!r}"
