"""Checks of what a plugin registers by location: it loads, and the facts given at registration
(description, metadata) agree with the loaded objects."""

from __future__ import annotations

from typing import Any

from graphdiff.registry import KINDS

__all__ = ["assert_lazy_registrations"]


def _plain(value: Any) -> Any:
    """Sequences as lists, mappings with plain values, recursively (a tuple given as metadata
    equals the list an object holds)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _attribute(kind: str, key: str, obj: Any) -> tuple[bool, Any]:
    """``(found, value)``: the object's own value of a metadata key."""
    if kind == "domains" and key == "fields":
        return True, list(obj.spec.names)
    if hasattr(obj, key):
        return True, getattr(obj, key)
    return False, None


def assert_lazy_registrations(manager: Any, plugin: str) -> list[str]:
    """Load every object ``plugin`` (a plugin name of ``manager``) registered by location, as
    its first use would, and check it against what the registration said.

    Each object must import and pass its registry's check. Each metadata key the object also
    holds as an attribute (a target's ``domain``, ``units``, ``differentiable``, ``source``; a
    reference's ``domain``, ``columns``, ``options``...; a domain's ``fields``, its spec's field
    names) must have the same value, and so must the description where the object has a string
    ``description``. Returns the names checked, as ``"<kind>:<name>"``.

    Raises
    ------
    AssertionError
        Listing every disagreement and every object that failed to load.
    """
    info = manager.plugins[plugin]
    problems: list[str] = []
    checked: list[str] = []
    for kind in KINDS:
        registry = manager.registry(kind)
        for name in info.registered.get(kind, []):
            entry = registry.entry(name)
            if entry.lazy is None:
                continue
            checked.append(f"{kind}:{name}")
            try:
                obj = entry.obj
            except Exception as exc:  # noqa: BLE001 - reported below, with the others
                problems.append(f"{kind} {name!r}: {exc}")
                continue
            for key, given in entry.metadata.items():
                found, actual = _attribute(kind, key, obj)
                if found and _plain(actual) != _plain(given):
                    problems.append(f"{kind} {name!r}: metadata {key}={given!r}, but the object has {actual!r}")
            own = getattr(obj, "description", None)
            if isinstance(own, str) and entry.description and own != entry.description:
                problems.append(f"{kind} {name!r}: registered with description {entry.description!r}, "
                                f"but the object's is {own!r}")
    if problems:
        raise AssertionError(f"plugin {plugin!r}: what was registered disagrees with what loads:\n  "
                             + "\n  ".join(problems))
    return checked
