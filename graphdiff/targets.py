"""Graph-level targets: named property functions a model can be conditioned or guided on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["Target", "predictor_target"]


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
    value_range:
        Optional ``(low, high)`` where the target is known to be reliable (a predictor's training
        labels); requests outside it are warned about.
    weight:
        Weight of a gradient-guidance request on the target when several are combined (set per
        request: ``--target "NAME<=V@W"``).
    noisy_fn:
        Optional time-aware ``noisy_fn(states, graphs) -> Tensor [num_graphs]`` that scores a
        diffusion model's *noisy* states at ``graphs.t`` (a predictor trained on that model's
        noise), differentiable in the states; used for guidance in place of ``graph_fn`` on the
        clean estimate when ``noisy_check(model)`` finds no problem.
    noisy_check:
        ``noisy_check(model) -> list[str]``: why ``noisy_fn`` cannot read ``model``'s states
        (empty: it can).
    source:
        The predictor file a predictor's target reads (``None`` for other targets); bundled
        predictors are addressed by its stem (:func:`graphdiff.predictors.resolve_predictor`).
    batch_fn:
        Optional ``batch_fn(objs) -> list[float]``, the values of many objects at once (one
        batched model call), with the same values as ``fn``; used where many items are scored
        (a predictor's ``offset``).
    """

    name: str
    domain: str
    fn: Callable[[Any], float]
    description: str = ""
    units: str = ""
    graph_fn: Callable[..., Any] | None = None
    value_range: tuple[float, float] | None = None
    weight: float = 1.0
    noisy_fn: Callable[..., Any] | None = None
    noisy_check: Callable[[Any], list[str]] | None = None
    source: str | None = None
    batch_fn: Callable[[Any], list] | None = None

    def __call__(self, obj: Any) -> float:
        return float(self.fn(obj))

    @property
    def differentiable(self) -> bool:
        return self.graph_fn is not None or self.noisy_fn is not None


def predictor_target(path_or_loaded: Any, property: str, name: str | None = None) -> Target:
    """A :class:`Target` scoring one property with a trained predictor
    (:mod:`graphdiff.predictors`): the ensemble's mean prediction.

    ``fn(obj)`` scores a domain object (converted with the domain's ``to_graph``);
    ``graph_fn(fields, batch) -> Tensor [num_graphs]`` is differentiable in the continuous
    fields and in categorical class probabilities (see
    :meth:`~graphdiff.predictors.Predictor.inputs_from_fields`); a predictor whose ``offset``
    reads a target without a ``graph_fn`` has none, so it is not differentiable.

    Parameters
    ----------
    path_or_loaded:
        A predictor file (loaded once per file version, when first needed again after a change)
        or a loaded :class:`~graphdiff.predictors.Predictor`.
    property:
        One of the predictor's properties.
    name:
        Prefix of the target's name, ``'<name>-<property>'`` (default: the predictor's
        ``[predictor] name``, else ``'<domain>-predicted'``).
    """
    from graphdiff.predictor_files import predictor_facts, read_header
    from graphdiff.predictors import Predictor, as_predictor, without_gradient

    loaded = path_or_loaded if isinstance(path_or_loaded, Predictor) else None
    path = None if loaded is not None else str(Path(path_or_loaded).resolve())
    if loaded is not None:  # a path is only read for its header: networks are built on first use
        head = {"domain": loaded.domain, "properties": loaded.properties, "members": len(loaded.members),
                "meta": getattr(loaded, "meta", {}) or {},
                "arch": {"offset": list(getattr(loaded, "offset", None) or []),
                         "noisy": bool(getattr(loaded, "noisy", False))}}
    else:
        head = read_header(path)
    facts = predictor_facts(head, property, path, name=name)
    j = head["properties"].index(property)

    def current() -> Any:
        return loaded if loaded is not None else as_predictor(path)

    def fn(obj: Any) -> float:
        mean, _ = current().predict_objects([obj])
        return float(mean[0, j])

    def graph_fn(fields: dict, batch: Any = None) -> Any:
        mean, _ = current().predict_fields(fields, batch)
        return mean[:, j]

    offset_targets = facts["offset_targets"]
    if offset_targets and without_gradient(offset_targets, _registered(offset_targets, head["domain"])):
        graph_fn = None  # its baseline reads a target that has no gradient
    noisy_fn = noisy_check = None
    if facts["noisy"]:
        def noisy_fn(states: dict, graphs: Any) -> Any:
            mean, _ = current().predict_noisy(states, graphs)
            return mean[:, j]

        def noisy_check(model: Any) -> list[str]:
            return current().process_mismatch(model)

    return Target(facts["name"], facts["domain"], fn, description=facts["description"],
                  graph_fn=graph_fn, value_range=facts["value_range"],
                  noisy_fn=noisy_fn, noisy_check=noisy_check, source=path)


def _registered(names: list[str], domain: str) -> dict[str, Any]:
    """The registered targets among ``names`` that score ``domain``'s objects (only these are
    loaded: the others may be predictor targets being loaded themselves)."""
    from graphdiff.plugins import get_manager

    reg = get_manager().registry("targets")
    found = {n: reg.get(n) for n in names if n in reg}
    return {n: t for n, t in found.items() if getattr(t, "domain", None) in (None, domain)}
