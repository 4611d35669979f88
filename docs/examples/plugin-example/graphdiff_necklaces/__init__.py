"""graphdiff-necklaces: rings of coloured beads, an example graphdiff domain plugin.

Used by ``docs/examples/09-write-a-domain-plugin.ipynb``; ``docs/writing-a-plugin.md`` lists
every hook a plugin can implement.

* ``pyproject.toml``: the ``graphdiff`` entry point, ``necklaces = "graphdiff_necklaces.plugin"``;
* ``graphdiff_necklaces/domain.py``: the ``Necklace`` object and ``NecklacesDomain`` (its
  ``GraphSpec``, ``to_graph``, ``from_graph``, a one-necklace-per-line text format), example data;
* ``graphdiff_necklaces/plugin.py``: the hooks, registering the domain and one target.

Install it into the environment that has graphdiff (``pip install ./plugin-example``); then
``graphdiff plugins`` lists it and a run config can say ``[data] domain = "necklaces"``.
"""

from graphdiff_necklaces.domain import COLOURS, Necklace, NecklacesDomain, alternating_necklaces

__all__ = ["COLOURS", "Necklace", "NecklacesDomain", "alternating_necklaces"]
