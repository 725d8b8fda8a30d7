"""Data that exists offline: corpora built from Debian packages and PyPI archives, and generated tasks."""

from .io import DataError, read_pairs

__all__ = ["DataError", "read_pairs"]
