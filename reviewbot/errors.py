"""Errors shared by the command and the modules it runs, so neither imports the other."""

from __future__ import annotations


class UsageError(Exception):
    """A command used wrongly (bad flags, an unknown handler): exit code 2, no traceback."""
