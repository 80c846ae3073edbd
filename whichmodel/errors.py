"""Errors that are part of the interface: each message names the file/row/field and the fix.

The CLI turns any `WhichmodelError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

# Bounded work as well as bounded output: repr() of a value shared a billion times
# through YAML aliases would take gigabytes before any cut.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 3, 5, 5, 5
_SHORT.maxset = _SHORT.maxfrozenset = _SHORT.maxdeque = _SHORT.maxarray = 5
_SHORT.maxstring = _SHORT.maxother = 200
_SHORT.maxlong = 40


def quote(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters with the full size
    said (``'aaaa…' (5,000,000 chars)``): an error line quotes the user's value, and that
    value may be a megabyte string or an alias bomb."""
    if isinstance(value, (str, bytes, bytearray)):
        if len(value) <= limit:
            return repr(value)
        unit = "chars" if isinstance(value, str) else "bytes"
        return f"{value[:limit]!r}… ({len(value):,} {unit})"
    try:
        text = _SHORT.repr(value)
    except ValueError:  # int with more digits than Python converts to text
        return f"<a {type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[:limit] + "…"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was: for a message that
    passes on text built from the input (a parser's complaint) rather than a value."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


def did_you_mean(word: str, options: Iterable[str], prefer: Iterable[str] = ()) -> str:
    """`` (did you mean 'text'?)`` for the closest option, or ``""``: typos get a fix.

    Without a close match, the first option named like one of ``prefer`` (lower case) is
    suggested: ``--label intent`` on columns text, label means 'label', not 'text'."""
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:  # a case slip ('Text' for 'text') is the commonest miss of all
        close = [o for o in options if o.lower() == word.lower()][:1]
    if not close:
        wanted = list(prefer)
        named = [o for o in options if o.lower() in wanted]
        close = sorted(named, key=lambda o: wanted.index(o.lower()))[:1]
    return f" (did you mean {quote(close[0])}?)" if close else ""


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


class LLMEndpointError(WhichmodelError, RuntimeError):
    """More items than a model's ``max_failures`` got no answer from its LLM endpoint
    (after retries); names how many and the last error. Answers already received stay in
    the answer cache, so a rerun pays only for the rest."""
