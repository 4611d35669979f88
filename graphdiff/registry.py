"""Typed registries, one per extension kind, with clear errors.

A :class:`Registry` maps names to objects of one kind (domains, schedules, processes...). Each
entry remembers its *origin* (the plugin that registered it) so that a duplicate names both
sides, and an unknown name lists the valid ones with the closest match.

An entry holds either the object itself or *where it lives*: a location
``"package.module:attribute"`` (the attribute may be dotted, ``"module:Class.attr"``), or a
:func:`factory` that calls such an attribute with arguments. A located object is imported on
first use (:attr:`Entry.obj`, :meth:`Registry.get`), checked then, and kept; until then only its
name, description and *metadata* (the facts listings need, given at registration: a target's
``domain`` and ``units``, a domain's ``fields``...) exist, so that start-up imports nothing
heavy. :meth:`Entry.meta` reads a fact from the metadata, or from the object when none was given.

A name is registered once. :meth:`Registry.register` refuses a taken name
(:class:`~graphdiff.errors.DuplicateNameError`, naming both origins); the plugin manager decides
what a clash between plugins means (:mod:`graphdiff.plugins.manager`): a name two plugins claim
is marked *ambiguous* (:meth:`Registry.mark_ambiguous`), so that it stays out of the registry and
a look-up raises :class:`~graphdiff.errors.AmbiguousNameError` naming every claimant, instead of
one of them winning by the order in which plugins load.
"""

from __future__ import annotations

import difflib
import importlib
import re
import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from graphdiff.errors import AmbiguousNameError, DuplicateNameError, LazyLoadError, UnknownNameError

T = TypeVar("T")

__all__ = ["Entry", "Registry", "Lazy", "factory", "is_location", "KINDS"]

#: The extension kinds; each has a registry and a ``register_<kind>`` hook.
KINDS: tuple[str, ...] = (
    "domains",
    "targets",
    "metrics",
    "schedules",
    "processes",
    "encoders",
    "denoisers",
    "objectives",
    "checkpoints",
    "baselines",
    "commands",
    "references",
    "features",
    "constraints",
    "extras",
    "lattices",
)

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_LOCATION = re.compile(rf"^{_DOTTED}:{_DOTTED}$")


def is_location(value: object) -> bool:
    """Whether ``value`` is a location string ``"package.module:attribute"``."""
    return isinstance(value, str) and _LOCATION.match(value) is not None


@dataclass(frozen=True)
class Lazy:
    """Where a registered object lives, imported on first use.

    Parameters
    ----------
    location:
        ``"package.module:attribute"``; the attribute may be a dotted path.
    call:
        Call the attribute with ``args`` and ``kwargs`` and register the result (a
        :func:`factory`), instead of registering the attribute itself.
    """

    location: str
    call: bool = False
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_location(self.location):
            raise ValueError(f"a location must look like 'package.module:attribute', got {self.location!r}")

    def load(self) -> Any:
        """Import the module, follow the attribute path, and call it if this is a factory."""
        module_name, _, path = self.location.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj(*self.args, **self.kwargs) if self.call else obj

    def __str__(self) -> str:
        if not self.call:
            return self.location
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.location}({', '.join(args)})"


def factory(location: str, *args: Any, **kwargs: Any) -> Lazy:
    """Register the object ``attribute(*args, **kwargs)`` built on first use (once), where
    ``location`` is ``"package.module:attribute"``: a class to instantiate or a function that
    builds the object. A plain location string registers the attribute itself."""
    return Lazy(location, call=True, args=tuple(args), kwargs=dict(kwargs))


