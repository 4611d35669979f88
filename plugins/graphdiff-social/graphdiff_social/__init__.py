"""graphdiff plugin: the social domain."""

__version__ = "0.1.0"
