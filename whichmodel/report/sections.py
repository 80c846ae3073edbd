"""The report's text sections: the recommendation and why, the table, failures, methods.

Kept apart from `html.py` (page assembly and figures) so each reads in one sitting. Every
function returns an HTML fragment; all user-controlled text goes through `escape`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from whichmodel.choose import cost_vs_winner
from whichmodel.intervals import N_RESAMPLES
from whichmodel.report.choice_intervals import ChoiceIntervals, interval_text
from whichmodel.report.formatting import fmt_usd, fmt_volume, label_of

CSS = """
:root{--ink:#1d2430;--muted:#5b6676;--line:#e3e7ee;--bg:#f6f8fb;--ok:#1a7f37;
--bad:#b42318;--accent:#1f5fbf;--win:#fff6d6}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:13px;margin-bottom:14px}
nav a{color:var(--accent);text-decoration:none}
header,section{background:#fff;border:1px solid var(--line);border-radius:10px;
padding:20px 24px;margin:0 0 18px}
h1{font-size:26px;margin:0 0 12px}
h2{font-size:19px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 8px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:10px 24px;
margin:0}
.facts dt{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.facts dd{margin:2px 0 0;font-size:14px;word-break:break-word}
.verdict{font-size:17px;padding:14px 16px;border-radius:8px;margin:0 0 14px;
border-left:5px solid var(--ok);background:#eef8f1}
.verdict.none{border-left-color:var(--bad);background:#fdf0ef}
ul.compact{margin:6px 0;padding-left:20px}
ul.compact li{margin:2px 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{padding:5px 7px;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}
th{background:#f0f3f8;font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.winner td{background:var(--win);font-weight:600}
.ok{color:var(--ok)}.bad{color:var(--bad)}.muted,.note{color:var(--muted)}
.note{font-style:italic}
.ci{display:block;font-size:11px;font-weight:400;color:var(--muted)}
figure{margin:8px 0 4px;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
figcaption{font-size:13px;color:var(--muted);margin-top:6px;text-align:left}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;background:#f6f8fa;padding:8px;border-radius:6px;margin:4px 0}
details summary{cursor:pointer}
#methods p,#methods li{font-size:13.5px}
"""

# Marks <body> once every figure has decoded: the rendering test reads it from the DOM.
DECODE_SCRIPT = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images-decoded", ok.length + "/" + imgs.length);
  document.body.setAttribute("data-images-ok", String(ok.length === imgs.length));
});
</script>"""


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def quality_text(summary: Any, metric: str) -> str:
    """``0.912 ± 0.004`` for the metric, mean ± std over seeds (on `selected_on`)."""
    std = summary.quality_std(metric)
    mean = summary.quality(metric)
    if math.isnan(std) or summary.n_runs < 2:
        return _num(mean)
    return f"{_num(mean)} ± {_num(std)}"


def with_interval(text: str, interval: tuple[float, float] | None) -> str:
    """A table cell's figure with its interval under it (``0.912`` / ``[0.901, 0.922]``),
    or the figure alone when the runs stored no predictions to bootstrap."""
    if interval is None:
        return text
    return f'{text}<span class="ci">{interval_text(interval)}</span>'


def quality_said(summary: Any, metric: str, intervals: ChoiceIntervals | None) -> str:
    """``0.912 ± 0.004 [0.901, 0.922]`` in a sentence: the mean (± std) on `selected_on`
    and its interval there, when there is one."""
    found = (intervals or ChoiceIntervals()).get(summary, summary.selected_on, metric)
    return quality_text(summary, metric) + (f" {interval_text(found)}" if found else "")


def constraints_of(scenario: Any) -> list[str]:
    """The scenario's constraints as plain sentences, for the recommendation."""
    items = [f"{scenario.metric} ≥ {scenario.min_quality:g}" if scenario.min_quality
             is not None else f"no minimum {scenario.metric} (best value for money)"]
    if scenario.max_latency_p95_ms is not None:
        items.append(f"single-item latency p95 ≤ {scenario.max_latency_p95_ms:g} ms")
    if scenario.label_budget is not None:
        items.append(f"at most {scenario.label_budget:,} labels")
    items.append(f"{fmt_volume(scenario.volume_per_month)} items/month for "
                 f"{scenario.horizon_months:g} months, deployed on {scenario.hardware}")
    return items


def is_winner(rec: Any, verdict: Any) -> bool:
    """Whether ``verdict`` is the recommendation (by name: objects may be copies)."""
    return rec.winner is not None and label_of(rec.winner.summary) == label_of(verdict.summary)


def sorted_verdicts(rec: Any) -> list[Any]:
    """Winner first, then what qualifies by cost, then the rest by quality."""
    metric = rec.scenario.metric

    def key(v: Any) -> tuple:
        winner = is_winner(rec, v)
        quality = v.summary.quality(metric)
        return (not winner, not v.qualifies, v.cost.total_usd if v.qualifies else 0.0,
                -(quality if quality is not None and not math.isnan(quality) else -1))

    return sorted(rec.verdicts, key=key)


def closest_verdicts(rec: Any) -> list[Any]:
    """`Recommendation.closest` as a list of verdicts, whatever shape it came in."""
    closest = getattr(rec, "closest", None)
    if closest is None:
        return []
    items = list(closest) if isinstance(closest, (list, tuple)) else [closest]
    by_label = {label_of(v.summary): v for v in rec.verdicts}
    out = []
    for item in items:
        if hasattr(item, "summary"):
            out.append(item)
        elif label_of(item) in by_label:
            out.append(by_label[label_of(item)])
    return out


def recommendation_section(rec: Any, scenario: Any,
                           intervals: ChoiceIntervals | None = None) -> str:
    """The answer in one sentence, the constraints, and why every other candidate lost;
    quality figures with their ``intervals`` where the ledger gave them."""
    metric = scenario.metric
    constraints = "".join(f"<li>{escape(c)}</li>" for c in constraints_of(scenario))
    parts = []
    if rec.winner is not None:
        w, c = rec.winner.summary, rec.winner.cost
        runners = [v for v in sorted_verdicts(rec) if v.qualifies and not is_winner(rec, v)]
        nxt = (f" The next that qualifies, {escape(label_of(runners[0].summary))}, "
               f"{escape(cost_vs_winner(runners[0], scenario))}."
               if runners else " It is the only candidate that qualifies.")
        measured = w.drivers.latency_p95_ms
        latency = (f", p95 latency {_num(measured, '{:.1f}')} ms"
                   if measured is not None else "")
        why = (f"the best on {metric} of the candidates that meet every constraint and cost "
               f"within {scenario.cost_tie:.0%} of the cheapest" if rec.cheaper_within_tie()
               else "the cheapest candidate that meets every constraint")
        on = f" on {w.selected_on}" if w.selected_on == "validation" else ""
        parts.append(
            f'<p class="verdict">Deploy <b>{escape(label_of(w))}</b>: {why} — '
            f"{metric} {quality_said(w, metric, intervals)}{on}{latency}, "
            f"<b>{fmt_usd(c.total_usd)}</b> over {scenario.horizon_months:g} months "
            f"({fmt_usd(c.annotation_usd)} annotation, {fmt_usd(c.training_usd)} training, "
            f"{fmt_usd(c.inference_usd)} inference).{nxt}</p>")
        if rec.confirmation is not None:  # chosen on validation, confirmed on test
            holds = rec.confirmation.bar_holds
            kind = "" if holds is None else (' class="ok"' if holds else ' class="bad"')
            parts.append(f"<p{kind}>{escape(rec.confirmation.sentence())}</p>")
    else:
        parts.append('<p class="verdict none"><b>No candidate meets every constraint.</b> '
                     "The closest ones, and what would have to change for each:</p>")
        items = []
        for v in closest_verdicts(rec):
            changes = list(getattr(v, "what_would_have_to_change", None) or v.failed)
            on = (" on validation" if v.summary.selected_on == "validation" else "")
            items.append(f"<li><b>{escape(label_of(v.summary))}</b> ({metric} "
                         f"{quality_said(v.summary, metric, intervals)}{on}, "
                         f"{fmt_usd(v.cost.total_usd)}): "
                         + "; or ".join(escape(x) for x in changes) + "</li>")
        parts.append(f'<ul class="compact">{"".join(items) or "<li>none</li>"}</ul>')
    parts.append(f'<h3>Constraints</h3><ul class="compact">{constraints}</ul>')
    others = []
    for v in sorted_verdicts(rec):
        if is_winner(rec, v):
            continue
        if v.qualifies:
            why = f'<span class="ok">qualifies</span>, {escape(cost_vs_winner(v, scenario))}'
        else:
            why = '<span class="bad">fails</span>: ' + "; ".join(escape(f) for f in v.failed)
        others.append(f"<li>{escape(label_of(v.summary))} — {why}</li>")
    if others:
        parts.append(f'<h3>The others</h3><ul class="compact">{"".join(others)}</ul>')
    return "\n".join(parts)


def table_metrics(metric: str) -> list[str]:
    """The quality figures the candidate table shows on test: the scenario's metric, the
    other of accuracy and macro-F1, and ECE (what `choice_intervals` bootstraps)."""
    return [metric, "macro_f1" if metric == "accuracy" else "accuracy", "ece"]


def candidate_table(rec: Any, scenario: Any, verdicts: Sequence[Any],
                    intervals: ChoiceIntervals | None = None) -> str:
    """Every candidate@budget with its measured numbers, its costs, and its verdict.

    Quality is shown on validation (the scenario's metric, what the choice was made on)
    and on test when the runs have a validation split, on test alone otherwise; each
    figure with its bootstrap interval from ``intervals`` where the ledger gave one.
    """
    metric = scenario.metric
    other = table_metrics(metric)[1]
    intervals = intervals or ChoiceIntervals()
    spread = any(v.summary.n_runs >= 2 for v in verdicts)
    validated = any(v.summary.selected_on == "validation" for v in verdicts)
    chosen_on = f"{metric} ± std" if spread else metric
    quality_head = ([f"{chosen_on}, validation", f"{metric}, test", f"{other}, test",
                     "ECE, test"] if validated else [chosen_on, other, "ECE"])
    head = ["candidate @ budget", "labels", "runs", *quality_head,
            "p50 ms", "p95 ms", "items/s", "train s", "annotation", "training",
            "inference", "total", "verdict"]
    rows = []
    for v in verdicts:
        s, c = v.summary, v.cost
        winner = is_winner(rec, v)
        if winner:
            verdict = '<span class="ok">★ recommended</span>'
        elif v.qualifies:
            verdict = (f'<span class="ok">qualifies</span>, '
                       f"{escape(cost_vs_winner(v, scenario))}")
        else:
            verdict = '<span class="bad">fails</span>: ' + "; ".join(escape(f) for f in v.failed)
        notes = getattr(c, "notes", None) or []
        notes = [notes] if isinstance(notes, str) else list(notes)
        cells = [
            escape(label_of(s)), f"{s.n_labels:,.0f}", str(s.n_runs),
            *_quality_cells(s, metric, validated, intervals),
            *(_noisy(s, _num(value, fmt)) for value, fmt in (
                (s.drivers.latency_p50_ms, "{:.2f}"), (s.drivers.latency_p95_ms, "{:.2f}"),
                (s.drivers.throughput_items_per_s, "{:,.0f}"))),
            _num(s.drivers.train_seconds, "{:.2f}"),
            fmt_usd(c.annotation_usd), fmt_usd(c.training_usd), fmt_usd(c.inference_usd),
            f'<b title="{escape(" ".join(map(str, notes)))}">{fmt_usd(c.total_usd)}</b>',
            verdict,
        ]
        tds = "".join(f"<td>{x}</td>" if i in (0, len(cells) - 1) else f"<td class=num>{x}</td>"
                      for i, x in enumerate(cells))
        rows.append(f'<tr class="{"winner" if winner else ""}">{tds}</tr>')
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f'<div class="scroll"><table><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            f'<p class="muted">{interval_note(intervals, verdicts, validated)}'
            f"{noisy_note(verdicts)}"
            "Quality, latency, throughput and train seconds are measured "
            "(mean over seeds); dollars are computed from the price table for "
            f"{fmt_volume(scenario.volume_per_month)} items/month over "
            f"{scenario.horizon_months:g} months. Hover a total for the cost model's "
            "notes.</p>")


def _quality_cells(s: Any, metric: str, validated: bool,
                   intervals: ChoiceIntervals) -> list[str]:
    """The candidate table's quality cells of the choice ``s``: the scenario's metric on
    validation (mean ± std, what the choice was made on) when the table has that column,
    then every `table_metrics` figure on test, each with its interval."""
    def on_test(name: str, text: str | None = None) -> str:
        shown = _num(s.test_quality(name)) if text is None else text
        return with_interval(shown, intervals.get(s, "test", name))

    others = [on_test(name) for name in table_metrics(metric)[1:]]
    if not validated:
        return [on_test(metric, quality_text(s, metric)), *others]
    if s.selected_on != "validation":  # rows without a validation split beside some with
        return ["–", on_test(metric, quality_text(s, metric)), *others]
    return [with_interval(quality_text(s, metric), intervals.get(s, "validation", metric)),
            on_test(metric), *others]


def interval_note(intervals: ChoiceIntervals, verdicts: Sequence[Any],
                  validated: bool) -> str:
    """What the brackets under the quality figures are, or why there are none."""
    chosen = (" Choices are made on validation; test is what a deployment can expect."
              if validated else "")
    if not intervals:
        return ("No intervals: these runs stored no per-item predictions (an older "
                f"whichmodel ran them, or the report was given no ledger).{chosen} ")
    splits = " and ".join(f"{intervals.n_items[split]:,} {split}" for split in
                          ("test", "validation") if split in intervals.n_items)
    missing = [v for v in verdicts if not intervals.has(v.summary, "test")]
    gap = (f" {len(missing)} choice(s) without one ran before predictions were stored."
           if missing else "")
    return (f"In brackets: the {intervals.level:.0%} bootstrap interval of each mean, "
            f"resampling the {splits} items (and the seeds, when several) from the "
            f"predictions the bench stored.{gap}{chosen} ")


def failed_runs_section(records: Sequence[Any]) -> str:
    """Runs that crashed, with their errors: a silent gap in the table would mislead."""
    failed = [r for r in records if r.status != "ok"]
    if not failed:
        return '<p class="muted">None: every run finished.</p>'
    rows = []
    for r in sorted(failed, key=lambda r: (r.candidate, r.budget, r.seed)):
        error = (r.error or "unknown error").strip()
        first = escape(error.splitlines()[0][:240]) if error else "unknown error"
        full = (f"<details><summary>{first}</summary><pre>{escape(error)}</pre></details>"
                if "\n" in error or len(error) > 240 else first)
        rows.append(f"<tr><td>{escape(r.candidate)}</td><td>{escape(r.budget)}</td>"
                    f"<td class=num>{r.seed}</td><td>{full}</td></tr>")
    return ('<div class="scroll"><table><thead><tr><th>candidate</th><th>budget</th>'
            f'<th>seed</th><th>error</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div><p class=\"muted\">Failed runs are left out of the table, the "
            "plots and the recommendation.</p>")


def machine_of(environment: dict[str, Any] | None) -> str:
    """A one-line description of the measuring machine from a run's environment dict."""
    env = environment or {}
    for key in ("machine", "description", "host"):
        if isinstance(env.get(key), str) and env[key]:
            return env[key]
    parts = []
    for key in ("cpu", "processor", "cpu_model", "cpu_count", "logical_cpus", "memory_gib",
                "gpu", "platform", "os", "python", "torch"):
        value = env.get(key)
        if value not in (None, "", [], {}):
            parts.append(f"{key} {value}" if key in ("python", "torch", "cpu_count",
                                                     "logical_cpus", "memory_gib")
                         else str(value))
    if not parts:
        parts = [f"{k}={v}" for k, v in list(env.items())[:4] if isinstance(v, (str, int))]
    return ", ".join(parts) or "unknown machine (no environment recorded)"


def methods_section(ok: Sequence[Any], scenario: Any, prices: Any, rec: Any,
                    intervals: ChoiceIntervals | None = None) -> str:
    """Which numbers are measured where, and which come from the dated price table."""
    machines = sorted({machine_of(r.environment) for r in ok})
    n_test = sorted({r.n_test for r in ok if r.n_test})
    seeds = sorted({r.seed for r in ok})
    batch = sorted({r.batch_size for r in ok if r.batch_size})
    hardware = getattr(prices, "hardware", {}).get(scenario.hardware)
    measured_on = getattr(prices, "measurement_hardware", None)
    deploy = (f"{escape(scenario.hardware)} at {fmt_usd(hardware.usd_per_hour)}/hour, speed "
              f"factor {hardware.speed_factor:g} relative to the measurement machine"
              + (f" ({escape(measured_on)})" if measured_on else "")
              + f"; source: {escape(str(getattr(hardware, 'source', 'price table')))}"
              if hardware is not None else escape(scenario.hardware))
    label_source = getattr(prices, "usd_per_label_source", None)
    overridden = list(getattr(prices, "overridden", []) or [])
    items = [
        "<b>Measured</b> on " + "; ".join(escape(m) for m in machines)
        + f": quality on the test split ({', '.join(map(str, n_test)) or '?'} items), "
        + (f"mean ± std over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1
           else f"one seed ({', '.join(map(str, seeds))}), so no spread")
        + "; train seconds; throughput at "
        f"batch size {', '.join(map(str, batch)) or 'as configured'}; single-item latency "
        "p50/p95; peak memory; tokens per item for LLM candidates.",
        *([f"<b>Intervals</b> ({intervals.level:.0%}, in brackets under a quality figure):"
           f" the percentile bootstrap of the mean over seeds, {N_RESAMPLES:,} resamples of the "
           "evaluation items with replacement (the same items for every seed) and, with "
           "several seeds, of the seeds, each resample scored from the per-item "
           "predictions stored in the ledger."] if intervals else []),
        f"<b>From the price table dated {escape(str(getattr(prices, 'date', '?')))}</b>: "
        f"annotation at {fmt_usd(getattr(prices, 'usd_per_label', 0.0))} per label"
        + (f" ({escape(label_source)})" if label_source else "")
        + f"; deployment hardware {deploy}; LLM API prices per million tokens.",
        "<b>Computed</b>: total = annotation (labels × price per label) + training "
        "(measured seconds ÷ speed factor × hourly price) + inference over the horizon "
        "(self-hosted: the larger of an always-on instance and items ÷ measured throughput "
        "× hourly price; API: tokens × price). Self-hosted totals are step functions (whole "
        "instances), so a switch volume is where the cheapest total changes, and each is "
        "quoted with both totals at a whole volume just past it.",
    ]
    if overridden:
        items.append("<b>Overridden</b> prices: " + escape(", ".join(overridden)) + ".")
    items.append("Speed factors for hardware other than the measurement machine are "
                 "assumptions, not measurements: benchmark on the target hardware for "
                 "numbers you can rely on.")
    return f'<ul class="compact">{"".join(f"<li>{i}</li>" for i in items)}</ul>'


def _noisy(summary: Any, cell: str) -> str:
    """A speed cell, marked when its runs were measured noisy (the reason on hover)."""
    if not summary.noise:
        return cell
    return f'<span title="{escape("; ".join(summary.noise))}">{cell}*</span>'


def noisy_note(verdicts: Any) -> str:
    """The sentence under the table naming the choices measured noisy, if any."""
    noisy = [v.summary for v in verdicts if v.summary.noise]
    if not noisy:
        return ""
    listed = "; ".join(f"{escape(label_of(s))}: {escape(s.noise[0])}" for s in noisy)
    return ("* Measured noisy: the machine was too busy for CPU time and repeats to "
            f"correct it, so these speeds and their costs may be off ({listed}). Measure "
            "them again on a quiet machine: <code>whichmodel bench SPEC --remeasure</code>. ")