class Entry(Generic[T]):
    """One registration: its name, who registered it, its description and metadata, and the
    object (imported on first access to :attr:`obj` when it was registered by location)."""

    __slots__ = ("name", "origin", "description", "metadata", "lazy", "_obj", "_loaded", "_registry")

    def __init__(self, name: str, obj: Any = None, origin: str = "<unknown>", description: str = "",
                 metadata: Mapping[str, Any] | None = None, *, lazy: Lazy | None = None,
                 registry: "Registry[T] | None" = None) -> None:
        self.name = name
        self.origin = origin
        self.description = description
        self.metadata: Mapping[str, Any] = MappingProxyType(dict(metadata or {}))
        self.lazy = lazy
        self._obj = obj
        self._loaded = lazy is None
        self._registry = registry

    @property
    def obj(self) -> T:
        """The registered object, imported (and checked) on first access.

        Raises
        ------
        LazyLoadError
            When its module fails to import or the object fails its registry's check; the
            message names the entry, its location and the plugin that registered it."""
        if self._loaded:
            return self._obj
        if self._registry is not None:
            return self._registry._resolve(self)
        return self._load(None)

    @property
    def loaded(self) -> bool:
        """Whether the object is at hand (registered as an object, or already imported)."""
        return self._loaded

    @property
    def location(self) -> str | None:
        """Where a lazily registered object lives (``None`` for an object registered as such)."""
        return None if self.lazy is None else str(self.lazy)

    def meta(self, key: str, default: Any = None, *, load: bool = True) -> Any:
        """A fact about the object: the metadata given at registration, else the object's
        attribute ``key`` (importing a lazily registered object first, unless ``load=False``:
        then ``default``)."""
        if key in self.metadata:
            return self.metadata[key]
        if not self._loaded and not load:
            return default
        return getattr(self.obj, key, default)

    def _load(self, check: Callable[[str, Any], None] | None, kind: str = "") -> T:
        assert self.lazy is not None
        what = f"{kind[:-1] if kind.endswith('s') else kind or 'entry'} {self.name!r}"
        try:
            obj = self.lazy.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported with its origin
            detail = f"cannot load {what} from {self.lazy}: {type(exc).__name__}: {exc}"
            raise LazyLoadError(f"{self.origin}: {detail}", origin=self.origin, detail=detail) from exc
        if check is not None:
            try:
                check(self.name, obj)
            except (TypeError, ValueError) as exc:
                detail = f"{what} loaded from {self.lazy} is not usable: {exc}"
                raise LazyLoadError(f"{self.origin}: {detail}", origin=self.origin, detail=detail) from exc
        self._obj, self._loaded = obj, True
        return obj

    def __repr__(self) -> str:
        where = "" if self.lazy is None else f", {'loaded' if self._loaded else 'not loaded'} from {self.lazy}"
        return f"Entry({self.name!r}, origin={self.origin!r}{where})"


