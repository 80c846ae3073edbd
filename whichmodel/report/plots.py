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
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from whichmodel.report.formatting import fmt_usd, fmt_usd_pair, fmt_volume, label_of
from whichmodel.report.labels import CALLOUT_OFFSETS, LabelPlacer, mpl_text, place_labels


def new_axes(width_in: float, height_in: float) -> tuple[Any, Any]:
    """A figure and its axes, built without pyplot: no backend switch, no global figure
    registry, nothing that would disturb a notebook's own plots (matplotlib imported
    here, on first use, to keep ``import whichmodel`` light)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)  # a renderer, so labels can be measured and kept in the frame
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


def candidate_colors(names: Sequence[str]) -> dict[str, Any]:
    """One stable colour per candidate name so a candidate looks the same in every plot."""
    palette = colormap("tab10").colors
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(set(names)))}


def _quality_std(summary: Any, metric: str) -> float:
    """The spread over seeds, 0 for one seed (whose "std" is no measurement)."""
    std = summary.quality_std(metric)
    if math.isnan(std) or getattr(summary, "n_runs", 2) < 2:
        return 0.0
    return float(std)


Intervals = Mapping[str, "tuple[float, float] | None"]  # choice label -> (low, high)


def _interval_bar(quality: float, interval: tuple[float, float] | None) -> Any:
    """The asymmetric error bar of ``interval`` around ``quality`` (matplotlib's
    ``yerr`` of one point), or None."""
    if interval is None:
        return None
    return [[max(quality - interval[0], 0.0)], [max(interval[1] - quality, 0.0)]]


def pareto_plot(verdicts: Sequence[Any], pareto: Sequence[Any], winner: Any | None,
                metric: str, min_quality: float | None, title: str, *,
                figure: bool = False, intervals: Intervals | None = None,
                level: float = 0.95) -> Any:
    """Quality against total cost over the horizon (log x), Pareto frontier connected.

    Points that fail a constraint are drawn hollow so the eye goes to what qualifies.
    Error bars: each point's ``level`` bootstrap interval from ``intervals`` (by choice
    label), else ± one std over seeds. PNG bytes, or the matplotlib `Figure` itself with
    ``figure=True``.
    """
    intervals = intervals or {}
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
        std = _quality_std(v.summary, metric)
        bar = _interval_bar(q, intervals.get(label_of(v.summary)))
        ax.errorbar(x_by_label[label_of(v.summary)], q,
                    yerr=bar if bar is not None else std if std > 0 else None,
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
                label=mpl_text(f"recommended: {label_of(winner.summary)}"))
    if min_quality is not None:
        ax.axhline(min_quality, color="#d62728", ls="--", lw=1,
                   label=f"quality bar ({metric} ≥ {min_quality:g})")
    scale = _money_axis(ax, "x", list(x_by_label.values()))
    ax.set_xlabel(f"total cost over the horizon (USD, {scale} scale)")
    ax.set_ylabel(quality_axis_label(metric, [v.summary for v, _ in points],
                                     _covered(intervals, [v.summary for v, _ in points]),
                                     level))
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    ax.margins(x=0.12, y=0.08)
    ax.plot([], [], "o", mfc="white", mec="#555", ls="none", label="fails a constraint")
    _legend_below(ax)
    star = ([(x_by_label[label_of(winner.summary)], winner.summary.quality(metric))]
            if winner is not None and label_of(winner.summary) in x_by_label else [])
    drawn = [([x_by_label[label_of(s)] for s in frontier], [s.quality(metric) for s in frontier])]
    if min_quality is not None:
        drawn.append((list(ax.get_xlim()), [min_quality, min_quality]))
    place_labels(ax, [(x_by_label[label_of(v.summary)], q, label_of(v.summary))
                      for v, q in points], avoid=star, lines=drawn)
    return fig if figure else to_png(fig)


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


def volume_grid(volume_per_month: float, decades: float = 3.0) -> np.ndarray:
    """Monthly volumes spanning ``decades`` either side of the scenario's, log-spaced."""
    centre = math.log10(max(volume_per_month, 1.0))
    return np.logspace(max(centre - decades, 0.0), centre + decades, 200)


class CostSwitch(NamedTuple):
    """Where the cheapest line of the cost chart changes: from `volume` (a whole number
    of items per month, just past the switch) `new` is cheaper than `old`; both totals
    are the cost model's at that volume. `switch` is the exact switch volume."""

    volume: float
    old: str
    new: str
    old_usd: float
    new_usd: float
    switch: float


