"""Plugin manager: built-ins and entry-point plugins fill one registry per extension kind.

Loading order: the core's built-ins (module :mod:`graphdiff.builtins`, registered through the
same hooks as any plugin), then every entry point of the ``graphdiff`` group, sorted by name.

Isolation: a plugin that fails to import, has a hook with a wrong signature, raises inside a
hook, or registers a name that is taken is reported (its :attr:`PluginInfo.errors`, with the
traceback in :attr:`PluginInfo.tracebacks`, and :attr:`PluginManager.errors`) and the other
plugins still load. A hook that raises keeps nothing: what it registered before raising is
rolled back. In strict mode (``strict=True`` or ``GRAPHDIFF_STRICT_PLUGINS=1``) the first problem
raises :class:`~graphdiff.errors.PluginError` instead.

Names registered twice (one rule, whatever the order in which plugins load):

- a name the core registers belongs to the core: a plugin registering it is refused and
  reported, and the built-in stays;
- a name two (or more) plugins register belongs to none of them: it is left unregistered
  (*ambiguous*), both plugins are reported, and a look-up raises
  :class:`~graphdiff.errors.AmbiguousNameError` naming every plugin that claims it. Uninstalling
  one of them, or loading only one through ``GRAPHDIFF_PLUGINS``, settles it;
- a plugin registering one name twice keeps its first registration, and the second is reported.

Loading imports only the plugins' entry-point modules and runs their hooks: what a plugin
registers by location (``"module:attribute"``, :mod:`graphdiff.registry`) is imported when it is
first used, and a failure then raises :class:`~graphdiff.errors.LazyLoadError` naming the
plugin; :meth:`PluginManager.check` imports everything up front (``graphdiff plugins --check``).

Environment:

``GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD=1``
    Skip entry-point discovery; only built-ins load.
``GRAPHDIFF_PLUGINS=a,b``
    Load only the entry points named ``a`` and ``b`` (built-ins always load).
"""

from __future__ import annotations

import importlib
import os
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Callable, Iterable

import pluggy

from graphdiff.errors import DuplicateNameError, LazyLoadError, PluginError
from graphdiff.plugins import hookspecs
from graphdiff.registry import KINDS, Registry

ENTRY_POINT_GROUP = "graphdiff"
DISABLE_ENV = "GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_ENV = "GRAPHDIFF_PLUGINS"
STRICT_ENV = "GRAPHDIFF_STRICT_PLUGINS"
BUILTIN_NAME = "graphdiff"

