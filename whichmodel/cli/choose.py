"""`whichmodel choose`: the cheapest candidate that meets the bar, from a bench ledger."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whichmodel.errors import UsageError, WhichmodelError

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


def add_scenario_arguments(parser: argparse.ArgumentParser, *, volume_required: bool) -> None:
    """The scenario flags shared by `choose` and `report`, read by `build_scenario`.

    Without ``volume_required`` --volume defaults to 1e6 (a report is useful before anyone
    has settled on a volume).
    """
    group = parser.add_argument_group("scenario")
    group.add_argument("--volume", required=volume_required,
                       default=None if volume_required else "1e6", metavar="N[/PERIOD]",
                       help="items to classify per period, e.g. 5e6 or 5e6/month"
                            + ("" if volume_required else " (default 1e6)"))
    group.add_argument("--per", choices=sorted(MONTHS_PER), default=None,
                       help="period of --volume (default month)")
    group.add_argument("--metric", choices=["accuracy", "macro_f1"], default=None,
                       help="quality metric of the bar (default accuracy)")
    bar = group.add_mutually_exclusive_group()
    bar.add_argument("--min-accuracy", type=float, metavar="X", help="minimum mean accuracy")
    bar.add_argument("--min-quality", type=float, metavar="X",
                     help="minimum mean of --metric")
    group.add_argument("--max-latency-ms", type=float, metavar="MS",
                       help="maximum single-item p95 latency on the deployment hardware")
    group.add_argument("--label-budget", type=int, metavar="N",
                       help="most labelled examples you can pay for")
    group.add_argument("--horizon-months", type=float, default=12.0, metavar="M",
                       help="months to total the costs over (default 12)")
    group.add_argument("--hardware", default=None, metavar="KEY",
                       help="deployment hardware, a key of prices.yaml (default cpu-small)")
    group.add_argument("--training-hardware", default=None, metavar="KEY",
                       help="hardware training runs on (default: the deployment hardware)")
    group.add_argument("--cost-tie", type=float, default=None, metavar="FRACTION",
                       help="totals within this fraction of the cheapest count as equal and "
                            "the better model wins (default 0.01; 0 = strictly cheapest)")
    group.add_argument("--prices", metavar="FILE",
                       help="YAML of price overrides (default: the spec's, from the ledger)")
    group.add_argument("--dataset", metavar="NAME|ID|SPEC.yaml",
                       help="the experiment to choose for, when the ledger holds several: "
                            "a dataset name, an experiment id (or its first 4+ characters, "
                            "as the error listing them shows), or the spec file that ran it "
                            "(then priced with that spec's overrides)")


def parse_volume(text: str, per: str | None) -> float:
    """``"5e6"``, ``"5,000,000/month"``, ``"2e5/day"`` -> items per month (at most
    `MAX_VOLUME_PER_MONTH`: beyond it totals overflow)."""
    from whichmodel.costs.scenario import MAX_VOLUME_PER_MONTH
    from whichmodel.errors import quote

    match = re.fullmatch(r"\s*([0-9][0-9_,]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?)\s*"
                         r"(?:/\s*(month|year|day))?\s*", text)
    if match is None:
        raise UsageError(f"--volume: expected a positive number of items such as 5e6, "
                         f"5e6/month, 2e5/day or 6e7/year, got {quote(text)}")
    number, suffix = match.groups()
    if suffix and per and suffix != per:
        raise UsageError(f"--volume says /{suffix} but --per says {per}; give one")
    volume = float(number.replace(",", "").replace("_", "")) / MONTHS_PER[suffix or per or "month"]
    if not volume <= MAX_VOLUME_PER_MONTH:  # 1e400 reads as inf; 1e308 overflows totals
        raise UsageError(f"--volume: {quote(text)} is {volume:g} items per month; give at "
                         f"most {MAX_VOLUME_PER_MONTH:,.0f} (far past any deployment)")
    return volume


def build_scenario(args: argparse.Namespace) -> Any:
    """The `Scenario` the flags describe."""
    from whichmodel.costs.scenario import MAX_HORIZON_MONTHS, Scenario

    metric = args.metric or "accuracy"
    if args.min_accuracy is not None and metric != "accuracy":
        raise UsageError("--min-accuracy sets a bar on accuracy; with --metric "
                         f"{metric} use --min-quality")
    minimum = args.min_accuracy if args.min_accuracy is not None else args.min_quality
    if minimum is not None and not 0 <= minimum <= 1:
        raise UsageError(f"the minimum {metric} must be between 0 and 1, got {minimum}")
    if args.max_latency_ms is not None and not args.max_latency_ms > 0:
        raise UsageError(f"--max-latency-ms must be more than 0, got {args.max_latency_ms:g}")
    if args.label_budget is not None and args.label_budget < 1:
        raise UsageError(f"--label-budget must be at least 1 label, got {args.label_budget}")
    if not 0 < args.horizon_months <= MAX_HORIZON_MONTHS:
        raise UsageError(f"--horizon-months must be more than 0 and at most "
                         f"{MAX_HORIZON_MONTHS:g} (a century), got {args.horizon_months:g}")
    volume = parse_volume(args.volume, args.per)
    if volume <= 0:
        raise UsageError(f"--volume must be more than 0 items, got {args.volume}")
    values: dict[str, Any] = {
        "volume_per_month": volume,
        "horizon_months": args.horizon_months, "metric": metric, "min_quality": minimum,
        "max_latency_p95_ms": args.max_latency_ms, "label_budget": args.label_budget}
    if args.hardware:
        values["hardware"] = args.hardware
    if args.training_hardware:
        values["training_hardware"] = args.training_hardware
    if args.cost_tie is not None:
        if not 0 <= args.cost_tie < 1:
            raise UsageError(f"--cost-tie is a fraction of the cheapest total, such as 0.01 "
                             f"for 1%; got {args.cost_tie}")
        values["cost_tie"] = args.cost_tie
    return Scenario(**values)


def run(args: argparse.Namespace) -> int:
    from whichmodel.choose import recommend
    from whichmodel.costs.prices import load_prices

    scenario = build_scenario(args)
    prices = load_prices(price_overrides(args))
    prices.hardware_price(scenario.hardware, field="--hardware")
    records = read_ledger_runs(args.ledger, args.dataset)
    recommendation = recommend(records, scenario, prices)
    if args.json:
        json.dump(recommendation.to_dict(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        failed = sum(r.status != "ok" for r in records)
        print_recommendation(recommendation, prices, failed)
    return 0


def price_overrides(args: argparse.Namespace) -> dict[str, Any] | None:
    """--prices FILE if given, else the `prices:` overrides of the specs that ran the
    experiment being asked about (the one ``--dataset`` picks, or the ledger's only one),
    else None.

    Prices belong to the question, not to whichever spec ran last: each spec's overrides
    are stored under its own id with its experiment (`whichmodel.bench.runner`). Picking
    by ``--dataset SPEC.yaml`` uses that spec's prices; specs on one experiment that
    disagree are refused with a request for --prices rather than one chosen silently.
    Ledgers from older whichmodel versions have one ``spec``; its prices are used.
    """
    from whichmodel.costs.prices import read_overrides

    if args.prices:
        return read_overrides(args.prices)
    if not Path(args.ledger).is_file():
        return None  # the caller's ledger check says what to do
    return _experiment_prices(args.ledger, _select_experiment(args.ledger, args.dataset))


def read_ledger_runs(path: str, dataset: str | None) -> list[Any]:
    """The runs of one experiment of the ledger, or a one-line error saying what to run or
    pass when the file is missing, holds several experiments and ``dataset`` picks none,
    has no runs on that dataset, or none that succeeded.

    ``dataset`` (--dataset) may be a dataset name as stored in the rows (with or without
    its ``[text=… label=…]`` part), an experiment id (or its first 4+ characters) as the
    several-experiments error lists them, or the spec YAML that ran it.
    """
    if not Path(path).exists():
        raise WhichmodelError(f"ledger not found: {path}; run `whichmodel bench SPEC.yaml` "
                              "first, then pass the .sqlite file it wrote")
    records = _select_experiment(path, dataset).records
    if not any(r.status == "ok" for r in records):
        failed = len(records)
        raise WhichmodelError(f"{path} has no successful runs ({failed} failed); run "
                              "`whichmodel bench SPEC.yaml` and check the failures it reports")
    return records


@dataclass
class _Selection:
    """One experiment's rows of a ledger, with the ledger's meta and the spec that picked
    it (when --dataset named a spec file)."""

    records: list[Any]
    experiment: str | None
    meta: dict[str, str]
    spec: Any = None


def _select_experiment(path: str, dataset: str | None) -> _Selection:
    """Read the ledger and keep the rows of one experiment: the one ``dataset`` picks, or
    the only one with successful runs. Runs of two experiments (other data files, test
    set or split) are never mixed: several and no pick is a one-line error listing them."""
    from whichmodel.bench.ledger import read_ledger
    from whichmodel.bench.record import experiment_of

    records, meta = read_ledger(path)
    spec = None
    if dataset is not None:
        records, spec = _pick(path, records, meta, dataset)
    experiments = list(dict.fromkeys(experiment_of(r) for r in records if r.status == "ok"))
    if len(experiments) > 1:
        listed = "; ".join(_describe_experiment(e, records, meta) for e in experiments)
        raise WhichmodelError(f"{path} holds {len(experiments)} experiments (different data, "
                              "test sets or splits; their runs are not comparable): "
                              f"{listed}; pick one with --dataset ID (or --dataset SPEC.yaml)")
    if not experiments:
        return _Selection(records, None, meta, spec)
    return _Selection([r for r in records if experiment_of(r) == experiments[0]],
                      experiments[0], meta, spec)


def _pick(path: str, records: list[Any], meta: dict[str, str],
          value: str) -> tuple[list[Any], Any]:
    """Rows that --dataset ``value`` names, and the spec when it names a spec file."""
    from whichmodel.bench.record import experiment_of
    from whichmodel.errors import quote

    if Path(value).suffix.lower() in (".yaml", ".yml") and Path(value).is_file():
        from whichmodel.bench.identity import experiment_id
        from whichmodel.bench.spec import load_spec

        spec = load_spec(value)
        wanted = experiment_id(spec)
        picked = [r for r in records if experiment_of(r) == wanted]
        if not picked:
            raise WhichmodelError(f"{path} has no runs of {value} (experiment {wanted}: its "
                                  "data files as they are now); run `whichmodel bench "
                                  f"{value} --ledger {path}`, or pick one of: "
                                  f"{_experiment_list(records, meta)}")
        return picked, spec

    def matches(record: Any) -> bool:
        experiment = experiment_of(record)
        return (value in (record.dataset, record.dataset.split(" [")[0], experiment)
                or (len(value) >= 4 and experiment.startswith(value)))

    picked = [r for r in records if matches(r)]
    if not picked:
        datasets = sorted({r.dataset for r in records})
        raise WhichmodelError(f"{path} has no runs on dataset {quote(value)}; datasets: "
                              f"{', '.join(datasets) or 'none'}"
                              + (f"; experiments: {_experiment_list(records, meta)}"
                                 if records else ""))
    return picked, None


def _experiment_list(records: list[Any], meta: dict[str, str]) -> str:
    from whichmodel.bench.record import experiment_of

    experiments = list(dict.fromkeys(experiment_of(r) for r in records))
    return "; ".join(_describe_experiment(e, records, meta) for e in experiments) or "none"


def _describe_experiment(experiment: str, records: list[Any], meta: dict[str, str]) -> str:
    """``ID (dataset, train FILE sha256 1a2b3c4d, test FILE sha256 …, N runs)``: enough to
    tell experiments apart and to type the ID."""
    from whichmodel.bench.ledger import EXPERIMENT_PREFIX, meta_entries
    from whichmodel.bench.record import experiment_of

    rows = [r for r in records if experiment_of(r) == experiment]
    info = meta_entries(meta, EXPERIMENT_PREFIX).get(experiment)
    runs = f"{sum(r.status == 'ok' for r in rows)} ok run(s)"
    if info is None:
        return f"{experiment} ({rows[0].dataset}, from an older whichmodel, {runs})"

    def short(fingerprint: Any) -> str:
        kind, _, value = str(fingerprint).partition(":")
        return f"{kind} {value[:8]}" if kind == "sha256" else str(value or kind)

    held = info.get("held_out") or {}
    test = (f"test {info.get('test_file')} {short(held['test'])}" if "test" in held
            else f"split {held.get('test_size')} seed {held.get('split_seed')}")
    return (f"{experiment} ({info.get('dataset')}, train {info.get('train_file')} "
            f"{short(info.get('train'))}, {test}, {runs})")


def _experiment_prices(path: str, selection: _Selection) -> dict[str, Any] | None:
    """The overrides of the specs that ran ``selection``'s experiment (see
    `price_overrides`); a one-line error when they disagree."""
    from whichmodel.bench.ledger import LEGACY_SPEC, SPEC_PREFIX, meta_entries

    if selection.spec is not None:
        return selection.spec.prices or None
    if selection.experiment is None:
        return None
    specs = meta_entries(selection.meta, SPEC_PREFIX)
    entries = [e for e in specs.values() if e.get("experiment") == selection.experiment]
    if entries:
        distinct: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            text = json.dumps(entry.get("prices") or {}, sort_keys=True, default=str)
            distinct.setdefault(text, []).append(entry)
        if len(distinct) > 1:
            shown = "; ".join(f"{', '.join(sorted({str(e.get('source')) for e in group}))}: "
                              f"{text}" for text, group in distinct.items())
            raise WhichmodelError(f"{path}: {len(distinct)} specs ran experiment "
                                  f"{selection.experiment} with different `prices:` "
                                  f"({shown}); pass --prices FILE with the prices to use")
        return entries[0].get("prices") or None
    if selection.experiment.startswith("legacy-"):  # rows from an older whichmodel
        legacy = selection.meta.get(LEGACY_SPEC) or (None if specs
                                                     else selection.meta.get("spec"))
        if legacy:
            try:
                return json.loads(legacy).get("prices") or None
            except (TypeError, ValueError, AttributeError):
                return None
    return None


def print_recommendation(rec: Any, prices: Any, failed_runs: int = 0) -> None:
    """The human answer: headline, the table of choices, Pareto set, switch volumes."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from whichmodel.choose import cost_vs_winner, describe_switches
    from whichmodel.terminal import plain, printable

    # Piped output (CI logs, `| tee`) gets a wide table instead of rich's 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    metric = rec.scenario.metric
    style = "bold green" if rec.winner else "bold red"
    # Candidate names and labels are the user's: printed as text, never read as markup.
    console.print(Text(printable(rec.headline()), style=style))
    table = Table(title=f"{len(rec.verdicts)} choices at "
                        f"{rec.scenario.volume_per_month:,.0f} items/month, "
                        f"{rec.scenario.horizon_months:g} months, on {rec.scenario.hardware}")
    for name in ("choice", f"{metric} ± std", "p95 ms", "items/s", "labels",
                 "annotation $", "training $", "inference $", "total $", "verdict"):
        table.add_column(name, justify="left" if name in ("choice", "verdict") else "right")
    for v in rec.verdicts:
        s, c = v.summary, v.cost
        std = getattr(s, f"{metric}_std")
        quality = s.quality(metric)
        if v is rec.winner:
            verdict = Text("recommended", style="green")
        elif v.qualifies:
            verdict = Text(printable(f"qualifies, {cost_vs_winner(v, rec.scenario)}"))
        else:
            verdict = Text(printable("; ".join(v.failed)), style="red")
        table.add_row(
            Text(printable(s.label)),
            f"{quality:.3f} ± {std or 0:.3f}" if quality == quality else "—",
            _num(v.latency_p95_ms, "{:,.1f}"),
            "API" if s.api_model else _num(s.throughput_items_per_s, "{:,.0f}"),
            f"{s.n_labels:,.0f}", f"{c.annotation_usd:,.2f}", f"{c.training_usd:,.2f}",
            f"{c.inference_usd:,.2f}", f"{c.total_usd:,.2f}", verdict)
    console.print(table)
    for v in rec.closest:
        console.print(f"[yellow]{plain(v.label)}[/] would qualify if: "
                      + plain("; ".join(v.what_would_have_to_change)))
    pareto = ", ".join(f"{plain(s.label)} ({s.quality(metric):.3f}, ${rec.total_usd_of(s):,.0f})"
                       for s in rec.pareto)
    console.print(f"Pareto frontier ({metric} vs total cost): {pareto or 'none'}")
    if rec.switch_volumes:
        for sentence in describe_switches(rec.switch_volumes):
            console.print(plain(sentence))
    elif rec.winner is not None:
        console.print("The recommendation holds from 100 to 10,000,000,000 items/month.")
    overridden = (f"; overridden: {plain(', '.join(prices.overridden))}" if prices.overridden
                  else "")
    console.print(f"[dim]Prices: list prices as of {prices.date} ({prices.currency}){overridden}."
                  f" Hardware speed factors are assumptions; see prices.yaml.[/]")
    if failed_runs:
        console.print(f"[dim]{failed_runs} failed run(s) in the ledger were left out.[/]")


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)
