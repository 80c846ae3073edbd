"""`whichmodel bench SPEC.yaml`: run every candidate × budget × seed into a resumable ledger."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whichmodel.errors import SettingError, SpecError, UsageError, quote
from whichmodel.terminal import printable

if TYPE_CHECKING:
    from whichmodel.bench.spec import ExperimentSpec

EXAMPLES = """\
examples:
  whichmodel bench examples/banking77.yaml
      ledger next to the spec: examples/banking77.sqlite
  whichmodel bench spec.yaml --ledger runs/tickets.sqlite --quiet
  whichmodel bench spec.yaml --mlflow file:./mlruns       also log each row to MLflow
  whichmodel bench spec.yaml --no-retry-failed            leave failed runs as they are
  whichmodel bench spec.yaml --remeasure     speeds again from the kept models, no training

Interrupted (Ctrl-C, a crash, kill -9)? Run the same command again: finished runs are
kept and skipped, only the rest run. Failed runs are retried unless --no-retry-failed.
A run is redone when anything that changes its numbers changed: the data files'
content, fields or split, the candidate's settings, budget, seed, `measure:` settings,
or the versions of whichmodel, torch, transformers, sentence-transformers, scikit-learn.

One bench writes a ledger at a time: it holds a lock on <ledger>.lock (with its pid)
while it runs, and a second bench on the same ledger stops at once with a one-line
error. choose and report only read, need no lock, and can run while a bench writes.
Specs on other data (or another test set) can share a ledger: each is its own
experiment with its own `prices:`, and choose/report ask which one (--dataset).
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `bench` subcommand."""
    parser = sub.add_parser(
        "bench", help="benchmark every candidate of a spec into a resumable ledger",
        description="Train and measure every (candidate, label budget, seed) of an "
                    "experiment spec: quality, train seconds, throughput, latency, peak "
                    "memory, tokens. Each finished run is one row in an SQLite ledger; "
                    "a rerun skips finished runs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", metavar="SPEC.yaml", help="experiment spec (YAML)")
    parser.add_argument("--ledger", metavar="FILE",
                        help="SQLite ledger to write (default: <spec>.sqlite next to the "
                             "spec)")
    parser.add_argument("--mlflow", metavar="URI",
                        help="also export the spec's rows as MLflow runs to this tracking "
                             "URI, e.g. file:./mlruns (pip install 'whichmodel[mlflow]')")
    parser.add_argument("--retry-failed", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="run keys recorded as failed again (default: yes)")
    parser.add_argument("--remeasure", action="store_true",
                        help="measure throughput and latency of every finished choice "
                             "again from its kept model (keep_models), training nothing: "
                             "after a bench on a busy machine, or on the deployment hardware")
    parser.add_argument("--quiet", action="store_true",
                        help="no live progress; print only the summary")
    parser.set_defaults(func=run)


def default_ledger(spec_path: str | Path) -> Path:
    """``dir/name.yaml`` -> ``dir/name.sqlite``."""
    return Path(spec_path).with_suffix(".sqlite")


def run(args: argparse.Namespace) -> int:
    """Validate the spec, run the benchmark, print where the ledger is and what next."""
    from whichmodel.bench.runner import plan_runs, run_benchmark
    from whichmodel.bench.spec import load_spec

    spec = load_spec(args.spec)
    check_backbones(spec)
    if args.mlflow:
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:  # say so before hours of training
            raise UsageError("--mlflow needs mlflow: pip install 'whichmodel[mlflow]'")
    if args.ledger and args.ledger.endswith(("/", os.sep)):
        raise UsageError(f"--ledger {args.ledger} names a folder; give the ledger file, e.g. "
                         f"{Path(args.ledger) / 'runs.sqlite'}")
    ledger = Path(args.ledger) if args.ledger else default_ledger(args.spec)
    if args.remeasure:
        return _remeasure(spec, ledger, args)
    n_runs = len(plan_runs(spec))
    out = sys.stdout
    if not args.quiet:
        print(f"bench: {len(spec.candidates)} candidate(s) × {len(spec.budgets)} budget(s) "
              f"× {len(spec.seeds)} seed(s) = {n_runs} run(s); ledger {printable(ledger)}",
              file=out)
    try:
        records = run_benchmark(spec, ledger, progress=not args.quiet,
                                retry_failed=args.retry_failed)
    except KeyboardInterrupt:
        print(f"interrupted; finished runs are kept in {printable(ledger)}. Run the same command "
              "again to resume.", file=sys.stderr)
        return 130

    ok = sum(r.status == "ok" for r in records)
    failed = [r for r in records if r.status != "ok"]
    print(f"{ok} of {n_runs} run(s) ok, {len(failed)} failed; ledger: {printable(ledger)}",
          file=out)
    for r in failed[:5]:  # names and errors are the user's strings: escaped, never raw
        print(printable(f"  failed: {r.candidate} budget {r.budget} seed {r.seed}: "
                        f"{r.error}"), file=out)
    if len(failed) > 5:
        print(f"  … and {len(failed) - 5} more (see the ledger's error column)", file=out)
    if records and not ok:
        print("no run succeeded: fix the errors above and rerun the same command"
              + ("" if not args.retry_failed else " (failed runs are retried)"), file=out)
        return 1

    if args.mlflow:
        from whichmodel.bench.mlflow_export import export_to_mlflow

        n = export_to_mlflow(records, args.mlflow)
        print(f"exported {n} run(s) to MLflow at {args.mlflow}", file=out)

    print("next:", file=out)
    flags = scenario_flags(spec) + _experiment_flag(ledger, records)
    print_command(["whichmodel", "choose", str(ledger), *flags], out)
    print_command(["whichmodel", "report", str(ledger), *flags, "--out",
                   str(ledger.with_suffix(".html"))], out)
    if spec.prices:
        print("  (choose and report price these runs with this spec's `prices:` overrides, "
              "stored in the ledger for its experiment; --prices FILE replaces them)",
              file=out)
    return 0  # failed runs are results too (if some succeeded): listed above, retried


def _remeasure(spec: ExperimentSpec, ledger: Path, args: argparse.Namespace) -> int:
    """`bench --remeasure`: speed figures again from the kept models, nothing trained."""
    from whichmodel.bench.remeasure import remeasure

    if not ledger.is_file():
        raise UsageError(f"--remeasure needs the ledger of an earlier bench; {ledger} does "
                         "not exist (run the bench first, or give --ledger)")
    done = remeasure(spec, ledger, progress=not args.quiet)
    print(f"re-measured {done.choices} choice(s) ({done.rows} row(s)) in {printable(ledger)}")
    if done.without_model:
        shown = ", ".join(done.without_model[:5])
        more = f" and {len(done.without_model) - 5} more" if len(done.without_model) > 5 else ""
        print(printable(f"  no kept model, left as measured: {shown}{more} (keep_models: "
                        "none, or runs from before kept models; rerun those into a new "
                        "--ledger to keep them)"))
    return 0 if done.choices or not done.without_model else 1


def command_lines(argv: list[str], width: int | None = None, indent: str = "  ") -> list[str]:
    """A command for the user to copy, as lines to print: every argument shell-quoted, on
    one line when it fits in `width` (the terminal's, at most 100 columns), else broken
    only between arguments (a flag keeps its value) with a trailing `` \\``, so the lines
    paste back as the same command. Control characters are escaped (`printable`)."""
    import shlex
    import shutil

    if width is None:
        width = max(60, min(shutil.get_terminal_size((88, 24)).columns, 100))
    words = [printable(shlex.quote(arg)) for arg in argv]
    groups: list[str] = []
    for i, word in enumerate(words):
        if groups and argv[i - 1].startswith("--") and not argv[i].startswith("--"):
            groups[-1] += " " + word
        else:
            groups.append(word)
    lines, current = [], indent
    for group in groups:
        if current.strip() and len(current) + 1 + len(group) + 2 > width:
            lines.append(current + " \\")
            current = indent + "    " + group
        else:
            current = current + (" " if current.strip() else "") + group
    lines.append(current)
    return lines


def print_command(argv: list[str], out: Any = None) -> None:
    """Print `command_lines` with plain `print`: no rich wrapping inside an argument."""
    for line in command_lines(argv):
        print(line, file=out or sys.stdout)


def check_backbones(spec: ExperimentSpec) -> None:
    """Every candidate's backbone must load, checked before any run: a typo would
    otherwise fail each of its runs after minutes of hub retries."""
    from whichmodel.backbones import check_model_backbone
    from whichmodel.models.base import build_classifier

    checked: set[str] = set()  # each name is looked up once, whoever uses it
    for candidate in spec.candidates:
        try:
            check_model_backbone(build_classifier(candidate.family, **candidate.settings),
                                 checked)
        except SettingError as err:
            raise SpecError(f"{spec.source}: candidates: {quote(candidate.name)}: "
                            f"settings.backbone: {err}") from None


def _experiment_flag(ledger: Path, records: list) -> list[str]:
    """``["--dataset", ID]`` when the ledger holds other experiments too (choose and report
    would otherwise ask which one), else nothing."""
    from whichmodel.bench.ledger import read_records
    from whichmodel.bench.record import experiment_of

    ours = {experiment_of(r) for r in records}
    others = {experiment_of(r) for r in read_records(ledger) if r.status == "ok"} - ours
    return ["--dataset", sorted(ours)[0]] if others and len(ours) == 1 else []


def scenario_flags(spec: ExperimentSpec) -> list[str]:
    """The `choose`/`report` flags for the spec's scenario: both commands read only the
    ledger, so the hints spell the scenario out and report explains what choose picks.
    Fields at `Scenario`'s defaults are left out; each other one is given with its flag."""
    from dataclasses import asdict

    from whichmodel.cli.choose import SCENARIO_FLAGS, bar_flag
    from whichmodel.costs.scenario import Scenario

    values, defaults = asdict(spec.to_scenario()), asdict(Scenario())
    parts = ["--volume", _compact(values["volume_per_month"])]
    for field, flag in SCENARIO_FLAGS.items():
        value = values[field]
        if field == "volume_per_month" or value is None or value == defaults[field]:
            continue
        if field == "min_quality":
            flag = bar_flag(values["metric"])
        if (field == "metric" and values["min_quality"] is not None
                and bar_flag(value) != "--min-quality"):
            continue  # --min-slot-f1 says the metric too
        parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return parts


def _compact(number: float) -> str:
    """5000000.0 -> "5e6", 1500.0 -> "1500", 2.5e6 -> "2.5e6": as a user would type it."""
    mantissa, _, exponent = f"{number:e}".partition("e")
    exp = int(exponent)
    if exp < 4:
        return f"{number:g}"
    return f"{float(mantissa):g}e{exp}"