__all__ = ["PluginInfo", "PluginManager", "get_manager", "reset_manager", "ENTRY_POINT_GROUP"]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class PluginInfo:
    """What one plugin is and what it registered."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool = False
    registered: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: ``{error: traceback text}`` for the errors an exception caused (an import, a hook).
    tracebacks: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        if self.builtin:
            return "graphdiff (built-in)"
        dist = f"{self.distribution} {self.version}" if self.distribution else "no distribution"
        return f"plugin {self.name!r} ({dist}, entry point {self.name} = {self.module})"

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self, tracebacks: bool = False) -> dict[str, Any]:
        """What ``graphdiff plugins --json`` prints; ``tracebacks=True`` (``--debug``) adds
        ``{error: traceback}`` for the errors an exception caused."""
        out = {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "registered": {k: sorted(v) for k, v in self.registered.items() if v},
            "errors": list(self.errors),
        }
        if tracebacks:
            out["tracebacks"] = {e: t for e, t in self.tracebacks.items() if e in self.errors}
        return out


def _checks() -> dict[str, Callable[[str, Any], None]]:
    """Validators that reject objects of the wrong type at registration time."""

    def instance_of(qualname: str) -> Callable[[str, Any], None]:
        def check(name: str, obj: Any) -> None:
            mod, cls = qualname.rsplit(".", 1)
            typ = getattr(importlib.import_module(mod), cls)
            if not isinstance(obj, typ):
                raise TypeError(f"{name!r} must be an instance of {qualname}, got {type(obj).__name__}")

        return check

    def subclass_of(qualname: str) -> Callable[[str, Any], None]:
        def check(name: str, obj: Any) -> None:
            mod, cls = qualname.rsplit(".", 1)
            typ = getattr(importlib.import_module(mod), cls)
            if not (isinstance(obj, type) and issubclass(obj, typ)):
                raise TypeError(f"{name!r} must be a subclass of {qualname}, got {obj!r}")

        return check

    def is_callable(name: str, obj: Any) -> None:
        if not callable(obj):
            raise TypeError(f"{name!r} must be callable, got {type(obj).__name__}")

    return {
        "domains": instance_of("graphdiff.domain.Domain"),
        "targets": instance_of("graphdiff.targets.Target"),
        "metrics": is_callable,
        "schedules": subclass_of("graphdiff.schedules.NoiseSchedule"),
        "processes": subclass_of("graphdiff.processes.base.Process"),
        "encoders": subclass_of("torch.nn.Module"),
        "denoisers": subclass_of("graphdiff.nn.base.Denoiser"),
        "objectives": is_callable,
        "checkpoints": instance_of("graphdiff.checkpoints.NamedCheckpoint"),
        "baselines": is_callable,
        "commands": instance_of("click.Command"),
        "references": instance_of("graphdiff.references.Reference"),
        "features": is_callable,
        "constraints": instance_of("graphdiff.constraints.EdgeConstraint"),
        "extras": instance_of("graphdiff.extras.Extra"),
        "lattices": instance_of("graphdiff.lattices.LatticeCodec"),
    }


class PluginManager:
    """Discovers plugins and owns one :class:`~graphdiff.registry.Registry` per kind.

    Parameters
    ----------
    autoload:
        Discover entry points (default: unless ``GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD`` is set).
    allow:
        Entry-point names to load (default: ``GRAPHDIFF_PLUGINS`` if set, else all).
    strict:
        Raise on the first plugin problem (default: ``GRAPHDIFF_STRICT_PLUGINS``).
    builtins:
        Register the core's built-ins (turn off only in tests of the manager itself).
    """

    def __init__(
        self,
        *,
        autoload: bool | None = None,
        allow: Iterable[str] | None = None,
        strict: bool | None = None,
        builtins: bool = True,
    ) -> None:
        env_allow = os.environ.get(ALLOW_ENV)
        self.autoload = not _truthy(os.environ.get(DISABLE_ENV)) if autoload is None else autoload
        if allow is None and env_allow:
            allow = [a.strip() for a in env_allow.split(",") if a.strip()]
        self.allow = set(allow) if allow is not None else None
        self.strict = _truthy(os.environ.get(STRICT_ENV)) if strict is None else strict
        self._pm = pluggy.PluginManager("graphdiff")
        self._pm.add_hookspecs(hookspecs)
        checks = _checks()
        self.registries: dict[str, Registry[Any]] = {k: Registry(k, checks[k]) for k in KINDS}
        self.plugins: dict[str, PluginInfo] = {}
        self._order: list[str] = []
        self._loaded = False
        self._in_hooks = False  # registration hooks are running (see get_manager)
        self._builtins = builtins

    # ------------------------------------------------------------------ errors
    @property
    def errors(self) -> list[str]:
        return [f"{p.origin}: {e}" for p in self.plugins.values() for e in p.errors]

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        info.errors.append(message)
        if exc is not None:
            info.tracebacks[message] = "".join(traceback.format_exception(exc))
        if self.strict:
            raise PluginError(f"{info.origin}: {message}") from exc
        warnings.warn(f"graphdiff: {info.origin}: {message}", RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------ loading
    def load(self) -> "PluginManager":
        """Register built-ins and discover plugins, then run every registration hook. A call
        made while this manager is loading (from inside a hook) returns it as it stands."""
        if self._loaded or self._in_hooks:
            return self
        return self._load()

    def _load(self) -> "PluginManager":
        if self._builtins:
            from graphdiff import builtins as builtin_module

            self._add(builtin_module, PluginInfo(BUILTIN_NAME, builtin_module.__name__, "graphdiff",
                                                 _version("graphdiff"), builtin=True))
        if self.autoload:
            _invalidate_caches()
            for ep in sorted(_entry_points(), key=lambda e: e.name):
                if self.allow is not None and ep.name not in self.allow:
                    continue
                dist = getattr(ep, "dist", None)
                info = PluginInfo(
                    name=ep.name,
                    module=ep.value,
                    distribution=dist.metadata["Name"] if dist is not None else None,
                    version=dist.version if dist is not None else None,
                )
                if ep.name in self.plugins:
                    self.plugins[f"{ep.name}#{len(self.plugins)}"] = info
                    self._fail(info, f"another plugin is already named {ep.name!r}")
                    continue
                try:
                    module = ep.load()
                except Exception as exc:  # noqa: BLE001 - any import failure is reported
                    self.plugins[ep.name] = info
                    self._fail(info, f"failed to import: {type(exc).__name__}: {exc}", exc)
                    continue
                self._add(module, info)
            if self.allow:
                missing = self.allow - {p for p in self.plugins}
                for name in sorted(missing):
                    warnings.warn(
                        f"graphdiff: {ALLOW_ENV} names {name!r} but no such entry point is installed",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        self._in_hooks = True
        try:
            self._run_hooks()
        finally:
            self._in_hooks = False
        self._loaded = True
        return self

    def add_plugin(
        self,
        plugin: ModuleType | object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginInfo:
        """Register a plugin object by hand (tests, notebooks), then run its hooks.

        Loads the manager first if needed (so the plugin's hooks run exactly once); the
        plugin's registrations join the registries.
        """
        self.load()
        info = PluginInfo(name, getattr(plugin, "__name__", repr(plugin)), distribution, version)
        if name in self.plugins:
            raise PluginError(f"a plugin named {name!r} is already loaded ({self.plugins[name].origin})")
        if self._add(plugin, info):
            self._run_hooks(only=[name])
        return info

    def _add(self, plugin: Any, info: PluginInfo) -> bool:
        self.plugins[info.name] = info
        try:
            self._pm.register(plugin, name=info.name)
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            self._fail(info, f"invalid hook: {exc}")
            return False
        except ValueError as exc:  # pluggy: plugin already registered
            self._fail(info, str(exc))
            return False
        self._order.append(info.name)
        return True

    def _run_hooks(self, only: list[str] | None = None) -> None:
        names = only if only is not None else list(self._order)
        for plugin_name in names:
            info = self.plugins[plugin_name]
            for kind in KINDS:
                for impl in getattr(self._pm.hook, f"register_{kind}").get_hookimpls():
                    if impl.plugin_name == plugin_name:
                        self._call_hook(impl, kind, info)

    def _call_hook(self, impl: Any, kind: str, info: PluginInfo) -> None:
        """Run one ``register_<kind>`` hook of one plugin as a unit: when it raises, what it
        registered is rolled back (and ambiguities it caused undone); the clashes it found
        with other plugins are reported only when it succeeds."""
        registry = self.registries[kind]
        saved = registry.snapshot()
        saved_names = list(info.registered.get(kind, []))
        clashes: list[tuple[str, list[str]]] = []
        # Pass only the arguments the implementation declares (pluggy semantics).
        kwargs = {"register": self._register_fn(kind, info, clashes)}
        try:
            impl.function(**{a: kwargs[a] for a in impl.argnames})
        except Exception as exc:  # noqa: BLE001 - reported, others keep loading
            undone = registry.restore(saved)
            info.registered[kind] = saved_names
            if not info.registered[kind]:
                del info.registered[kind]
            if self.strict and isinstance(exc, PluginError):
                raise
            note = f"; rolled back what it registered ({', '.join(undone)})" if undone else ""
            self._fail(info, f"hook register_{kind} raised {type(exc).__name__}: {exc}{note}", exc)
            return
        for name, origins in clashes:
            self._report_ambiguous(kind, name, origins)

    def _report_ambiguous(self, kind: str, name: str, origins: list[str]) -> None:
        """Record, against every plugin that claims ``name``, that it is ambiguous (unused)."""
        by_origin = {p.origin: p for p in self.plugins.values()}
        what = kind[:-1] if kind.endswith("s") else kind
        for origin in origins:
            info = by_origin.get(origin)
            if info is None:
                continue
            names = info.registered.get(kind, [])
            if name in names:
                names.remove(name)
                if not names:
                    del info.registered[kind]
            others = [o for o in origins if o != origin]
            head = f"register_{kind}: {what} {name!r} is also registered by "
            message = f"{head}{' and '.join(others)}; the name is ambiguous and none of them is used"
            earlier = [i for i, e in enumerate(info.errors) if e.startswith(head)]
            if earlier:  # a third claimant: the earlier note names them all now
                info.errors[earlier[0]] = message
                continue
            if origin == origins[-1]:
                self._fail(info, message)  # strict mode raises here, naming the newcomer
            else:
                info.errors.append(message)

    def _register_fn(self, kind: str, info: PluginInfo,
                     clashes: list[tuple[str, list[str]]]) -> Callable[..., Any]:
        registry = self.registries[kind]

        def register(name: str, obj: Any, description: str = "", **metadata: Any) -> Any:
            try:
                registry.register(name, obj, origin=info.origin, description=description, metadata=metadata)
            except DuplicateNameError as exc:
                claimants = registry.claimants(name)
                if info.origin in claimants or self._builtin_origin in claimants:
                    self._fail(info, f"register_{kind}: {exc}")  # the core's name, or its own twice
                else:  # another plugin's: the name goes to neither
                    clashes.append((name, registry.mark_ambiguous(name, info.origin)))
                return obj
            except (TypeError, ValueError) as exc:
                self._fail(info, f"register_{kind}: {exc}")
                return obj
            info.registered.setdefault(kind, []).append(name)
            return obj

        register.registry = registry  # type: ignore[attr-defined]  # what is registered so far
        return register

    @property
    def _builtin_origin(self) -> str:
        info = self.plugins.get(BUILTIN_NAME)
        return info.origin if info is not None and info.builtin else "graphdiff (built-in)"

    def check(self) -> list[str]:
        """Load every object registered by location (as its first use would) and record each
        failure against the plugin that registered it (:attr:`PluginInfo.errors`); returns the
        failures, each naming the plugin (``graphdiff plugins --check``). In strict mode the
        first failure raises :class:`~graphdiff.errors.PluginError`."""
        self.load()
        by_origin = {p.origin: p for p in self.plugins.values()}
        failures = []
        for kind in KINDS:
            for entry in self.registries[kind].entries():
                if entry.loaded:
                    continue
                try:
                    entry.obj
                except LazyLoadError as exc:
                    if self.strict:
                        raise
                    failures.append(str(exc))
                    info = by_origin.get(entry.origin)
                    if info is not None:
                        info.errors.append(f"register_{kind}: {exc.detail}")
                        if exc.__cause__ is not None:
                            info.tracebacks[info.errors[-1]] = "".join(
                                traceback.format_exception(exc.__cause__))
        return failures

    # ------------------------------------------------------------------ look-ups
    def registry(self, kind: str) -> Registry[Any]:
        self.load()
        if kind not in self.registries:
            raise PluginError(f"unknown extension kind {kind!r}; kinds: {', '.join(KINDS)}")
        return self.registries[kind]

    def get(self, kind: str, name: str) -> Any:
        return self.registry(kind).get(name)

    def list_plugins(self) -> list[PluginInfo]:
        self.load()
        return list(self.plugins.values())


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _invalidate_caches() -> None:
    """Drop import and metadata caches so a fresh manager sees distributions installed since
    the last scan (a notebook after ``pip install``, a test writing a plugin), even where the
    folder's mtime did not change."""
    importlib.invalidate_caches()
    # Python 3.11's importlib.invalidate_caches() leaves importlib.metadata's folder cache alone,
    # and there MetadataPathFinder.invalidate_caches lacks @classmethod.
    finder = getattr(metadata, "MetadataPathFinder", None)
    clear = getattr(finder, "invalidate_caches", None)
    if clear is not None:
        try:
            clear()
        except TypeError:
            clear(finder)


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


_MANAGER: PluginManager | None = None
_LOADING: list[PluginManager] = []  # managers being loaded by get_manager, innermost last
# Re-entrant: a plugin that looks something up at import time must not deadlock discovery.
_LOCK = threading.RLock()


def get_manager() -> PluginManager:
    """The process-wide manager, loaded on first use with the environment's settings.

    A call made from a registration hook while that manager loads (e.g. a bundled predictor
    reading which targets its baseline uses) gets the manager being loaded, holding what is
    registered so far, instead of starting a second discovery (whose hooks would ask again).
    A call made while plugins are still being imported (a module that looks a registry up at
    import time) gets a complete manager of its own."""
    global _MANAGER
    with _LOCK:
        if _MANAGER is not None:
            return _MANAGER
        if _LOADING and _LOADING[-1]._in_hooks:
            return _LOADING[-1]
        manager = PluginManager()
        _LOADING.append(manager)
        try:
            manager.load()
        finally:
            _LOADING.pop()
        if not _LOADING:
            _MANAGER = manager
        return manager


def reset_manager(manager: PluginManager | None = None) -> PluginManager | None:
    """Replace (or drop, with ``None``) the process-wide manager; used by tests.

    Returns
    -------
    The manager it replaced (``None`` when there was none), to put back afterwards.
    """
    global _MANAGER
    with _LOCK:
        previous, _MANAGER = _MANAGER, manager
    return previous
