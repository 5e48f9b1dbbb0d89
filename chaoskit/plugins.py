"""Builds a plugin manager per run: built-ins first, then the ``chaoskit`` entry-point group.

There is no module-level manager: every call to :func:`plugin_manager` gives a fresh one, so in-memory runs
(tests, the pytest plugin, game days) never see each other's plugins.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from chaoskit import hookspecs
from chaoskit.errors import PluginError
from chaoskit.registry import Registry

PROJECT = "chaoskit"
ENTRY_POINT_GROUP = "chaoskit"
hookimpl = pluggy.HookimplMarker(PROJECT)

REGISTRY_HOOKS = (
    "chaoskit_register_faults",
    "chaoskit_register_probes",
    "chaoskit_register_load_generators",
    "chaoskit_register_reporters",
)
BUILTINS: tuple[str, ...] = (
    "chaoskit.faults.container",
    "chaoskit.faults.network",
    "chaoskit.faults.noop",
    "chaoskit.faults.process",
    "chaoskit.faults.stress",
    "chaoskit.history.plugin",
    "chaoskit.load.plugin",
    "chaoskit.probes.builtin",
    "chaoskit.report.builtin",
)


@dataclass
class Plugins:
    """A plugin manager with its filled registry."""

    manager: pluggy.PluginManager
    registry: Registry

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def names(self) -> list[tuple[str, str]]:
        """(plugin name, where it comes from) for every registered plugin."""
        out = []
        for name, plugin in self.manager.list_name_plugin():
            where = getattr(plugin, "__file__", None) or type(plugin).__module__
            out.append((name, str(where)))
        return out


def plugin_manager(
    *, extra: Iterable[object] = (), entry_points_enabled: bool = True, builtins: Iterable[str] = BUILTINS
) -> Plugins:
    """A new plugin manager with built-ins, entry-point plugins and ``extra`` plugin objects registered."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in builtins:
        pm.register(importlib.import_module(module_name), name=module_name)
    if entry_points_enabled:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}", plugin=ep.name) from exc
            if pm.is_registered(plugin) or pm.has_plugin(ep.name):
                continue
            pm.register(plugin, name=ep.name)
    for plugin in extra:
        pm.register(plugin)
    registry = Registry()
    for hook_name in REGISTRY_HOOKS:
        # Called implementation by implementation, so a duplicate or broken kind names the plugin behind it.
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            registry.current_plugin = impl.plugin_name
            try:
                impl.function(register=registry)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}", plugin=impl.plugin_name
                ) from exc
    registry.current_plugin = "chaoskit"
    return Plugins(pm, registry)
