"""Structural constraints kept through the whole reverse process (projected sampling).

A constraint is a property of a graph's edge set that survives deleting edges (planarity,
having no cycle, a bounded degree...). During sampling, after every reverse step the edges the
step *added* are inserted one at a time in random order, and an insertion that would break the
property is discarded; edges the step kept or removed are left as the step chose. Starting from
a graph that has the property (the empty graph always does), every state of the chain has it,
and so does the generated graph. This is the projector of Madeira et al., "Generative Modelling
of Structurally Constrained Graphs" (ConStruct, NeurIPS 2024).

Its natural partner is the edge-absorbing noise (``[diffusion.fields.<edges>] prior =
"absorbing"``): noise then only deletes edges, so every noisy training graph has the property
too and the denoiser never sees a state the sampler could not reach. The projector also works on
a model trained with another prior (it then starts from the projected prior draw), at the price
of that mismatch.

A constraint may also depend on where the nodes are (:attr:`EdgeConstraint.position_field`:
straight edges that must not cross, for road networks). Positions move during sampling, so
after every step such a constraint is re-applied to all edges: the edges the step kept are
inserted first and the added ones after, each group in random order, and any edge that would
break the property is discarded. The sampler hands it the denoiser's estimate of the clean
positions (where the nodes are heading); the last step's projection uses the final positions,
so the generated graph has the property.

Constraints are registered by name (``register_constraints``); a model names one in
``[diffusion] constraint`` and ``graphdiff sample --constraint NAME|none`` overrides it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import networkx as nx
import torch

__all__ = ["EdgeConstraint", "Planar", "Forest", "MaxDegree", "NoCrossings", "BUILTIN_CONSTRAINTS", "project_edges",
           "resolve_constraint", "check_constraint"]


class EdgeConstraint(ABC):
    """An edge-deletion invariant property of simple undirected graphs.

    Subclasses implement :meth:`holds`; :meth:`admits` (may the edge ``u–v`` be added to a graph
    that has the property?) defaults to adding it and testing :meth:`holds`, and is worth
    overriding with an incremental test.

    A constraint that depends on node positions names their node field in
    :attr:`position_field`; the graphs it is asked about then carry each node's position as the
    node attribute ``pos`` (a tuple of floats, in the field's units or any affine image of them).
    """

    name: str = ""
    description: str = ""
    #: node field of positions the property depends on (``None``: the edges alone)
    position_field: str | None = None

    @abstractmethod
    def holds(self, graph: nx.Graph) -> bool:
        """Whether ``graph`` has the property."""

    def admits(self, graph: nx.Graph, u: int, v: int) -> bool:
        """Whether ``graph`` plus the edge ``u–v`` still has the property (``graph`` has it)."""
        graph.add_edge(u, v)
        try:
            return self.holds(graph)
        finally:
            graph.remove_edge(u, v)

    def __repr__(self) -> str:
        return f"<EdgeConstraint {self.name}>"


def _same_component(graph: nx.Graph, u: int, v: int) -> bool:
    return nx.has_path(graph, u, v)


class Planar(EdgeConstraint):
    """The graph can be drawn in the plane without crossing edges."""

    name = "planar"
    description = "planar graphs (no K5 or K3,3 minor); the projector rejects edges that break planarity"

    def holds(self, graph: nx.Graph) -> bool:
        return bool(nx.check_planarity(graph)[0])

    def admits(self, graph: nx.Graph, u: int, v: int) -> bool:
        n = graph.number_of_nodes()
        if n >= 3 and graph.number_of_edges() + 1 > 3 * n - 6:  # Euler's bound on planar graphs
            return False
        if not _same_component(graph, u, v):  # a bridge between two planar pieces stays planar
            return True
        return super().admits(graph, u, v)


class Forest(EdgeConstraint):
    """No cycle (every component a tree)."""

    name = "forest"
    description = "acyclic graphs (forests); the projector rejects edges that close a cycle"

    def holds(self, graph: nx.Graph) -> bool:
        return nx.is_forest(graph) if graph.number_of_nodes() else True

    def admits(self, graph: nx.Graph, u: int, v: int) -> bool:
        return not _same_component(graph, u, v)


class MaxDegree(EdgeConstraint):
    """No node has more than ``k`` neighbours."""

    def __init__(self, k: int) -> None:
        if k < 0:
            raise ValueError(f"max degree must be >= 0, got {k}")
        self.k = int(k)
        self.name = f"max-degree-{self.k}"
        self.description = f"every node has at most {self.k} neighbours"

    def holds(self, graph: nx.Graph) -> bool:
        return all(d <= self.k for _, d in graph.degree())

    def admits(self, graph: nx.Graph, u: int, v: int) -> bool:
        return graph.degree(u) < self.k and graph.degree(v) < self.k


class NoCrossings(EdgeConstraint):
    """Drawn with straight segments between the nodes' 2-D positions, no two edges cross.

    Edges without a shared end node must not intersect at all (touching included); edges that
    share an end node must not overlap beyond it: the rule of
    :func:`graphdiff.metrics.vun.is_road_valid` (:func:`~graphdiff.metrics.vun.segments_conflict`).
    Domains with a 2-D position field register it under their field's name (the traffic plugin:
    ``no-crossings`` on ``coords``).
    """

    def __init__(self, position_field: str, name: str = "no-crossings") -> None:
        self.position_field = position_field
        self.name = name
        self.description = (f"straight edges between the nodes' {position_field!r} positions never cross "
                            "(road networks); the projector rejects an edge that would cross another")

    def holds(self, graph: nx.Graph) -> bool:
        from graphdiff.metrics.vun import segments_conflict

        xy = dict(graph.nodes(data="pos"))
        edges = list(graph.edges)
        return not any(segments_conflict(xy, a, b, c, d)
                       for i, (a, b) in enumerate(edges) for c, d in edges[i + 1:])

    def admits(self, graph: nx.Graph, u: int, v: int) -> bool:
        from graphdiff.metrics.vun import segments_conflict

        if graph.has_edge(u, v):
            return True
        xy = graph.nodes
        pos = {n: xy[n]["pos"] for n in graph}
        return not any(segments_conflict(pos, u, v, c, d) for c, d in graph.edges)


#: the core's constraints (registered under their names by :mod:`graphdiff.builtins`)
BUILTIN_CONSTRAINTS: dict[str, EdgeConstraint] = {
    c.name: c for c in (Planar(), Forest(), *(MaxDegree(k) for k in (2, 3, 4, 5, 6)))
}


def project_edges(constraint: EdgeConstraint, prev: torch.Tensor, new: torch.Tensor,
                  pair_index: torch.Tensor, pair_batch: torch.Tensor, ptr: torch.Tensor,
                  generator: torch.Generator | None = None,
                  positions: torch.Tensor | None = None) -> torch.Tensor:
    """The projection of one reverse step of an edge field over all node pairs.

    ``prev`` holds the class of every pair before the step (class 0: no edge; its graph has the
    property), ``new`` the step's draw. Pairs that were edges and still are keep their new class,
    removed edges stay removed, and the added edges are inserted in a random order (drawn with
    ``generator``), each discarded (set to class 0) when it would break the property. Returns the
    projected classes; ``new`` is not modified.

    A constraint with a :attr:`~EdgeConstraint.position_field` needs ``positions`` (``[N, 2]``,
    the nodes' positions after the step): the kept edges are then re-inserted too, before the
    added ones, since moved nodes can make an edge the step kept break the property.
    """
    device = new.device
    prev, new = prev.cpu(), new.cpu()
    geometric = constraint.position_field is not None
    if geometric and positions is None:
        raise ValueError(f"constraint {constraint.name!r} needs the nodes' {constraint.position_field!r} positions")
    added = (new > 0) & (prev <= 0)
    kept = (new > 0) & (prev > 0)
    todo = (added | kept) if geometric else added
    if not bool(todo.any()):
        return new.clone().to(device)
    out = new.clone()
    pair_index, pair_batch = pair_index.cpu(), pair_batch.cpu()
    pos = positions.detach().cpu().double().tolist() if geometric else None
    ptr_list = ptr.tolist()
    gen_device = generator.device if generator is not None else "cpu"
    for g in torch.unique(pair_batch[todo]).tolist():
        lo, n = ptr_list[g], ptr_list[g + 1] - ptr_list[g]
        in_g = pair_batch == g
        graph = nx.Graph()
        if geometric:
            graph.add_nodes_from((i, {"pos": tuple(pos[lo + i])}) for i in range(n))
            groups = [in_g & kept, in_g & added]
        else:
            graph.add_nodes_from(range(n))
            ku = pair_index[:, in_g & kept] - lo
            graph.add_edges_from(zip(ku[0].tolist(), ku[1].tolist()))
            groups = [in_g & added]
        for group in groups:
            cand = torch.nonzero(group).view(-1)
            order = cand[torch.randperm(cand.numel(), generator=generator, device=gen_device).cpu()]
            for p in order.tolist():
                u, v = int(pair_index[0, p]) - lo, int(pair_index[1, p]) - lo
                if constraint.admits(graph, u, v):
                    graph.add_edge(u, v)
                else:
                    out[p] = 0
    return out.to(device)


def resolve_constraint(value: Any) -> EdgeConstraint | None:
    """A constraint from a registered name, an :class:`EdgeConstraint`, or ``None``/``"none"``."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, EdgeConstraint):
        return value
    from graphdiff.plugins import get_manager

    return get_manager().get("constraints", str(value))


def check_constraint(value: Any, spec: Any, generate: Sequence[str]) -> EdgeConstraint | None:
    """:func:`resolve_constraint` of ``value`` for a model of ``spec`` generating ``generate``:
    a constraint acts on generated edges, so it raises
    :class:`~graphdiff.errors.GraphValidationError` when the spec has no edge field or the model
    does not generate it (and :class:`~graphdiff.errors.UnknownNameError` for an unknown name)."""
    constraint = resolve_constraint(value)
    edge = spec.edge_field
    if constraint is None:
        return None
    from graphdiff.errors import GraphValidationError

    if edge is None or edge.name not in generate:
        raise GraphValidationError(
            f"constraint {constraint.name!r} acts on generated edges, but "
            + (f"domain {spec.name!r} has no edge field" if edge is None else
               f"the model does not generate its edge field {edge.name!r} (it generates {list(generate)})"))
    field = constraint.position_field
    if field is not None:
        from graphdiff.graph import FieldKind, Level

        spec_field = next((f for f in spec.fields if f.name == field), None)
        if (spec_field is None or spec_field.level is not Level.NODE
                or spec_field.kind not in (FieldKind.CONTINUOUS, FieldKind.POSITIONS) or spec_field.dim != 2):
            raise GraphValidationError(
                f"constraint {constraint.name!r} reads 2-D node positions from field {field!r}, which domain "
                f"{spec.name!r} does not have (its fields: {[f.name for f in spec.fields]})")
    return constraint
