"""Graph file formats and the exact node-label encoding: :mod:`graphdiff.nxgraph.formats`, importable here too.

The graph domains share these helpers through the core (:mod:`graphdiff.nxgraph`); this module
keeps the names importable from where the social plugin first defined them.
"""

from graphdiff.nxgraph.formats import (  # noqa: F401
    SUFFIX_FORMATS,
    FORMAT_SUFFIX,
    LITERAL_MARK,
    EDGELIST_HEADER,
    format_of,
    needs_literals,
    encode_label,
    decode_marked,
    relabel,
    to_tuples,
    to_python_scalar,
)

__all__ = ["SUFFIX_FORMATS", "FORMAT_SUFFIX", "LITERAL_MARK", "EDGELIST_HEADER", "format_of",
           "needs_literals", "encode_label", "decode_marked", "relabel", "to_tuples",
           "to_python_scalar"]
