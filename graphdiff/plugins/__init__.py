"""The plugin system: pluggy hooks, entry-point discovery, registries."""

from graphdiff.plugins.hookspecs import hookimpl, hookspec
from graphdiff.plugins.manager import (
    PluginInfo,
    PluginManager,
    get_manager,
    reset_manager,
)

__all__ = ["hookimpl", "hookspec", "PluginInfo", "PluginManager", "get_manager", "reset_manager"]
