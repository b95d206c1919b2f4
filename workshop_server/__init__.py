"""Workshop server: a self-hosted, real-time ideation workshop server."""

__version__ = "0.1.0"
