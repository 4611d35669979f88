"""pytest plugin (entry point ``pytest11``): fixtures for graphdiff plugin authors.

Fixtures
--------
graphdiff_plugins
    A factory ``graphdiff_plugins(*plugin_objects)`` returning a fresh, loaded plugin manager
    with autoload off and the given plugins registered; it is the process-wide manager until
    the test ends.

Every test session also gets its own graph-dataset cache directory (``GRAPHDIFF_CACHE_DIR``
points into pytest's temporary folder unless it is already set), so tests never read or fill
the user's cache.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _graphdiff_cache_dir(tmp_path_factory: Any) -> Iterator[None]:
    import os

    if os.environ.get("GRAPHDIFF_CACHE_DIR"):
        yield
        return
    os.environ["GRAPHDIFF_CACHE_DIR"] = str(tmp_path_factory.mktemp("graphdiff-cache"))
    try:
        yield
    finally:
        os.environ.pop("GRAPHDIFF_CACHE_DIR", None)


@pytest.fixture
def graphdiff_plugins() -> Iterator[Any]:
    """Factory ``graphdiff_plugins(*plugins, builtins=True, strict=False)``: a fresh, loaded
    plugin manager with entry-point discovery off and ``plugins`` (modules or objects with
    ``@graphdiff.hookimpl`` hooks) registered; it is the process-wide manager until the test ends."""
    from graphdiff.testing import isolated_manager

    with ExitStack() as stack:

        def make(*plugins: Any, builtins: bool = True, strict: bool = False) -> Any:
            return stack.enter_context(isolated_manager(*plugins, builtins=builtins, strict=strict))

        yield make
