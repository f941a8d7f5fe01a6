"""Errors a command says in one line (no traceback): the user can act on the message."""


class CommandError(Exception):
    """Bad input or a failed step, explained; ``energy-assets`` prints it and exits with
    ``exit_code``."""

    exit_code = 2
