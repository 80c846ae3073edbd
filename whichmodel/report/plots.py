"""The report's figures, each rendered to PNG bytes so the HTML can embed them.

Why PNG bytes and not live figures: the report is one self-contained file that must open
anywhere (mail attachment, CI artefact, air-gapped laptop), so every figure is rasterised
here and inlined as a data URI by `whichmodel.report.html`. matplotlib is imported lazily
(Agg backend, no display) because `import whichmodel` must stay light.

Every function returns ``None`` when its figure cannot be drawn from the evidence (one
budget only, no confusion matrix, ...) so the page can show a note instead of crashing.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def new_axes(width_in: float, height_in: float) -> tuple[Any, Any]:
    """A figure and its axes, built without pyplot: no backend switch, no global figure
    registry, nothing that would disturb a notebook's own plots (matplotlib imported
    here, on first use, to keep ``import whichmodel`` light)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    return fig, fig.subplots()


def colormap(name: str) -> Any:
    """A matplotlib colormap by name (lazy import)."""
    import matplotlib

    return matplotlib.colormaps[name]


def to_png(fig: Any) -> bytes:
    """Rasterise a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI: how the HTML embeds a figure in itself."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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


def candidate_colors(names: Sequence[str]) -> dict[str, Any]:
    """One stable colour per candidate name so a candidate looks the same in every plot."""
    palette = colormap("tab10").colors
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(set(names)))}


def _quality_std(summary: Any, metric: str) -> float:
    std = summary.quality_std(metric)
    return 0.0 if math.isnan(std) else float(std)


def pareto_plot(verdicts: Sequence[Any], pareto: Sequence[Any], winner: Any | None,
                metric: str, min_quality: float | None, title: str) -> bytes | None:
    """Quality against total cost over the horizon (log x), Pareto frontier connected.

    Points that fail a constraint are drawn hollow so the eye goes to what qualifies.
    """
    points = [(v, v.summary.quality(metric)) for v in verdicts]
    points = [(v, q) for v, q in points if q is not None and not math.isnan(q)]
    if not points:
        return None
    colors = candidate_colors([v.summary.candidate for v, _ in points])
    fig, ax = new_axes(9, 5.4)
    floor = min((v.cost.total_usd for v, _ in points if v.cost.total_usd > 0), default=1.0)
    x_by_label = {label_of(v.summary): max(v.cost.total_usd, floor / 10) for v, _ in points}
    for v, q in points:
        color = colors[v.summary.candidate]
        ax.errorbar(x_by_label[label_of(v.summary)], q, yerr=_quality_std(v.summary, metric),
                    fmt="o", ms=7, mfc=color if v.qualifies else "white", mec=color,
                    ecolor=color, elinewidth=1, capsize=2, zorder=3)
    frontier = sorted((s for s in pareto if label_of(s) in x_by_label),
                      key=lambda s: x_by_label[label_of(s)])
    if len(frontier) > 1:
        ax.plot([x_by_label[label_of(s)] for s in frontier],
                [s.quality(metric) for s in frontier], "-", color="#888", lw=1.2,
                zorder=2, label="Pareto frontier")
    if winner is not None and label_of(winner.summary) in x_by_label:
        ax.plot(x_by_label[label_of(winner.summary)], winner.summary.quality(metric),
                marker="*", ms=22, mfc="none", mec="#d62728", mew=2, ls="none", zorder=4,
                label=f"recommended: {label_of(winner.summary)}")
    if min_quality is not None:
        ax.axhline(min_quality, color="#d62728", ls="--", lw=1,
                   label=f"quality bar ({metric} ≥ {min_quality:g})")
    scale = _money_axis(ax, "x", list(x_by_label.values()))
    ax.set_xlabel(f"total cost over the horizon (USD, {scale} scale)")
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    ax.margins(x=0.12, y=0.08)
    ax.plot([], [], "o", mfc="white", mec="#555", ls="none", label="fails a constraint")
    _legend_below(ax)
    place_labels(ax, [(x_by_label[label_of(v.summary)], q, label_of(v.summary))
                      for v, q in points])
    return to_png(fig)


def _legend_below(ax: Any, ncol: int = 3) -> None:
    """Legend under the axes: inside, it hides points and labels sooner or later."""
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=ncol,
              frameon=False)


def _money_axis(ax: Any, which: str, values: Sequence[float], *,
                pad_near_equal: bool = False) -> str:
    """Dollar tick labels; log scale unless all values sit within one decade, where log
    ticks would read 7.86×10² and the differences matter more than the orders."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    positive = [v for v in values if v > 0]
    wide = bool(positive) and max(positive) / min(positive) >= 10
    scale = "log" if wide else "linear"
    (ax.set_xscale if which == "x" else ax.set_yscale)(scale)
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(FuncFormatter(lambda x, _: fmt_usd(x)))
    axis.set_minor_formatter(NullFormatter())
    if pad_near_equal and not wide and positive \
            and max(positive) - min(positive) < 0.05 * max(positive):
        # near-equal costs: show them as near-equal, not as a zoomed-in cent difference
        pad = 0.1 * max(positive)
        (ax.set_xlim if which == "x" else ax.set_ylim)(min(positive) - pad,
                                                       max(positive) + pad)
    return scale


