"""The version of symbp (also the version written into generated files)."""

__version__ = "0.1.0"