class Registry(Generic[T]):
    """Names to objects of one extension kind.

    Parameters
    ----------
    kind:
        Plural noun for messages (``"schedules"``).
    check:
        Optional validator called on each object before it is accepted (for an object
        registered by location, when it is first loaded); it raises ``TypeError``/``ValueError``
        with a message on a bad object.
    """

    def __init__(self, kind: str, check: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self._check = check
        self._entries: dict[str, Entry[T]] = {}
        self._ambiguous: dict[str, list[str]] = {}  # name -> the origins that claim it
        self._lock = threading.RLock()
        self._loading: set[str] = set()

    def register(self, name: str, obj: T | str | Lazy, *, origin: str = "<unknown>", description: str = "",
                 metadata: Mapping[str, Any] | None = None) -> T | str | Lazy:
        """Add ``obj`` under ``name``; returns ``obj``.

        ``obj`` is the object itself, or where it lives: a location string
        ``"package.module:attribute"`` or a :func:`factory`, imported on first use. ``metadata``
        holds facts about the object that listings read without importing it
        (:meth:`Entry.meta`).

        Raises
        ------
        DuplicateNameError
            When ``name`` is taken (or ambiguous); the message names both origins (all, for an
            ambiguous name).
        TypeError, ValueError
            When the name is not a non-empty string or the object fails the registry's check
            (an object registered by location is checked when it is loaded).
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind}: a name must be a non-empty string, got {name!r}")
        if name in self._ambiguous:
            claimed = " and ".join(self._ambiguous[name])
            raise DuplicateNameError(f"{self.kind} name {name!r} is already claimed by {claimed}; "
                                     f"registered again by {origin}")
        if name in self._entries:
            prev = self._entries[name]
            raise DuplicateNameError(
                f"{self.kind} name {name!r} registered twice: first by {prev.origin}, "
                f"again by {origin}"
            )
        lazy = obj if isinstance(obj, Lazy) else Lazy(obj) if is_location(obj) else None
        if lazy is None and self._check is not None:
            self._check(name, obj)
        self._entries[name] = Entry(name, None if lazy is not None else obj, origin, description, metadata,
                                    lazy=lazy, registry=self)
        return obj

    def _resolve(self, entry: Entry[T]) -> T:
        """Load a lazily registered entry once (thread-safe); a failure is raised each time."""
        with self._lock:
            if entry.loaded:
                return entry.obj
            if entry.name in self._loading:
                detail = (f"{self.kind[:-1]} {entry.name!r} from {entry.lazy} asks for itself while "
                          "it is being loaded (an import cycle)")
                raise LazyLoadError(f"{entry.origin}: {detail}", origin=entry.origin, detail=detail)
            self._loading.add(entry.name)
            try:
                return entry._load(self._check, self.kind)
            finally:
                self._loading.discard(entry.name)

    def get(self, name: str) -> T:
        """The object registered as ``name`` (imported now if it was registered by location).

        Raises
        ------
        UnknownNameError
            Listing the valid names and the closest match.
        AmbiguousNameError
            When two or more plugins registered ``name`` (:meth:`mark_ambiguous`); the message
            names them all.
        LazyLoadError
            When a lazily registered object fails to import or to pass the check.
        """
        return self.entry(name).obj

    __getitem__ = get

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` of ``name`` (its object is not loaded by this call); raises as
        :meth:`get` does for an unknown or ambiguous name."""
        if name in self._entries:
            return self._entries[name]
        if isinstance(name, str) and name in self._ambiguous:
            raise AmbiguousNameError(self._ambiguous_message(name))
        raise UnknownNameError(self._unknown_message(name))

    def _ambiguous_message(self, name: str) -> str:
        what = self.kind[:-1] if self.kind.endswith("s") else self.kind
        origins = self._ambiguous[name]
        return (f"{what} {name!r} is ambiguous: it is registered by {len(origins)} plugins, "
                f"{'; '.join(origins)}. None of them is used: uninstall all but one, or load only one "
                "of them with GRAPHDIFF_PLUGINS=name,...")

    def mark_ambiguous(self, name: str, origin: str) -> list[str]:
        """Record that ``origin`` also claims ``name``: the entry registered under it (if any)
        is removed, and from now on :meth:`get` and :meth:`entry` raise
        :class:`~graphdiff.errors.AmbiguousNameError` naming every claimant, and
        :meth:`register` refuses the name. Returns the origins that claim it, in the order they
        registered it."""
        with self._lock:
            origins = self._ambiguous.get(name)
            if origins is None:
                prev = self._entries.pop(name, None)
                origins = [] if prev is None else [prev.origin]
            if origin not in origins:
                origins.append(origin)
            self._ambiguous[name] = origins
            return list(origins)

    def claimants(self, name: str) -> list[str]:
        """The origins that registered ``name``: one for a registered name, every claimant of an
        ambiguous one, none for an unknown one."""
        if name in self._entries:
            return [self._entries[name].origin]
        return list(self._ambiguous.get(name, []))

    def ambiguous(self) -> dict[str, list[str]]:
        """``{name: [origins]}`` of the names two or more plugins claim (none of them registered)."""
        return {n: list(o) for n, o in sorted(self._ambiguous.items())}

    def snapshot(self) -> tuple[dict[str, Entry[T]], dict[str, list[str]]]:
        """The registry's contents, to undo registrations with :meth:`restore` (the plugin
        manager rolls back what a hook registered before it raised)."""
        with self._lock:
            return dict(self._entries), {n: list(o) for n, o in self._ambiguous.items()}

    def restore(self, snapshot: tuple[dict[str, Entry[T]], dict[str, list[str]]]) -> list[str]:
        """Put back the contents saved by :meth:`snapshot`; returns the names that were added
        since (and are now gone), sorted."""
        entries, ambiguous = snapshot
        with self._lock:
            added = sorted(set(self._entries) - set(entries))
            self._entries = dict(entries)
            self._ambiguous = {n: list(o) for n, o in ambiguous.items()}
        return added

    def _unknown_message(self, name: str) -> str:
        valid = sorted(self._entries)
        msg = f"unknown {self.kind[:-1] if self.kind.endswith('s') else self.kind} {name!r}"
        close = difflib.get_close_matches(str(name), valid, n=1)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        msg += f" Valid names: {', '.join(valid) if valid else '(none registered)'}"
        return msg

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Every entry, sorted by name; lazily registered objects load when their ``obj`` is read."""
        return [self._entries[n] for n in sorted(self._entries)]

    def unregister_origin(self, origin: str) -> None:
        """Drop every entry a given origin made (used when a plugin is rejected whole)."""
        for name in [n for n, e in self._entries.items() if e.origin == origin]:
            del self._entries[name]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
