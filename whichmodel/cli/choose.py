"""`whichmodel choose`: the cheapest candidate that meets the bar, from a bench ledger."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from whichmodel.errors import UsageError

if TYPE_CHECKING:
    from whichmodel.bench.question import Question
    from whichmodel.choose import Recommendation
    from whichmodel.costs.prices import Prices
    from whichmodel.costs.scenario import Scenario

# Months per period, for --per: a year is 12 months, a day 1/30.4375 of a month (365.25/12).
MONTHS_PER = {"month": 1.0, "year": 12.0, "day": 12.0 / 365.25}

EXAMPLES = """\
examples:
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 5e6
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 2e5 --per day \\
      --max-latency-ms 50 --label-budget 2000
  whichmodel choose runs.sqlite --metric macro_f1 --min-quality 0.8 --volume 1e8/month \\
      --hardware t4 --horizon-months 24 --prices our-prices.yaml
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 5e6 --json > choice.json
  whichmodel choose runs.sqlite --dataset spec.yaml --volume 5e6   # one experiment of many

Cascades (a cheap model answers when its confidence is at least a threshold, a costlier
one otherwise) are derived from the stored predictions of pairs of choices, their
threshold chosen on validation, and listed as choices of their own ("cascade: A → B @
τ=0.83", with the share sent to B); --no-cascades leaves them out.

Choices are made on the validation split only (a spec's `validation`, or a share of
train held out by default); the winner is then confirmed on test with a 95% bootstrap
interval (over test items, and over seeds), and choose says whether the bar holds there.
--confidence 0.95 makes that test bar apply to the interval's lower bound.

A ledger may hold several experiments (other data files, test sets or splits): choose
never averages them, and asks for --dataset when there is more than one. Costs use the
dated list prices shipped with whichmodel (prices.yaml), with the `prices:` overrides of
the spec(s) that ran the chosen experiment; --prices FILE (same shape as a spec's
`prices:` section) replaces those overrides. Latency and throughput are
measured on the benchmark machine and scaled by the --hardware entry's speed factor, an
assumption you can override there too.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "choose", help="recommend the cheapest candidate that meets your bar",
        description="Price every benchmarked candidate at your volume and recommend the "
                    "cheapest one meeting every constraint; show what the others failed, "
                    "the Pareto frontier and the volumes where the answer changes.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ledger", metavar="LEDGER", help="SQLite ledger from `whichmodel bench`")
    add_scenario_arguments(parser, volume_required=True)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the recommendation) instead of tables")
    parser.set_defaults(func=run)


# Scenario field -> the flag that sets it: the CLI alone speaks in flags, so a
# `ScenarioError` naming a field is reported with its flag (`build_scenario`).
SCENARIO_FLAGS = {
    "volume_per_month": "--volume", "metric": "--metric", "min_quality": "--min-quality",
    "max_latency_p95_ms": "--max-latency-ms", "label_budget": "--label-budget",
    "horizon_months": "--horizon-months", "hardware": "--hardware",
    "training_hardware": "--training-hardware", "cost_tie": "--cost-tie",
    "confidence": "--confidence"}
# The `open_question` argument -> its flag.
QUESTION_FLAGS = {"dataset": "--dataset", "prices_file": "--prices"}


