"""Assertions for domain converters."""

from __future__ import annotations

from pathlib import Path
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


def assert_refuses_non_ase_databases(read: Callable[[Path], Any], folder: Path) -> None:
    """A reader of ASE databases (``.db``) refuses, with a :class:`~graphdiff.errors.DataError`,
    and leaves byte for byte as they were: an SQLite file that is a graphdiff graph database
    (the error must say so) and a file that is not SQLite at all. ``read(path)`` is consumed
    (``list(...)``); the files are written into ``folder``."""
    import re
    import sqlite3

    from graphdiff.errors import DataError

    graphs = Path(folder) / "graphs.db"
    con = sqlite3.connect(graphs)
    con.execute("CREATE TABLE meta (key TEXT)")
    con.execute("CREATE TABLE graphs (row INTEGER)")
    con.commit()
    con.close()
    junk = Path(folder) / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 10)
    for path, pattern in ((graphs, "not an ASE database.*graphdiff graph database"),
                          (junk, "not an SQLite file")):
        before = path.read_bytes()
        try:
            list(read(path))
        except DataError as exc:
            assert re.search(pattern, str(exc)), f"{path.name}: the error {str(exc)!r} does not match {pattern!r}"
        else:
            raise AssertionError(f"{path.name} was read as an ASE database")
        assert path.read_bytes() == before, f"{path.name} was changed"
