"""The HTML report: one self-contained file with the recommendation, its evidence and plots.

Why one file with everything inlined (figures as data URIs, CSS in a <style>, no fonts,
no scripts from elsewhere): the report travels — attached to a ticket, archived by CI,
opened offline — and must look the same wherever it lands. The one inline script only
marks the <body> once every figure has decoded, which the rendering test checks.

Every number on the page is either measured (on the machine named in the header) or
computed from the dated price table; the methods section says which is which.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from whichmodel.report import class_plots, plots
from whichmodel.report.cascades import cascade_section, featured_cascade
from whichmodel.report.choice_intervals import ChoiceIntervals, choice_intervals
from whichmodel.report.formatting import fmt_usd, fmt_volume, label_of
from whichmodel.report.sections import (
    CSS,
    DECODE_SCRIPT,
    candidate_table,
    closest_verdicts,
    failed_runs_section,
    is_winner,
    machine_of,
    methods_section,
    recommendation_section,
    sorted_verdicts,
    table_metrics,
)
from whichmodel.report.slot_table import slot_section

SECTIONS = (
    ("recommendation", "Recommendation"),
    ("candidates", "All candidates"),
    ("pareto", "Quality vs cost"),
    ("cost-volume", "Cost vs volume"),
    ("cascade", "Cascade"),
    ("slots", "Intents + slots"),
    ("learning-curves", "Learning curves"),
    ("per-class-f1", "Per-class F1"),
    ("confusion", "Confusions"),
    ("failed-runs", "Failed runs"),
    ("methods", "Methods"),
)


def write_report(recommendation: Any, records: Sequence[Any], prices: Any,
                 out_path: str | Path, *, title: str | None = None,
                 ledger: str | Path | None = None) -> Path:
    """Write the report of ``recommendation`` to ``out_path``; return the path.

    The page shows the `Recommendation` it is given, never one of its own, so it says
    what `choose` said. ``records`` are the runs it was made from (the per-class figures,
    the failed runs and the header read them) and ``prices`` the table it was priced with
    (the cost curves and the methods section). ``ledger``, the file the runs were read
    from, gives every quality figure its bootstrap interval from the per-item predictions
    stored there (`choice_intervals`); without it, or for runs that stored none, the
    figures stand alone. The file is written to a temporary sibling and renamed into
    place, so a reader (or a browser refreshing it) never sees half a report.
    """
    page = render_report(recommendation, records, prices, title=title, ledger=ledger)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the report from others
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def render_report(recommendation: Any, records: Sequence[Any], prices: Any, *,
                  title: str | None = None, ledger: str | Path | None = None) -> str:
    """The report of ``recommendation`` as an HTML string (see `write_report`)."""
    from whichmodel.errors import DataError

    rec, records = recommendation, list(records)
    scenario = rec.scenario
    ok = [r for r in records if r.status == "ok"]
    if not ok:
        reasons = "; ".join(sorted({f"{r.candidate}: {_first_line(r.error)}"
                                    for r in records})[:3])
        raise DataError(f"no finished runs to report on ({len(records)} failed"
                        + (f": {reasons}" if reasons else "") + "). Fix the failing "
                        "candidates and rerun `whichmodel bench`.")
    _check_runs_match(rec, ok)
    summaries = sorted((v.summary for v in rec.verdicts  # summarize's order
                        if not getattr(v.summary, "stages", None)),  # cascades: no curve
                       key=lambda s: (s.candidate, s.n_labels, s.budget))
    datasets = sorted({r.dataset for r in ok})
    title = title or f"Which model for {_short(datasets[0], 60)}?"
    featured = rec.winner or (closest_verdicts(rec) or [None])[0]
    intervals = (ChoiceIntervals() if ledger is None else choice_intervals(
        rec, ok, ledger, test_metrics=table_metrics(scenario.metric)))

    body = [
        _header(title, datasets, ok, prices),
        _section("recommendation", "Recommendation",
                 recommendation_section(rec, scenario, intervals)),
        _section("candidates", "All candidates",
                 candidate_table(rec, scenario, sorted_verdicts(rec), intervals)),
        _section("pareto", "Quality vs total cost", _pareto(rec, scenario, intervals)),
        _section("cost-volume", "Total cost vs volume",
                 _cost_volume(rec, scenario, prices)),
        _section("cascade", "Cascade: quality and cost against its threshold",
                 cascade_section(rec, _figure)),
        _section("slots", "Intents and slots: one joint model or two", slot_section(rec)),
        _section("learning-curves", "Learning curves",
                 _learning_curves(summaries, scenario, prices, intervals)),
        _section("per-class-f1", "Per-class F1", _per_class(featured, rec, ok)),
        _section("confusion", "Confusions", _confusion(featured, rec, ok)),
        _section("failed-runs", "Failed runs", failed_runs_section(records)),
        _section("methods", "Methods", methods_section(ok, scenario, prices, rec, intervals)),
    ]
    nav = "".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body data-images-ok=\"pending\"><main>\n<nav>{nav}</nav>\n"
        + "\n".join(body) + f"\n</main>{DECODE_SCRIPT}</body></html>\n"
    )


def _check_runs_match(rec: Any, ok: Sequence[Any]) -> None:
    """Every choice of ``rec`` must have finished runs in ``ok``: the per-class figures of
    the recommended choice come from them, and other runs would show another model."""
    from whichmodel.errors import DataError

    present = {(r.candidate, r.budget) for r in ok}
    missing = [v.label for v in rec.verdicts
               for s in ([v.summary.first, v.summary.second]  # a cascade: its two models'
                         if getattr(v.summary, "stages", None) else [v.summary])
               if (s.candidate, s.budget) not in present]
    if missing:
        raise DataError(f"the recommendation is not of these runs: no finished run of "
                        f"{', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}; pass "
                        "the runs it was made from")


def _header(title: str, datasets: list[str], ok: Sequence[Any], prices: Any) -> str:
    machines = sorted({machine_of(r.environment) for r in ok})
    dates = sorted(r.created_at for r in ok if r.created_at)
    first, last = (dates[0][:10], dates[-1][:10]) if dates else ("unknown", "unknown")
    runs = first if first == last else f"{first} – {last}"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = [
        ("Dataset", "<br>".join(escape(d) for d in datasets)),
        ("Runs", f"{len(ok)} finished, dated {escape(runs)}"),
        ("Measured on", "<br>".join(escape(m) for m in machines)),
        ("Price table", f"dated {escape(str(getattr(prices, 'date', 'unknown')))}"),
        ("Report generated", escape(now)),
    ]
    rows = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return (f'<header id="summary"><h1>{escape(title)}</h1>'
            f'<dl class="facts">{rows}</dl></header>')


def _section(section_id: str, heading: str, content: str) -> str:
    return (f'<section id="{section_id}"><h2>{escape(heading)}</h2>\n{content}\n'
            "</section>")


def _figure(png: bytes | None, alt: str, caption: str, missing: str) -> str:
    if png is None:
        return f'<p class="note">{missing}</p>'
    return (f'<figure><img src="{plots.data_uri(png)}" alt="{escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _plotted_intervals(summaries: Sequence[Any], metric: str,
                       intervals: ChoiceIntervals) -> dict[str, tuple[float, float] | None]:
    """By choice label, the interval of the quality the plots show (on `selected_on`)."""
    return {label_of(s): intervals.get(s, s.selected_on, metric) for s in summaries}


def _bars_said(intervals: ChoiceIntervals, shown: dict[str, Any], what: str) -> str:
    """How the caption names the plots' bars or bands."""
    have = [v is not None for v in shown.values()]
    if not any(have):
        return ""
    where = "" if all(have) else " where the runs stored predictions, else ± one std"
    return (f" {what}: the {intervals.level:.0%} bootstrap interval of each mean (over "
            f"items and seeds){where}.")


