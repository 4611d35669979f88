"""The ``graphdiff`` command line (also ``python -m graphdiff``).

One module per group of commands, each a thin shell over the Python API (:mod:`graphdiff.api`)
and the core: :mod:`~graphdiff.cli.main` (the group, error handling, ``plugins``, ``targets``,
``config``), :mod:`~graphdiff.cli.engine` (``train``, ``checkpoints``, ``schedule``),
:mod:`~graphdiff.cli.sample`, :mod:`~graphdiff.cli.evaluate`, :mod:`~graphdiff.cli.interpolate`,
:mod:`~graphdiff.cli.db`, :mod:`~graphdiff.cli.convert` and :mod:`~graphdiff.cli.predict`. Importing it
imports neither torch nor any plugin.
"""

from graphdiff.cli.main import cli, main
# importing each module registers its commands
from graphdiff.cli import convert, db, engine, evaluate, interpolate, predict, sample  # noqa: F401,E402

__all__ = ["cli", "main"]