def add_scenario_arguments(parser: argparse.ArgumentParser, *, volume_required: bool) -> None:
    """The scenario flags shared by `choose` and `report`, read by `build_scenario`.

    Without ``volume_required`` --volume defaults to 1e6 (a report is useful before anyone
    has settled on a volume). Defaults and bounds are `Scenario`'s; a flag left out is a
    field left at its default.
    """
    from whichmodel.costs.scenario import Scenario
    from whichmodel.metrics import metric_names

    default = Scenario()
    group = parser.add_argument_group("scenario")
    group.add_argument("--volume", required=volume_required,
                       default=None if volume_required else "1e6", metavar="N[/PERIOD]",
                       help="items to classify per period, e.g. 5e6 or 5e6/month"
                            + ("" if volume_required else " (default 1e6)"))
    group.add_argument("--per", choices=sorted(MONTHS_PER), default=None,
                       help="period of --volume (default month)")
    group.add_argument("--metric", choices=metric_names(bar=True), default=None,
                       help=f"quality metric of the bar (default {default.metric})")
    bar = group.add_mutually_exclusive_group()
    for name in _min_flag_metrics():  # --min-accuracy, --min-macro-f1, --min-slot-f1, ...
        bar.add_argument(bar_flag(name), dest=_bar_dest(name), type=float, metavar="X",
                         help=f"minimum mean {name} (sets --metric {name})"
                              if name != "accuracy" else "minimum mean accuracy")
    bar.add_argument("--min-quality", type=float, metavar="X",
                     help="minimum mean of --metric, from 0 to 1")
    group.add_argument("--max-latency-ms", type=float, metavar="MS",
                       help="maximum single-item p95 latency on the deployment hardware")
    group.add_argument("--label-budget", type=int, metavar="N",
                       help="most labelled examples you can pay for (0: only candidates "
                            "that need no labels, such as zero-shot LLMs)")
    group.add_argument("--horizon-months", type=float, default=None, metavar="M",
                       help=f"months to total the costs over (default "
                            f"{default.horizon_months:g})")
    group.add_argument("--hardware", default=None, metavar="KEY",
                       help=f"deployment hardware, a key of prices.yaml (default "
                            f"{default.hardware})")
    group.add_argument("--training-hardware", default=None, metavar="KEY",
                       help="hardware training runs on (default: the deployment hardware)")
    group.add_argument("--cost-tie", type=float, default=None, metavar="FRACTION",
                       help="totals within this fraction of the cheapest count as equal and "
                            f"the better model wins (default {default.cost_tie:g}; 0 = "
                            "strictly cheapest)")
    group.add_argument("--confidence", type=float, default=None, metavar="LEVEL",
                       help="the quality bar must hold for the lower bound of the winner's "
                            "LEVEL bootstrap interval on test (e.g. 0.95), not only for its "
                            "point estimate")
    group.add_argument("--no-cascades", dest="cascades", action="store_false",
                       help="leave out the cascades derived from pairs of choices (a cheap "
                            "model first, a costlier one below a confidence threshold)")
    group.add_argument("--prices", metavar="FILE",
                       help="YAML of price overrides (default: the spec's, from the ledger)")
    group.add_argument("--dataset", metavar="NAME|ID|SPEC.yaml",
                       help="the experiment to choose for, when the ledger holds several: "
                            "a dataset name, an experiment id (or its first 4+ characters, "
                            "as the error listing them shows), or the spec file that ran it "
                            "(then priced with that spec's overrides)")


def parse_volume(text: str, per: str | None) -> float:
    """``"5e6"``, ``"5,000,000/month"``, ``"2e5/day"`` -> items per month. Only parses:
    the bounds are `Scenario`'s."""
    from whichmodel.errors import quote

    match = re.fullmatch(r"\s*([0-9][0-9_,]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?)\s*"
                         r"(?:/\s*(month|year|day))?\s*", text)
    if match is None:
        raise UsageError(f"--volume: expected a positive number of items such as 5e6, "
                         f"5e6/month, 2e5/day or 6e7/year, got {quote(text)}")
    number, suffix = match.groups()
    if suffix and per and suffix != per:
        raise UsageError(f"--volume says /{suffix} but --per says {per}; give one")
    return float(number.replace(",", "").replace("_", "")) / MONTHS_PER[suffix or per or "month"]


def build_scenario(args: argparse.Namespace) -> Scenario:
    """The `Scenario` the flags describe: flags become fields, `Scenario` checks them, and
    its error is said with the flag that set the field."""
    from whichmodel.costs.scenario import Scenario, ScenarioError
    from whichmodel.errors import quote

    metric, min_quality, bar_from = args.metric, args.min_quality, "--min-quality"
    for name in _min_flag_metrics():
        value = getattr(args, _bar_dest(name), None)
        if value is None:
            continue
        if args.metric not in (None, name):
            raise UsageError(f"{bar_flag(name)} sets a bar on {name}; with --metric "
                             f"{args.metric} use --min-quality")
        metric, min_quality, bar_from = name, value, bar_flag(name)
    values = {"volume_per_month": parse_volume(args.volume, args.per),
              "horizon_months": args.horizon_months, "metric": metric,
              "min_quality": min_quality,
              "max_latency_p95_ms": args.max_latency_ms, "label_budget": args.label_budget,
              "hardware": args.hardware, "training_hardware": args.training_hardware,
              "cost_tie": args.cost_tie, "confidence": args.confidence}
    try:  # a flag left out (None) leaves the field at Scenario's default
        return Scenario(**{k: v for k, v in values.items() if v is not None})
    except ScenarioError as err:
        flag = SCENARIO_FLAGS[err.field]
        if err.field == "min_quality":
            flag = bar_from
        message = err.message_for(flag)
        if err.field == "volume_per_month":  # say what was typed, when it reads otherwise
            typed = args.volume.strip() + (f" per {args.per}" if args.per else "")
            if typed != f"{err.value:g}":
                message += f" items a month (from {quote(typed)})"
        raise UsageError(message) from None


