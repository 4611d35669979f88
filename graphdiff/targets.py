"""Graph-level targets: named property functions a model can be conditioned or guided on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Target"]


@dataclass(frozen=True)
class Target:
    """A graph-level scalar property of a domain's objects.

    Parameters
    ----------
    name:
        Registry name (``"carbon24-energy"``).
    domain:
        The domain whose objects it scores.
    fn:
        ``fn(obj) -> float`` on a domain object.
    description, units:
        For listings.
    graph_fn:
        Optional differentiable ``graph_fn(fields: dict[str, Tensor], batch) -> Tensor [num_graphs]``
        used for gradient (classifier) guidance during sampling.
    """

    name: str
    domain: str
    fn: Callable[[Any], float]
    description: str = ""
    units: str = ""
    graph_fn: Callable[..., Any] | None = None

    def __call__(self, obj: Any) -> float:
        return float(self.fn(obj))

    @property
    def differentiable(self) -> bool:
        return self.graph_fn is not None