def cost_switches(lines: Sequence[Any], scenario: Any, prices: Any,
                  volumes: np.ndarray) -> list[CostSwitch]:
    """Every volume inside the plotted range where the cheapest of `lines` changes.

    Only those: where two lines cross above the cheapest nothing a reader would do
    changes. Each switch carries both totals at the whole volume it is stated at, so a
    callout or a sentence quotes figures the cost model computed there.
    """
    from whichmodel.costs import total_cost_at_volumes
    from whichmodel.costs.model import cost_at
    from whichmodel.frontier import switch_points, volume_past

    total = cost_at(lines, scenario, prices)
    found = []
    for volume, old, new in switch_points(
            list(lines), lambda s, v: total_cost_at_volumes(s, scenario, prices, v),
            low=float(volumes[0]), high=float(volumes[-1])):
        a, b = label_of(old), label_of(new)
        at = volume_past(volume, lambda n, b=b: total(b, n), lambda n, a=a: total(a, n))
        found.append(CostSwitch(at, a, b, total(a, at), total(b, at), float(volume)))
    return found


def cost_volume_plot(lines: Sequence[Any], scenario: Any, prices: Any,
                     switches: Sequence[CostSwitch], volumes: np.ndarray, *,
                     figure: bool = False) -> Any:
    """Total cost over the horizon against monthly volume (log-log), one line each.

    Each volume where the cheapest line changes is marked, on the new cheapest line just
    past the switch; one callout per switch (one per stretch of churn, where choices of
    nearly equal throughput take turns at every instance step), staggered and kept
    inside the axes, quoting the two totals there. PNG bytes, or the `Figure` with
    ``figure=True``.
    """
    from whichmodel.costs import total_cost_at_volumes
    from whichmodel.frontier import switch_stretches

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
                label=mpl_text(label_of(summary)))
    for start, end in switch_stretches([(s.switch, s.old, s.new) for s in switches]):
        if end - start == 1:
            ax.plot(switches[start].volume, switches[start].new_usd, "o", ms=8, mfc="white",
                    mec="black", mew=1.5, zorder=5)
        else:  # churn: one shaded stretch, not a circle at every instance step
            ax.axvspan(switches[start].volume, switches[end - 1].volume, color="#888",
                       alpha=0.15, lw=0, zorder=1)
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
    _switch_callouts(ax, switches)
    return fig if figure else to_png(fig)


def _switch_callouts(ax: Any, switches: Sequence[CostSwitch]) -> None:
    """One callout per switch (or stretch of churn), staggered up and down, toward the
    inside of the axes, never over the frame."""
    from whichmodel.frontier import switch_stretches

    if not switches:
        return
    triples = [(s.switch, s.old, s.new) for s in switches]
    stretches = switch_stretches(triples)
    placer = LabelPlacer(ax, [(switches[a].volume, switches[a].new_usd) for a, b in stretches
                              if b - a == 1], point_radius_px=6)
    frame_mid = (placer.frame[0] + placer.frame[2]) / 2
    style = {"fontsize": 7, "arrowprops": {"arrowstyle": "-", "color": "#777", "lw": 0.7},
             "bbox": {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#ccc",
                      "alpha": 0.9}}
    for k, (start, end) in enumerate(stretches):
        first, last = switches[start], switches[end - 1]
        if end - start == 1:
            new_usd, old_usd = fmt_usd_pair(last.new_usd, last.old_usd)
            text = (f"{last.new} cheaper from {fmt_volume(last.volume)}/month\n"
                    f"{new_usd} vs {old_usd} ({last.old})" if last.new_usd < last.old_usd
                    else f"{last.new} = {last.old} from {fmt_volume(last.volume)}/month\n"
                         f"{new_usd} each")
        else:
            turns = list(dict.fromkeys([first.old] + [s.new for s in switches[start:end]]))
            text = (f"{' / '.join(turns)} take turns\n{end - start} switches, "
                    f"{fmt_volume(first.volume)}–{fmt_volume(last.volume)}/month (shaded)")
        px = placer.pixel(first.volume, first.new_usd)[0]
        toward = -1 if px > frame_mid else 1  # text on the side with room
        levels = (24, 48, 72, 96) if k % 2 == 0 else (-24, -48, -72, -96)
        other = tuple(-dy for dy in levels)
        offsets = [(toward * 10, dy) for pair in zip(levels, other) for dy in pair]
        offsets += [(-toward * 10, dy) for pair in zip(levels, other) for dy in pair]
        placer.place(text, (first.volume, first.new_usd), offsets, **style)


