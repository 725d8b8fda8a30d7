"""The version of rot90: read by the package, by pyproject.toml (setuptools' attr) and written into every run."""

__version__ = "0.1.0"