def _count_axis(axis: Any, fmt: Any, minor: bool) -> None:
    """Plain numbers (``80``, ``1.2k``, ``$9``) on a log axis instead of ``8×10¹``; with
    ``minor`` (short ranges) the 2s and 5s between decades are labelled too."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _: fmt(x)))
    if minor:
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(lambda x, _: fmt(x)))
    else:
        axis.set_minor_formatter(NullFormatter())


def place_labels(ax: Any, items: Sequence[tuple[float, float, str]],
                 fontsize: float = 7.5) -> None:
    """Annotate points without overlaps: try a few offsets per label, keep the first
    that collides with no label or point already placed (greedy, display space)."""
    fig = ax.figure
    fig.draw_without_rendering()  # lays out ticks so data → pixel transforms hold
    to_px = fig.dpi / 72.0
    points = [ax.transData.transform((x, y)) for x, y, _ in items]
    taken = [(px - 5 * to_px, py - 5 * to_px, px + 5 * to_px, py + 5 * to_px)
             for px, py in points]
    for (x, y, text), (px, py) in sorted(zip(items, points), key=lambda t: (-t[1][1], t[1][0])):
        width, height = 0.56 * fontsize * len(text), fontsize * 1.2
        tries = [(7, 3), (7, -12), (7, 12), (7, -21), (-7 - width, 3), (-7 - width, -12),
                 (7, 21), (-7 - width, 12), (7, -30), (-width / 2, 14), (-width / 2, -24)]
        chosen = tries[0]
        for dx, dy in tries:
            box = (px + dx * to_px, py + dy * to_px, px + (dx + width) * to_px,
                   py + (dy + height) * to_px)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in taken):
                chosen = (dx, dy)
                break
        dx, dy = chosen
        taken.append((px + dx * to_px, py + dy * to_px, px + (dx + width) * to_px,
                      py + (dy + height) * to_px))
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy),
                    fontsize=fontsize, color="#333", va="bottom", ha="left")


def volume_grid(volume_per_month: float, decades: float = 3.0) -> np.ndarray:
    """Monthly volumes spanning ``decades`` either side of the scenario's, log-spaced."""
    centre = math.log10(max(volume_per_month, 1.0))
    return np.logspace(max(centre - decades, 0.0), centre + decades, 200)


def break_evens(lines: Sequence[Any], scenario: Any, prices: Any,
                volumes: np.ndarray) -> list[tuple[str, str, float, float]]:
    """(a, b, volume per month, total USD) where two plotted candidates cost the same.

    Only crossings inside the plotted range are kept; they are where the cheaper choice
    flips, which is what a reader of the cost chart wants to know.
    """
    from whichmodel.costs import break_even_volumes, total_cost_at_volumes

    found = []
    for i, a in enumerate(lines):
        for b in lines[i + 1:]:
            # step costs (whole instances) can cross several times; three say enough
            crossings = break_even_volumes(a, b, scenario, prices, low=float(volumes[0]),
                                           high=float(volumes[-1]))[:3]
            for volume in crossings:
                total = float(total_cost_at_volumes(a, scenario, prices,
                                                    np.array([volume]))[0])
                found.append((label_of(a), label_of(b), float(volume), total))
    return sorted(found, key=lambda row: row[2])


