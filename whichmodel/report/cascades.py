"""The report's cascade section: quality and cost against the threshold τ of one cascade.

A cascade (`whichmodel.route`, derived by `whichmodel.cascade_choice`) trades the cost of
its second model against quality through τ; the figure shows that trade on the
validation split, where τ was chosen, for the cascade the page features: the recommended
one, else the cheapest that qualifies, else the best on quality.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from whichmodel.report.formatting import fmt_usd, label_of
from whichmodel.report.labels import mpl_text
from whichmodel.report.plots import to_png


def cascade_verdicts(rec: Any) -> list[Any]:
    """The verdicts of ``rec`` that are cascades'."""
    return [v for v in rec.verdicts if getattr(v.summary, "stages", None)]


def featured_cascade(rec: Any) -> Any | None:
    """The cascade verdict to plot: the winner if it is one, else the cheapest cascade
    that qualifies, else the best on the scenario's metric; None without cascades."""
    cascades = cascade_verdicts(rec)
    if not cascades:
        return None
    if rec.winner is not None and rec.winner in cascades:
        return rec.winner
    passing = [v for v in cascades if v.qualifies]
    if passing:
        return min(passing, key=lambda v: v.cost.total_usd)
    metric = rec.scenario.metric
    return max(cascades, key=lambda v: _finite(v.summary.quality(metric)))


def _finite(value: float) -> float:
    return value if value is not None and not math.isnan(value) else -math.inf


def threshold_plot(summary: Any, metric: str, min_quality: float | None, *,
                   figure: bool = False) -> Any:
    """Two panels over τ (validation): the cascade's ``metric`` with its two models' own
    and the bar; its total cost with the share of items escalated. The chosen τ is marked
    in both. PNG bytes (the `Figure` with ``figure=True``); None without a sweep."""
    points = [(p, usd) for p, usd in zip(summary.sweep, summary.sweep_total_usd)
              if metric in p.quality]
    if len(points) < 2:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    taus = [p.threshold for p, _ in points]
    fig = Figure(figsize=(9, 6.4))  # as `plots.new_axes`, with two panels sharing τ
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(taus, [p.quality[metric] for p, _ in points], "-", color="#1f5fbf", lw=1.8,
             label=mpl_text(f"cascade {metric}"))
    for part, style in ((summary.first, ":"), (summary.second, "--")):
        q = part.quality(metric)
        if not math.isnan(q):
            top.axhline(q, color="#555", ls=style, lw=1,
                        label=mpl_text(f"{label_of(part)} alone ({q:.3f})"))
    if min_quality is not None:
        top.axhline(min_quality, color="#d62728", ls="--", lw=1,
                    label=f"quality bar ({metric} ≥ {min_quality:g})")
    chosen = summary.threshold
    for ax in (top, bottom):
        ax.axvline(chosen, color="#2ca02c", lw=1.2,
                   label=f"chosen τ = {chosen:g}, {summary.escalated_share:.0%} escalated")
        ax.grid(True, alpha=0.25)
    top.set_ylabel(f"{metric} on validation")
    top.set_title(mpl_text(f"{label_of(summary)}: quality and cost against τ"), fontsize=10.5)
    top.legend(fontsize=7.5, loc="best", framealpha=0.85)
    (cost_line,) = bottom.plot(taus, [usd for _, usd in points], "-", color="#9467bd",
                               lw=1.8, label="total cost at the scenario (left)")
    share = bottom.twinx()
    (share_line,) = share.plot(taus, [100 * p.escalated_share for p, _ in points], "-",
                               color="#ff7f0e", lw=1.2,
                               label="items sent to the second model (right)")
    share.set_ylim(-2, 102)
    share.set_ylabel("% escalated")
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda x, _: mpl_text(fmt_usd(x))))
    bottom.set_ylabel("total (USD)")
    bottom.set_xlabel("τ: the first model answers when its confidence is at least τ "
                      "(green: the τ chosen on validation)")
    lines = [cost_line, share_line]
    bottom.legend(lines, [line.get_label() for line in lines], fontsize=7.5, loc="best",
                  framealpha=0.85)
    return fig if figure else to_png(fig)


def cascade_section(rec: Any, figure_html: Any) -> str:
    """The section's HTML: the featured cascade's figure and what it says, with every
    cascade listed; a note when there is none. ``figure_html(png, alt, caption,
    missing)`` is the page's figure block."""
    scenario = rec.scenario
    featured = featured_cascade(rec)
    if featured is None:
        return ('<p class="note">No cascade: none was derived (--no-cascades, fewer than '
                "two choices with stored validation and test predictions on common seeds, "
                "or no choice both better and dearer per item than one on the Pareto "
                "frontier).</p>")
    s, metric = featured.summary, scenario.metric
    png = threshold_plot(s, metric, scenario.min_quality)
    test = s.test_escalated_share
    caption = (f"{escape(label_of(s))}: the first model, {escape(label_of(s.first))}, "
               f"answers every item whose confidence is at least τ; "
               f"{escape(label_of(s.second))} answers the rest. On validation, where τ = "
               f"{s.threshold:g} was chosen (the cheapest τ whose quality meets "
               + ("the second model's own" if scenario.min_quality is None else "the bar")
               + ", when one does), "
               f"{s.escalated_share:.1%} of items go to the second model"
               + (f"; on test {test:.1%}" if test is not None else "")
               + f". Total at the chosen τ: {fmt_usd(featured.cost.total_usd)}.")
    rows = "".join(
        f"<tr><td>{escape(label_of(v.summary))}</td>"
        f"<td class=num>{v.summary.escalated_share:.1%}</td>"
        f"<td class=num>{_q(v.summary.quality(metric))}</td>"
        f"<td class=num>{_q(v.summary.test_quality(metric))}</td>"
        f"<td class=num>{fmt_usd(v.cost.total_usd)}</td>"
        f"<td>{'qualifies' if v.qualifies else escape('; '.join(v.failed))}</td></tr>"
        for v in cascade_verdicts(rec))
    table = ('<div class="scroll"><table><thead><tr><th>cascade</th><th>escalated '
             f"(validation)</th><th>{escape(metric)}, validation</th><th>{escape(metric)}, "
             "test</th><th>total</th><th>verdict</th></tr></thead>"
             f"<tbody>{rows}</tbody></table></div>")
    note = ('<p class="muted">Cascades are derived from the runs\' stored predictions (no '
            "training, no model calls): an item goes to the first model, and to the second "
            "when the first's confidence is below τ. Labels are the larger count of the "
            "two when both trained at one budget (the same rows), the sum otherwise; "
            "training is both; inference is the first on every item plus the second on "
            "the share escalated.</p>")
    return figure_html(png, "Cascade quality and cost against the threshold", caption,
                       "No sweep to plot.") + table + note


def _q(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"