def open_ledger_question(args: argparse.Namespace) -> Question:
    """`open_question` for ``LEDGER --dataset --prices``, its errors said with the flags."""
    from whichmodel.bench.question import QuestionError, open_question

    try:
        return open_question(args.ledger, args.dataset, args.prices)
    except QuestionError as err:
        raise UsageError(err.message_for(QUESTION_FLAGS[err.argument] + " ")) from None


def recommend_for(args: argparse.Namespace) -> tuple[Recommendation, Question, Prices]:
    """``(recommendation, question, prices)`` for the ledger and scenario flags: what
    `choose` prints and `report` renders, computed once, the same way for both
    (`Question.recommend`: cascades too, unless --no-cascades)."""
    scenario = build_scenario(args)
    question = open_ledger_question(args)
    prices = question.prices()
    prices.hardware_price(scenario.hardware, field="--hardware")
    recommendation = question.recommend(scenario, prices,
                                        cascades=getattr(args, "cascades", True))
    return recommendation, question, prices


def run(args: argparse.Namespace) -> int:
    recommendation, question, prices = recommend_for(args)
    if args.json:
        json.dump(recommendation.to_dict(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print_recommendation(recommendation, prices, question.failed_runs)
    return 0


def print_recommendation(rec: Any, prices: Any, failed_runs: int = 0) -> None:
    """The human answer: headline, the table of choices, Pareto set, switch volumes."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from whichmodel.choose import cost_vs_winner, describe_switches
    from whichmodel.costs.model import cost_at
    from whichmodel.terminal import plain, printable

    # Piped output (CI logs, `| tee`) gets a wide table instead of rich's 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    metric = rec.scenario.metric
    style = "bold green" if rec.winner else "bold red"
    # Candidate names and labels are the user's: printed as text, never read as markup.
    console.print(Text(printable(rec.headline()), style=style))
    if rec.why():
        console.print(Text(printable(rec.why())))
    if rec.confirmation is not None:
        holds = rec.confirmation.bar_holds
        console.print(Text(printable(rec.confirmation.sentence()),
                           style="" if holds is None else ("green" if holds else "bold red")))
    print_winner_model(rec)
    table = Table(title=f"{len(rec.verdicts)} choices at "
                        f"{rec.scenario.volume_per_month:,.0f} items/month, "
                        f"{rec.scenario.horizon_months:g} months, on {rec.scenario.hardware}")
    on = rec.verdicts[0].summary.selected_on if rec.verdicts else "test"
    seeds = any(v.summary.n_runs > 1 for v in rec.verdicts)  # else a spread means nothing
    quality_header = f"{metric}{' ± std' if seeds else ''} ({on})"
    for name in ("choice", quality_header, "p95 ms", "items/s", "labels", "annotation $",
                 "training $", "inference $", "total $", "verdict"):
        table.add_column(name, justify="left" if name in ("choice", "verdict") else "right")
    for v in rec.verdicts:
        s, c = v.summary, v.cost
        std = s.quality_std(metric)
        quality = s.quality(metric)
        if v is rec.winner:
            verdict = Text("recommended", style="green")
        elif v.qualifies:
            verdict = Text(printable(f"qualifies, {cost_vs_winner(v, rec.scenario)}"))
        else:
            verdict = Text(printable("; ".join(v.failed)), style="red")
        noisy = "*" if s.noise else ""  # explained below the table
        share = getattr(s, "escalated_share", None)  # a cascade's, on `selected_on`
        table.add_row(
            Text(printable(s.label + ("" if share is None else
                                      f" ({share:.0%} to {s.second.label})"))),
            ("—" if quality != quality else f"{quality:.3f}" if s.n_runs < 2
             else f"{quality:.3f} ± {0 if std != std else std:.3f}"),
            _num(v.latency_p95_ms, "{:,.1f}") + noisy,
            "API" if s.api_model else _num(s.drivers.throughput_items_per_s, "{:,.0f}") + noisy,
            f"{s.n_labels:,.0f}", f"{c.annotation_usd:,.2f}", f"{c.training_usd:,.2f}",
            f"{c.inference_usd:,.2f}", f"{c.total_usd:,.2f}", verdict)
    console.print(table)
    noisy = rec.noisy()
    if noisy:
        console.print(Text(printable(
            "* measured noisy (the machine was too busy for CPU time and repeats to correct "
            "it), so these speeds and what they cost may be off: "
            + "; ".join(f"{s.label}: {s.noise[0]}" for s in noisy)
            + ". Measure them again on a quiet machine: whichmodel bench SPEC --remeasure"),
            style="yellow"))
    for v in rec.closest:
        console.print(f"[yellow]{plain(v.label)}[/] would qualify if: "
                      + plain("; ".join(in_flags(c, rec.scenario.metric)
                                        for c in v.what_would_have_to_change)))
    pareto = ", ".join(f"{plain(s.label)} ({s.quality(metric):.3f}, ${rec.total_usd_of(s):,.0f})"
                       for s in rec.pareto)
    console.print(f"Pareto frontier ({metric} vs total cost): {pareto or 'none'}")
    if rec.switch_volumes:
        totals = cost_at([v.summary for v in rec.verdicts], rec.scenario, prices)
        for sentence in describe_switches(rec.switch_volumes, totals):
            console.print(plain(sentence))
    elif rec.winner is not None:
        console.print("The recommendation holds from 100 to 10,000,000,000 items/month.")
    overridden = (f"; overridden: {plain(', '.join(prices.overridden))}" if prices.overridden
                  else "")
    console.print(f"[dim]Prices: list prices as of {prices.date} ({prices.currency}){overridden}."
                  f" Hardware speed factors are assumptions; see prices.yaml.[/]")
    if failed_runs:
        console.print(f"[dim]{failed_runs} failed run(s) in the ledger were left out.[/]")


def print_winner_model(rec: Any) -> None:
    """Where the winner's kept model is and the commands that use it, printed plainly (a
    path wrapped mid-argument cannot be copied); or how to get one when none was kept."""
    from whichmodel.cli.bench import print_command
    from whichmodel.terminal import printable

    if rec.winner is None:
        return
    s = rec.winner.summary
    route = rec.winner_data.get("route")
    if route is not None:  # a cascade: save it from its two kept models, then predict
        if not (route.get("first") and route.get("second")):
            print(f"No kept models of both parts of {printable(s.label)} in this ledger "
                  "(keep_models: none?); train each, then `whichmodel route FIRST SECOND "
                  f"--threshold {route['threshold']:g} --out cascade-model`.")
            return
        print(f"{printable(s.label)}; save it from its two kept models:")
        print_command(["whichmodel", "route", route["first"], route["second"], "--threshold",
                       f"{route['threshold']:g}", "--out", "cascade-model"])
        print_command(["whichmodel", "predict", "cascade-model", "TEXTS.csv", "--out",
                       "predictions.csv"])
        return
    if rec.winner_model is None:
        print(f"No kept model of {printable(s.label)} in this ledger (keep_models: none, or "
              "a ledger from before kept models); retrain it with `whichmodel train DATA "
              f"--model {s.family} --out DIR`, or rerun the bench with keep_models: best.")
        return
    seed = s.best_record.seed if s.best_record else s.seeds[0]
    print(f"model: {printable(rec.winner_model)}  ({printable(s.label)}, seed {seed}"
          f"{f', the median of {s.n_runs} seeds' if s.n_runs > 1 else ''})")
    data = rec.winner_data
    evaluate = ["whichmodel", "evaluate", rec.winner_model, data.get("test_file", "DATA.csv")]
    if data.get("label"):
        evaluate += ["--label", str(data["label"])]
    print_command(evaluate)
    print_command(["whichmodel", "predict", rec.winner_model, "TEXTS.csv", "--out",
                   "predictions.csv"])


def in_flags(sentence: str, metric: str) -> str:
    """A library sentence naming scenario fields (``raise label_budget to 640``) as the
    flags that set them (``raise --label-budget to 640``): the CLI alone speaks in flags."""
    flags = dict(SCENARIO_FLAGS)
    flags["min_quality"] = bar_flag(metric)
    return re.sub(r"\b(" + "|".join(map(re.escape, flags)) + r")\b",
                  lambda m: flags[m.group(1)], sentence)


def bar_flag(metric: str) -> str:
    """The flag that sets a bar on ``metric``: ``--min-slot-f1`` for slot_f1, else
    ``--min-quality`` (with ``--metric``)."""
    return f"--min-{metric.replace('_', '-')}" if metric in _min_flag_metrics() else \
        "--min-quality"


def _min_flag_metrics() -> list[str]:
    """The registry's metrics with their own ``--min-NAME`` flag: those a bar may be set
    on where higher is better."""
    from whichmodel.metrics import METRICS, metric_names

    return [name for name in metric_names(bar=True) if METRICS[name].higher_is_better]


def _bar_dest(metric: str) -> str:
    return "min_accuracy" if metric == "accuracy" else f"min_metric_{metric}"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)