def cost_volume_plot(lines: Sequence[Any], scenario: Any, prices: Any,
                     crossings: Sequence[tuple[str, str, float, float]],
                     volumes: np.ndarray) -> bytes | None:
    """Total cost over the horizon against monthly volume (log-log), one line each.

    Break-even points are marked and annotated so the reader sees at which volume the
    ranking changes, not just who wins at the one volume they typed.
    """
    from whichmodel.costs import total_cost_at_volumes

    if not lines:
        return None
    colors = candidate_colors([s.candidate for s in lines])
    fig, ax = new_axes(9, 5.4)
    everything: list[float] = []
    for i, summary in enumerate(lines):
        totals = np.asarray(total_cost_at_volumes(summary, scenario, prices, volumes), float)
        everything += totals.tolist()
        # thick to thin, so a line hidden under an equal one still shows at its edges
        ax.plot(volumes, np.maximum(totals, 1e-6), lw=2 + 2.5 * (len(lines) - 1 - i) /
                max(len(lines) - 1, 1), color=colors[summary.candidate], alpha=0.9,
                label=label_of(summary))
    for k, (a, b, volume, total) in enumerate(crossings):
        ax.plot(volume, total, "o", ms=8, mfc="white", mec="black", mew=1.5, zorder=5)
        ax.annotate(f"{a} = {b}\nat {fmt_volume(volume)}/month", (volume, total),
                    textcoords="offset points", xytext=(8, 12 if k % 2 == 0 else -26),
                    fontsize=7, arrowprops={"arrowstyle": "-", "color": "#777", "lw": 0.7},
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#ccc",
                          "alpha": 0.9})
    ax.axvline(scenario.volume_per_month, color="#555", ls=":", lw=1.2,
               label=f"your volume: {fmt_volume(scenario.volume_per_month)}/month")
    ax.set_xscale("log")
    _count_axis(ax.xaxis, fmt_volume, minor=False)
    scale = _money_axis(ax, "y", everything, pad_near_equal=True)
    ax.set_xlabel("volume (items per month, log scale)")
    ax.set_ylabel(f"total cost over {scenario.horizon_months:g} months (USD, {scale})")
    ax.set_title("Total cost against volume (annotation + training + inference)",
                 fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    _legend_below(ax)
    return to_png(fig)


def learning_curve_plot(summaries: Sequence[Any], metric: str, min_quality: float | None,
                        usd_per_label: float) -> bytes | None:
    """Quality against labels per candidate (±std band), annotation cost on the top axis.

    Returns None when no candidate was run at two or more label budgets: one point is not
    a curve, and the page says so instead.
    """
    from whichmodel.choose import learning_curve, smallest_budget_meeting

    names = sorted({s.candidate for s in summaries})
    curves = {n: [p for p in learning_curve(summaries, n, metric) if p[0] > 0] for n in names}
    if not any(len(points) >= 2 for points in curves.values()):
        return None
    colors = candidate_colors(names)
    fig, ax = new_axes(9, 5.2)
    for name in names:
        points = sorted(curves[name])
        color = colors[name]
        if not points:  # zero-shot candidates: no labels, a level to beat
            zero = [p for p in learning_curve(summaries, name, metric) if p[0] == 0]
            if zero:
                ax.axhline(zero[0][1], color=color, ls=":", lw=1.5,
                           label=f"{name} (zero-shot, 0 labels)")
            continue
        n, mean, std = (np.array(col, dtype=float) for col in zip(*points))
        std = np.nan_to_num(std)
        ax.plot(n, mean, "o-", color=color, lw=2, ms=5, label=name)
        ax.fill_between(n, mean - std, mean + std, color=color, alpha=0.15, lw=0)
        if min_quality is None:
            continue
        best = smallest_budget_meeting(summaries, name, metric, min_quality)
        if best is not None and best.n_labels > 0:
            ax.plot(best.n_labels, best.quality(metric), "o", ms=14, mfc="none", mec=color,
                    mew=2, zorder=5)
            cost = f" = {fmt_usd(best.n_labels * usd_per_label)}" if usd_per_label else ""
            ax.annotate(f"{name}: {best.n_labels:,.0f} labels{cost}",
                        (best.n_labels, best.quality(metric)), textcoords="offset points",
                        xytext=(10, -16), fontsize=7.5, color=color,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                              "alpha": 0.85})
    if min_quality is not None:
        ax.axhline(min_quality, color="#d62728", ls="--", lw=1,
                   label=f"quality bar ({min_quality:g})")
    ax.set_xscale("log")
    counts = [p[0] for points in curves.values() for p in points]
    short = max(counts) / min(counts) < 100
    _count_axis(ax.xaxis, lambda x: f"{x:,.0f}", minor=short)
    if len(set(counts)) <= 8:  # label the budgets that were run, nothing in between
        from matplotlib.ticker import NullLocator

        ax.set_xticks(sorted(set(counts)))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    if usd_per_label and usd_per_label > 0:
        top = ax.secondary_xaxis("top", functions=(lambda n: n * usd_per_label,
                                                   lambda usd: usd / usd_per_label))
        _count_axis(top.xaxis, fmt_usd, minor=short)
        top.set_xlabel(f"annotation cost (USD at {fmt_usd(usd_per_label)} per label)")
    ax.set_title("Learning curves: what more labels buy", fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    _legend_below(ax, ncol=4)
    return to_png(fig)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis: long class names in ticks."""
    return text if len(text) <= width else text[: width - 1] + "…"
