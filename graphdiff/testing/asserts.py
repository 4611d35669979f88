"""Assertions for domain converters."""

from __future__ import annotations

from typing import Any, Callable


def assert_roundtrip(domain: Any, obj: Any, equal: Callable[[Any, Any], bool] | None = None) -> Any:
    """Check that ``domain.from_graph(domain.to_graph(obj))`` gives back ``obj``.

    The graph must also pass ``domain.spec.validate``. ``equal`` defaults to ``domain.equal``.

    Returns
    -------
    The graph, for further checks.
    """
    data = domain.to_graph(obj)
    domain.spec.validate(data, where=f"{domain.name}.to_graph output")
    back = domain.from_graph(data)
    same = (equal or domain.equal)(obj, back)
    if not same:
        raise AssertionError(
            f"round trip through domain {domain.name!r} changed the object:\n"
            f"  before: {obj!r}\n  after:  {back!r}"
        )
    return data
