"""Deprecated: the helpers moved to rot90.testing (the `rot90 check` table to rot90.lab.check)."""

import warnings

from .testing import assert_close, bound, relative_error

warnings.warn("rot90.check is renamed rot90.testing (assert_close, bound, relative_error); rot90.check goes in the "
              "next release", DeprecationWarning, stacklevel=2)

__all__ = ["assert_close", "bound", "relative_error"]