def _pareto(rec: Any, scenario: Any, intervals: ChoiceIntervals) -> str:
    shown = _plotted_intervals([v.summary for v in rec.verdicts], scenario.metric, intervals)
    png = plots.pareto_plot(
        rec.verdicts, rec.pareto, rec.winner, scenario.metric, scenario.min_quality,
        f"{scenario.metric} vs total cost over {scenario.horizon_months:g} months at "
        f"{fmt_volume(scenario.volume_per_month)} items/month",
        intervals=shown, level=intervals.level)
    frontier = ", ".join(escape(label_of(s)) for s in rec.pareto) or "none"
    return _figure(png, "Pareto plot of quality against total cost",
                   "Each point is a candidate at a label budget; hollow points fail a "
                   "constraint; the grey line joins the Pareto frontier (no other point "
                   "costs at most as much and is at least as good, with one of the two "
                   "strictly better; totals within half a cent or 0.05% count as the same "
                   f"cost): {frontier}.{_bars_said(intervals, shown, 'Error bars')}",
                   "No candidate has a quality score to plot.")


def _cost_lines(rec: Any) -> list[Any]:
    """One budget per candidate for the cost chart: the winner's, else the cheapest that
    qualifies, else the best quality — one line per candidate keeps the chart legible."""
    metric = rec.scenario.metric
    chosen: dict[str, Any] = {}
    featured = featured_cascade(rec)  # of the cascades, one line: the page's featured one
    for v in rec.verdicts:
        if getattr(v.summary, "stages", None) and v is not featured:
            continue
        current = chosen.get(v.summary.candidate)
        if current is None or _line_rank(v, rec, metric) < _line_rank(current, rec, metric):
            chosen[v.summary.candidate] = v
    return [v.summary for v in sorted(chosen.values(), key=lambda v: v.summary.candidate)]


