"""The error rot90 raises for an argument of the wrong shape, dtype, device or range.

torch raises RuntimeError for most such misuse (torch.nn.LSTM for a wrong h0 or input size)
and ValueError for some (a 4-D input); rot90 raises one error that is both, so a user's
`except RuntimeError` written for torch and the CLI's `except ValueError` both catch it.
"""


class ArgumentError(ValueError, RuntimeError):
    """A tensor or value handed to rot90 that it cannot compute with: what was wrong and where."""
