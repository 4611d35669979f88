"""graphdiff plugin: the molecules domain."""

__version__ = "0.1.0"