def _line_rank(v: Any, rec: Any, metric: str) -> tuple:
    quality = v.summary.quality(metric)
    return (not is_winner(rec, v), not v.qualifies,
            v.cost.total_usd if v.qualifies else 0.0,
            -(quality if quality is not None and not math.isnan(quality) else -1))


def _cost_volume(rec: Any, scenario: Any, prices: Any) -> str:
    from whichmodel.choose import describe_switches
    from whichmodel.costs.model import cost_at as totals_at
    from whichmodel.frontier import SWITCH_RANGE

    lines = _cost_lines(rec)
    volumes = plots.volume_grid(scenario.volume_per_month)
    switches = plots.cost_switches(lines, scenario, prices, volumes)
    png = plots.cost_volume_plot(lines, scenario, prices, switches, volumes)
    figure = _figure(png, "Total cost against monthly volume",
                     "One line per candidate (at its recommended or best budget). Circles "
                     "mark the volumes where the cheapest line changes, on the new cheapest "
                     "line just past the switch; each callout quotes both totals there.",
                     "No candidate to price.")
    # Every figure in these sentences is the cost model's total at the volume stated.
    cost_at = totals_at([v.summary for v in rec.verdicts], scenario, prices)
    low, high = (fmt_volume(x) for x in SWITCH_RANGE)
    qualifying = describe_switches(rec.switch_volumes, cost_at)
    parts = []
    if qualifying:
        parts.append(f"<p>The cheapest choice that meets every constraint, from {low} to "
                     f"{high} items/month:</p>" + _items(qualifying))
    elif rec.winner is not None:
        parts.append("<p>The cheapest choice that meets every constraint does not change "
                     f"from {low} to {high} items/month.</p>")
    chart = [sentence for sentence in describe_switches(
        [(s.switch, s.old, s.new) for s in switches], cost_at) if sentence not in qualifying]
    if chart:
        parts.append("<p>The cheapest line on the chart:</p>" + _items(chart))
    elif not switches and lines:
        cheapest = min(lines, key=lambda s: (cost_at(label_of(s), float(volumes[0])),
                                             label_of(s)))
        parts.append(f"<p>No switch inside the plotted range: "
                     f"{escape(label_of(cheapest))} is the cheapest line from "
                     f"{fmt_volume(volumes[0])} to {fmt_volume(volumes[-1])} "
                     "items/month.</p>")
    return figure + "".join(parts)


def _items(sentences: Sequence[str]) -> str:
    return ('<ul class="compact">' + "".join(f"<li>{escape(s)}</li>" for s in sentences)
            + "</ul>")


