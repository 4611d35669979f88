"""Typed registries, one per extension kind, with clear errors.

A :class:`Registry` maps names to objects of one kind (domains, schedules, processes...). Each
entry remembers its *origin* (the plugin that registered it) so that a duplicate names both
sides, and an unknown name lists the valid ones with the closest match.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from graphdiff.errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")

__all__ = ["Entry", "Registry", "KINDS"]

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
)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registration: the object, its name, and who registered it."""

    name: str
    obj: T
    origin: str
    description: str = ""


class Registry(Generic[T]):
    """Names to objects of one extension kind.

    Parameters
    ----------
    kind:
        Plural noun for messages (``"schedules"``).
    check:
        Optional validator called on each object before it is accepted; it raises
        ``TypeError``/``ValueError`` with a message on a bad object.
    """

    def __init__(self, kind: str, check: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self._check = check
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, obj: T, *, origin: str = "<unknown>", description: str = "") -> T:
        """Add ``obj`` under ``name``.

        Raises
        ------
        DuplicateNameError
            When ``name`` is taken; the message names both origins.
        TypeError, ValueError
            When the name is not a non-empty string or the object fails the registry's check.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind}: a name must be a non-empty string, got {name!r}")
        if name in self._entries:
            prev = self._entries[name]
            raise DuplicateNameError(
                f"{self.kind} name {name!r} registered twice: first by {prev.origin}, "
                f"again by {origin}"
            )
        if self._check is not None:
            self._check(name, obj)
        self._entries[name] = Entry(name=name, obj=obj, origin=origin, description=description)
        return obj

    def get(self, name: str) -> T:
        """The object registered as ``name``.

        Raises
        ------
        UnknownNameError
            Listing the valid names and the closest match.
        """
        try:
            return self._entries[name].obj
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    __getitem__ = get

    def entry(self, name: str) -> Entry[T]:
        if name not in self._entries:
            raise UnknownNameError(self._unknown_message(name))
        return self._entries[name]

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
        return [self._entries[n] for n in sorted(self._entries)]

    def unregister_origin(self, origin: str) -> None:
        """Drop every entry a given origin made (used when a plugin is rejected whole)."""
        for name in [n for n, e in self._entries.items() if e.origin == origin]:
            del self._entries[name]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
