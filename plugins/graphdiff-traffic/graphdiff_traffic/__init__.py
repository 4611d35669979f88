"""graphdiff plugin: the traffic domain."""

__version__ = "0.1.0"
