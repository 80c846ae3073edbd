"""Errors that are part of the interface: each message names the file/row/field and the fix.

The CLI turns any `WhichmodelError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'text'?)`` for the closest option, or ``""``: typos get a fix."""
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:  # a case slip ('Text' for 'text') is the commonest miss of all
        close = [o for o in options if o.lower() == word.lower()][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


class WhichmodelError(Exception):
    """Base of every error whichmodel raises on purpose for bad input or usage."""


class DataError(WhichmodelError, ValueError):
    """The user's data is unreadable, malformed or does not fit the request."""


class SpecError(WhichmodelError, ValueError):
    """An experiment spec (YAML) is invalid; the message names the field."""


class SettingError(WhichmodelError, ValueError):
    """A model setting has a value its family cannot use; names the setting and choices."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting  # lets a spec error point at `.settings.<setting>`


class UsageError(WhichmodelError, ValueError):
    """A command was called with arguments that cannot work together."""
