"""Errors that are part of the interface: each message names the file/row/field and the fix.

The CLI turns any `WhichmodelError` into a one-line message and exit code 2.
"""

from __future__ import annotations


class WhichmodelError(Exception):
    """Base of every error whichmodel raises on purpose for bad input or usage."""


class DataError(WhichmodelError, ValueError):
    """The user's data is unreadable, malformed or does not fit the request."""


class SpecError(WhichmodelError, ValueError):
    """An experiment spec (YAML) is invalid; the message names the field."""


class SettingError(WhichmodelError, ValueError):
    """A model setting has a value its family cannot use; names the setting and choices."""


class UsageError(WhichmodelError, ValueError):
    """A command was called with arguments that cannot work together."""
