"""graphdiff plugin: the crystals domain."""

__version__ = "0.1.0"
