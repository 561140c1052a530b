"""User-facing errors: the CLI prints these as one clear message, never as a traceback."""


class OversightError(Exception):
    """An error caused by the user's input (a program, a config, a command-line value)."""


class BudgetExceeded(OversightError):
    """A budgeted actor tried to spend more than it has."""
