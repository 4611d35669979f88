"""Denoiser networks of the engine, one per file, and the contract they follow.

========================  =====================================  ================================
registered name           class                                  for
========================  =====================================  ================================
``graph_transformer``     :class:`GraphTransformerDenoiser`      plain graphs (social, traffic)
``egnn``                  :class:`EGNNDenoiser`                  molecules (Cartesian positions)
``periodic``              :class:`PeriodicDenoiser`              crystals (fractional coordinates)
========================  =====================================  ================================

All take ``(spec, outputs, cond_dim=0, hidden=128, layers=4, **options)`` and return one tensor
per entry of ``outputs`` (see :mod:`graphdiff.nn.base`). Each reads its inputs through a
registered encoder (option ``encoder``, default ``fields``; see :mod:`graphdiff.nn.encoders`).
"""

from graphdiff.nn.base import Denoiser, NoisyGraphs, all_pairs
from graphdiff.nn.egnn import EGNNDenoiser
from graphdiff.nn.embeddings import ConditionEmbedding, GraphContext, NodeFieldEmbedding, TimeEmbedding
from graphdiff.nn.encoders import DistanceEncoder, Encoder, FieldEncoder, PositionalEncoder
from graphdiff.nn.graph_transformer import GraphTransformerDenoiser
from graphdiff.nn.periodic import PeriodicDenoiser

#: Registered name -> denoiser class, registered by :mod:`graphdiff.builtins`.
BUILTIN_DENOISERS: dict[str, type[Denoiser]] = {
    "graph_transformer": GraphTransformerDenoiser,
    "egnn": EGNNDenoiser,
    "periodic": PeriodicDenoiser,
}

__all__ = [
    "NoisyGraphs",
    "Denoiser",
    "all_pairs",
    "GraphTransformerDenoiser",
    "EGNNDenoiser",
    "PeriodicDenoiser",
    "TimeEmbedding",
    "ConditionEmbedding",
    "NodeFieldEmbedding",
    "GraphContext",
    "Encoder",
    "FieldEncoder",
    "PositionalEncoder",
    "DistanceEncoder",
    "BUILTIN_DENOISERS",
]
