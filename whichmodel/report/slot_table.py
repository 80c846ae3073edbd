"""The report's intent + slot table: joint and dual models (and any other choice scored
on slot data) side by side, with what a deployment pays for each.

Why its own table: the candidate table shows the scenario's metric and accuracy, but the
question for intent + slot data is whether one joint model matches two single-task
models on intents, slots and whole frames at a lower latency and cost, which needs the
three figures, latency per item and cost in one row each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from whichmodel.report.formatting import fmt_usd, label_of

SLOT_METRICS = ("intent_accuracy", "slot_f1", "frame_accuracy")


def slot_section(rec: Any) -> str:
    """The table's HTML, on test, each figure the mean over seeds; joint against dual
    latency stated as a ratio when both are there."""
    verdicts = _slot_verdicts(rec)
    if not verdicts:
        return ('<p class="note">No intent + slot data: these runs were not scored on slot '
                "tags (bench a .conll file or SLURP JSON lines with the joint and dual "
                "families to compare one joint model with two single-task ones).</p>")
    head = ["candidate @ budget", "intent accuracy", "slot F1", "frame accuracy",
            "p50 ms / item", "p95 ms / item", "items/s", "train s", "total"]
    rows = []
    for v in verdicts:
        s, d = v.summary, v.summary.drivers
        cells = [escape(label_of(s)),
                 *(_num(s.test_quality(name)) for name in SLOT_METRICS),
                 _num(d.latency_p50_ms, "{:.2f}"), _num(d.latency_p95_ms, "{:.2f}"),
                 _num(d.throughput_items_per_s, "{:,.0f}"), _num(d.train_seconds, "{:.1f}"),
                 fmt_usd(v.cost.total_usd)]
        tds = "".join(f"<td>{c}</td>" if i == 0 else f"<td class=num>{c}</td>"
                      for i, c in enumerate(cells))
        rows.append(f"<tr>{tds}</tr>")
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f'<div class="scroll"><table><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            f'<p class="muted">{escape(_ratio_note(verdicts))}Test split. Slot F1 counts '
            "exact spans (type and both boundaries, micro, as conlleval does); a frame is "
            "right when its intent and every slot are. A family that predicts no slots "
            "shows intent accuracy only. Latency is per single item on the deployment "
            "hardware; a dual model runs both of its models for every item.</p>")


def _slot_verdicts(rec: Any) -> list[Any]:
    return [v for v in rec.verdicts if not getattr(v.summary, "stages", None)
            and not math.isnan(v.summary.test_quality("intent_accuracy"))]


def _ratio_note(verdicts: Sequence[Any]) -> str:
    """'dual's p95 is 1.9× joint's' for the best joint and dual choice at one budget."""
    by_family: dict[str, Any] = {}
    for v in verdicts:
        family = getattr(v.summary, "family", None)
        if family in ("joint", "dual") and family not in by_family:
            by_family[family] = v.summary
    joint, dual = by_family.get("joint"), by_family.get("dual")
    if joint is None or dual is None:
        return ""
    a, b = joint.drivers.latency_p95_ms, dual.drivers.latency_p95_ms
    if not a or not b:
        return ""
    return (f"{label_of(dual)} takes {b / a:.2f}× the p95 latency per item of "
            f"{label_of(joint)}. ")


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)
