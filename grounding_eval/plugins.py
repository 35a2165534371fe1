"""The plugin manager: built-ins first, as ordinary plugins, then the `grounding_eval` entry points.

Tests (and cautious users) can set GROUNDING_EVAL_PLUGINS to a comma-separated allowlist of
entry-point names, or to an empty string to load none, so installed third-party plugins cannot leak in.
"""

from __future__ import annotations

import importlib.metadata as md
import os
from dataclasses import dataclass
from typing import Any

import pluggy

from grounding_eval import __version__, hookspecs
from grounding_eval.errors import GroundingEvalError
from grounding_eval.registry import Registry

BUILTIN_PLUGINS = (
    "grounding_eval.builtin.text_encoders",
    "grounding_eval.builtin.perception_encoders",
    "grounding_eval.builtin.datasets",
    "grounding_eval.builtin.metrics",
    "grounding_eval.builtin.generative",
)


@dataclass
class Registries:
    """Everything the plugins registered, one typed registry per hook."""

    tasks: list[Any]
    text_encoders: Registry
    perception_encoders: Registry
    datasets: Registry
    metrics: Registry
    generators: Registry
    executors: Registry
    scorers: Registry
    kinds: list[Any]  # kinds.TaskKind rows a plugin adds beside the built-in kinds


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allow = os.environ.get("GROUNDING_EVAL_PLUGINS")
    allowed = None if allow is None else {a.strip() for a in allow.split(",") if a.strip()}
    for ep in md.entry_points(group=hookspecs.PROJECT):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take the whole CLI down silently
            raise GroundingEvalError(
                f"plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}; "
                f"reinstall it or uninstall its package"
            ) from exc
        pm.register(plugin, name=ep.name)
        dist = getattr(ep, "dist", None)
        if dist is not None:
            _DISTS[ep.name] = (dist.metadata["Name"], dist.version)


_DISTS: dict[str, tuple[str, str]] = {}
_pm: pluggy.PluginManager | None = None
_registries: Registries | None = None
_extra_plugins: list[Any] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _pm
    if _pm is None:
        import importlib

        pm = _new_manager()
        for modname in BUILTIN_PLUGINS:
            pm.register(importlib.import_module(modname), name=modname)
        _load_entry_points(pm)
        for plugin in _extra_plugins:
            pm.register(plugin)
        try:
            pm.check_pending()  # an implementation of a hook that does not exist is an error, not a no-op
        except pluggy.PluginValidationError as exc:
            raise GroundingEvalError(f"{exc}; valid hooks: {', '.join(_hook_names())}") from exc
        _pm = pm
    return _pm


def _hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("register_"))


def register_plugin(plugin: Any) -> None:
    """Register a plugin object at run time (tests, notebooks); resets the registries."""
    global _registries
    if plugin in _extra_plugins:
        return
    _extra_plugins.append(plugin)
    if _pm is not None:
        _pm.register(plugin)
        try:
            _pm.check_pending()
        except pluggy.PluginValidationError as exc:
            _pm.unregister(plugin)
            _extra_plugins.remove(plugin)
            raise GroundingEvalError(f"{exc}; valid hooks: {', '.join(_hook_names())}") from exc
    _registries = None


def unregister_plugin(plugin: Any) -> None:
    global _registries
    if plugin in _extra_plugins:
        _extra_plugins.remove(plugin)
    if _pm is not None and _pm.is_registered(plugin):
        _pm.unregister(plugin)
    _registries = None


def reset() -> None:
    """Forget the manager and registries (tests)."""
    global _pm, _registries
    _pm = None
    _registries = None
    _extra_plugins.clear()


def _plugin_name(pm: pluggy.PluginManager, impl: pluggy.HookImpl) -> str:
    return pm.get_name(impl.plugin) or repr(impl.plugin)


def registries() -> Registries:
    """Call every hook once and collect what the plugins registered."""
    global _registries
    if _registries is not None:
        return _registries
    pm = get_plugin_manager()
    regs = Registries(
        tasks=[],
        text_encoders=Registry("text encoder kind", "install the plugin that provides it (grounding-eval plugins)"),
        perception_encoders=Registry(
            "audio backbone / perception encoder",
            "install the plugin that provides it and list them with 'grounding-eval plugins'",
        ),
        datasets=Registry("dataset", "list them with 'grounding-eval datasets'"),
        metrics=Registry("metric", "list them with 'grounding-eval plugins'"),
        generators=Registry("generator", "list them with 'grounding-eval plugins'"),
        executors=Registry("executor", "list them with 'grounding-eval plugins'"),
        scorers=Registry("scorer", "list them with 'grounding-eval plugins'"),
        kinds=[],
    )

    def collect(hook_name: str, adder):
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            name = _plugin_name(pm, impl)
            impl.function(register=lambda *a, _n=name, **k: adder(_n, *a, **k))

    collect("register_tasks", lambda plugin, cfg: regs.tasks.append((plugin, cfg)))
    collect("register_text_encoders", lambda plugin, n, f, **k: regs.text_encoders.add(n, f, plugin=plugin, **k))
    collect(
        "register_perception_encoders",
        lambda plugin, n, f, **k: regs.perception_encoders.add(n, f, plugin=plugin, **k),
    )
    collect("register_datasets", lambda plugin, n, f, **k: regs.datasets.add(n, f, plugin=plugin, **k))
    collect(
        "register_metrics",
        lambda plugin, n, compute, chance, **k: regs.metrics.add(n, compute, plugin=plugin, chance=chance, **k),
    )
    collect("register_generators", lambda plugin, n, f, **k: regs.generators.add(n, f, plugin=plugin, **k))
    collect("register_executors", lambda plugin, n, f, **k: regs.executors.add(n, f, plugin=plugin, **k))
    collect("register_scorers", lambda plugin, n, f, **k: regs.scorers.add(n, f, plugin=plugin, **k))
    collect("register_kinds", lambda plugin, kind: regs.kinds.append(kind))
    _registries = regs
    return regs


def plugin_table() -> list[dict[str, str]]:
    """One row per registered plugin: name, distribution, version, hooks it implements."""
    pm = get_plugin_manager()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        dist, version = _DISTS.get(name, ("grounding-eval" if name.startswith("grounding_eval.") else "", ""))
        if not version and dist == "grounding-eval":
            version = __version__
        rows.append({"name": name, "distribution": dist or "(runtime)", "version": version or "-", "hooks": ", ".join(hooks)})
    return rows
