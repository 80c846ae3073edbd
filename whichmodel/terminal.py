"""User strings on a terminal: shown as text, never obeyed.

Labels, candidate names and file names come from the user's data. Passed to rich as
markup, a label holding ``[/]`` crashed `evaluate`, `choose`, `train` and `bench`; an ANSI
escape sequence in one reached the terminal raw (it could clear the screen or recolour
what follows). Every place that prints such a string goes through `printable` (plain
output) or `plain` (inside rich markup), or prints a `rich.text.Text` of `printable`.
"""

from __future__ import annotations

import re
from typing import Any

# C0/C1 control characters (ANSI escape sequences start with ESC) and the Unicode
# zero-width and direction-override characters that make a terminal show text other
# than what is there.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def printable(value: Any) -> str:
    """``str(value)`` with control characters shown as escapes (``\\x1b``, ``\\n``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"),
                        str(value))


def plain(value: Any) -> str:
    """`printable`, with rich markup escaped: ``[/]`` or ``[link=...]`` stays text."""
    from rich.markup import escape

    return escape(printable(value))


def text(value: Any, style: str = "") -> Any:
    """A `rich.text.Text` of `printable` (for table cells: never parsed as markup)."""
    from rich.text import Text

    return Text(printable(value), style=style)
