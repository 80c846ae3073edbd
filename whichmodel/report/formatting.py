"""How the report writes figures a user reads: choice labels, volumes, dollars, short text.

Shared by the plots, the sections and the HTML page, so a volume or a total reads the
same in a caption as in a table.
"""

from __future__ import annotations

import math
from typing import Any


def label_of(summary: Any) -> str:
    """How a candidate at a label budget is named everywhere: ``"setfit @ 8/class"``."""
    return f"{summary.candidate} @ {summary.budget}"


def fmt_volume(items: float) -> str:
    """1200 -> "1.2k", 5e6 -> "5M": volumes read at a glance."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(items) >= scale:
            return f"{items / scale:.3g}{suffix}"
    return f"{items:.3g}"


def fmt_usd(usd: float) -> str:
    """Dollars with precision that matches their size: $0.042, $12.30, $4,210."""
    if usd is None or (isinstance(usd, float) and math.isnan(usd)):
        return "n/a"
    if abs(usd) >= 100:
        return f"${usd:,.0f}"
    if abs(usd) >= 1:
        return f"${usd:,.2f}"
    if usd == 0:
        return "$0"
    if abs(usd) < 0.01:  # fractions of a cent are noise next to the other costs
        return "<$0.01" if usd > 0 else "-<$0.01"
    return f"${usd:.2g}"


def fmt_usd_pair(a: float, b: float) -> tuple[str, str]:
    """Two totals as `fmt_usd` shows them, with more decimals when that would show two
    different totals as the same figure ($798.5341 and $798.5342, not $799 and $799)."""
    shown = fmt_usd(a), fmt_usd(b)
    digits = 2
    while shown[0] == shown[1] and a != b and digits <= 6:
        shown = f"${a:,.{digits}f}", f"${b:,.{digits}f}"
        digits += 1
    return shown


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis: long class names in ticks."""
    return text if len(text) <= width else text[: width - 1] + "…"