def learning_curve_plot(summaries: Sequence[Any], metric: str, min_quality: float | None,
                        usd_per_label: float, *, figure: bool = False,
                        intervals: Intervals | None = None, level: float = 0.95) -> Any:
    """Quality against labels per candidate, annotation cost on the top axis. The band:
    each budget's ``level`` bootstrap interval from ``intervals`` (by choice label) where
    every budget of the candidate has one, else ± one std over seeds.

    Returns None when no candidate was run at two or more label budgets: one point is not
    a curve, and the page says so instead. PNG bytes, or the `Figure` with ``figure=True``.
    """
    intervals = intervals or {}
    from whichmodel.choose import learning_curve, smallest_budget_meeting

    names = sorted({s.candidate for s in summaries})
    curves = {n: [p for p in learning_curve(summaries, n, metric) if p[0] > 0] for n in names}
    if not any(len(points) >= 2 for points in curves.values()):
        return None
    colors = candidate_colors(names)
    fig, ax = new_axes(9, 5.2)
    callouts: list[tuple[str, tuple[float, float], Any]] = []
    for name in names:
        points = sorted(curves[name])
        color = colors[name]
        if not points:  # zero-shot candidates: no labels, a level to beat
            zero = [p for p in learning_curve(summaries, name, metric) if p[0] == 0]
            if zero:
                ax.axhline(zero[0][1], color=color, ls=":", lw=1.5,
                           label=mpl_text(f"{name} (zero-shot, 0 labels)"))
            continue
        n, mean, std = (np.array(col, dtype=float) for col in zip(*points))
        std = np.nan_to_num(std)
        ax.plot(n, mean, "o-", color=color, lw=2, ms=5, label=mpl_text(name))
        band = _curve_band(summaries, name, metric, intervals)
        low, high = band if band is not None else (mean - std, mean + std)
        ax.fill_between(n, low, high, color=color, alpha=0.15, lw=0)
        if min_quality is None:
            continue
        best = smallest_budget_meeting(summaries, name, metric, min_quality)
        if best is not None and best.n_labels > 0:
            ax.plot(best.n_labels, best.quality(metric), "o", ms=14, mfc="none", mec=color,
                    mew=2, zorder=5)
            cost = f" = {fmt_usd(best.n_labels * usd_per_label)}" if usd_per_label else ""
            callouts.append((f"{name}: {best.n_labels:,.0f} labels{cost}",
                             (best.n_labels, best.quality(metric)), color))
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
    ax.set_ylabel(quality_axis_label(metric, summaries, _covered(intervals, [
        s for s in summaries if s.n_labels > 0]), level))
    if usd_per_label and usd_per_label > 0:
        top = ax.secondary_xaxis("top", functions=(lambda n: n * usd_per_label,
                                                   lambda usd: usd / usd_per_label))
        _count_axis(top.xaxis, fmt_usd, minor=short)
        top.set_xlabel(f"annotation cost (USD at {fmt_usd(usd_per_label)} per label)")
    ax.set_title("Learning curves: what more labels buy", fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    _legend_below(ax, ncol=4)
    if callouts:
        placer = LabelPlacer(ax, [(n_, q) for points in curves.values() for n_, q, _ in points])
        placer.avoid([xy for _, xy, _ in callouts], radius_pt=8)  # the rings
        for points in curves.values():
            placer.avoid_line([p[0] for p in sorted(points)], [p[1] for p in sorted(points)])
        if min_quality is not None:
            placer.avoid_line(list(ax.get_xlim()), [min_quality, min_quality])
        for text, xy, color in callouts:
            placer.place(text, xy, CALLOUT_OFFSETS, fontsize=7.5, color=color,
                         bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                               "alpha": 0.85})
    return fig if figure else to_png(fig)


def _curve_band(summaries: Sequence[Any], candidate: str, metric: str,
                intervals: Intervals) -> tuple[np.ndarray, np.ndarray] | None:
    """(lows, highs) of the candidate's learning-curve points, in the curve's order
    (`learning_curve`'s), when every point has an interval; else None."""
    own = sorted((float(s.n_labels), s.quality(metric), _quality_std(s, metric), label_of(s))
                 for s in summaries if s.candidate == candidate and s.n_labels > 0
                 and not math.isnan(s.quality(metric)))
    found = [intervals.get(label) for *_, label in own]
    if not found or any(f is None for f in found):
        return None
    return np.array([f[0] for f in found]), np.array([f[1] for f in found])


def _covered(intervals: Intervals, summaries: Sequence[Any]) -> str:
    """"all", "some" or "none": how many of ``summaries`` have an interval to draw."""
    have = [intervals.get(label_of(s)) is not None for s in summaries]
    return "all" if have and all(have) else "some" if any(have) else "none"


def quality_axis_label(metric: str, summaries: Sequence[Any], intervals: str = "none",
                       level: float = 0.95) -> str:
    """``accuracy (mean ± std over seeds)``, or ``accuracy (one seed)`` when no choice was
    run with two seeds or more: a spread of one run is no spread, and 0.000 would claim one.
    With ``intervals`` ("all" or "some" of the points have one) it says the bars or bands
    are those bootstrap intervals (where stored, else ± std)."""
    spread = any(getattr(s, "n_runs", 1) >= 2 for s in summaries)
    mean = "mean over seeds" if spread else "one seed"
    if intervals == "all":
        return f"{metric} ({mean}; {level:.0%} interval)"
    if intervals == "some":
        return f"{metric} ({mean}; {level:.0%} interval where stored, else ± std)"
    return f"{metric} (mean ± std over seeds)" if spread else f"{metric} (one seed)"