def _learning_curves(summaries: Sequence[Any], scenario: Any, prices: Any,
                     intervals: ChoiceIntervals) -> str:
    usd_per_label = float(getattr(prices, "usd_per_label", 0.0) or 0.0)
    shown = _plotted_intervals([s for s in summaries if s.n_labels > 0], scenario.metric,
                               intervals)
    png = plots.learning_curve_plot(summaries, scenario.metric, scenario.min_quality,
                                    usd_per_label, intervals=shown, level=intervals.level)
    budgets = sorted({s.budget for s in summaries})
    bands = _bars_said(intervals, shown, "Bands")
    seeds = any(s.n_runs >= 2 for s in summaries)
    spread = (f"{'Mean over seeds' if seeds else 'One seed per budget'}.{bands}" if bands
              else "Mean ± one standard deviation over seeds." if seeds
              else "One seed per budget, so no spread is shown.")
    return _figure(
        png, "Learning curves: quality against number of labels",
        f"{spread} The top axis converts labels to "
        f"annotation cost at {fmt_usd(usd_per_label)} per label (price table). "
        "Rings mark the smallest budget that meets the quality bar.",
        "No learning curve: every candidate was run at a single label budget "
        f"({escape(', '.join(budgets))}). Add budgets (e.g. 8/class, 64/class, all) to the "
        "spec to see what more labels buy.")


def _records_of(featured: Any, ok: Sequence[Any]) -> list[Any]:
    s = featured.summary
    if getattr(s, "stages", None):  # a cascade: its per-seed reports on test, as runs
        from types import SimpleNamespace

        return [SimpleNamespace(metrics=report) for report in s.test_reports]
    return [r for r in ok if r.candidate == s.candidate and r.budget == s.budget]


def _featured_name(featured: Any, rec: Any) -> str:
    role = "recommended" if rec.winner is not None else "closest"
    return f"{role}: {label_of(featured.summary)}"


def _per_class(featured: Any, rec: Any, ok: Sequence[Any]) -> str:
    if featured is None:
        return '<p class="note">No candidate to show.</p>'
    runs = _records_of(featured, ok)
    f1 = class_plots.mean_per_class_f1(runs)
    png = class_plots.per_class_f1_plot(f1, f"Per-class F1 — {_featured_name(featured, rec)}")
    shown = "" if len(f1) <= class_plots.MAX_CLASSES_IN_FULL else (
        f" With {len(f1)} classes, the {class_plots.WORST_SHOWN} worst and "
        f"{class_plots.BEST_SHOWN} best are shown.")
    return _figure(png, "Per-class F1 bar chart",
                   f"{escape(_featured_name(featured, rec))}. Worst classes on top; mean over "
                   f"{len(runs)} run(s).{shown}",
                   "The runs carry no per-class scores.")


def _confusion(featured: Any, rec: Any, ok: Sequence[Any]) -> str:
    if featured is None:
        return '<p class="note">No candidate to show.</p>'
    runs = _records_of(featured, ok)
    summed = class_plots.summed_confusion(runs)
    if summed is None:
        return '<p class="note">The runs carry no confusion matrix (multi-label?).</p>'
    matrix, classes = summed
    png = class_plots.confusion_plot(matrix, classes,
                               f"Confusion matrix — {_featured_name(featured, rec)}")
    figure = _figure(png, "Confusion matrix heatmap",
                     f"{escape(_featured_name(featured, rec))}. Rows: true class, normalised "
                     f"to 1; summed over {len(runs)} run(s). "
                     "The colour scale is compressed so rare confusions stay visible.",
                     "Too few classes for a confusion matrix.")
    pairs = class_plots.top_confused_pairs(matrix, classes)
    if not pairs:
        return figure + '<p class="note">No confusions: every test item was right.</p>'
    rows = "".join(f"<tr><td>{escape(t)}</td><td>{escape(p)}</td><td class=num>{n}</td>"
                   f"<td class=num>{share:.0%}</td></tr>" for t, p, n, share in pairs)
    return (figure + "<h3>Most confused pairs</h3><div class=\"scroll\"><table>"
            "<thead><tr><th>true class</th><th>predicted as</th><th>items</th>"
            f"<th>share of true class</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _name(choice: Any) -> str:
    return choice if isinstance(choice, str) else label_of(choice)


def _first_line(text: str | None) -> str:
    return (text or "unknown error").strip().splitlines()[0][:200] if text else "unknown error"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]
