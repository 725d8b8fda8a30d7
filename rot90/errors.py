"""The errors rot90 raises: ArgumentError for an argument it cannot compute with, RunFailed for a run that failed.

torch raises RuntimeError for most such misuse (torch.nn.LSTM for a wrong h0 or input size)
and ValueError for some (a 4-D input); rot90 raises one error that is both, so a user's
`except RuntimeError` written for torch and the CLI's `except ValueError` both catch it.
"""


class ArgumentError(ValueError, RuntimeError):
    """A tensor or value handed to rot90 that it cannot compute with: what was wrong and where."""


class RunFailed(Exception):
    """A run or a check that was set up right and failed (a diverged training run): exit code 1, not 2."""
