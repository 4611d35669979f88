"""The ``graphdiff`` command line (also ``python -m graphdiff``).

One module per group of commands, each a thin shell over the Python API (:mod:`graphdiff.api`)
and the core: :mod:`~graphdiff.cli.main` (the group, error handling, ``plugins``, ``targets``,
``config``), :mod:`~graphdiff.cli.engine` (``train``, ``sample``, ``interpolate``, ``evaluate``,
``checkpoints``, ``schedule``), :mod:`~graphdiff.cli.db`, :mod:`~graphdiff.cli.convert` and
:mod:`~graphdiff.cli.predict`. Importing it imports neither torch nor any plugin.
"""

from graphdiff.cli.main import cli, main
from graphdiff.cli import convert, db, engine, predict  # noqa: F401,E402  (register their commands)

__all__ = ["cli", "main"]
