"""The `whichmodel` command. Each subcommand lives in its own module with a `register`.

Exit codes: 0 success, 2 usage or data error (one line on stderr, traceback only with
--debug), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Modules under whichmodel.cli, each with `register(subparsers)`; listed in help order.
_COMMAND_MODULES = ("demo", "train", "evaluate", "predict", "bench", "choose", "report",
                    "route")

EPILOG = """\
examples:
  whichmodel demo                                   whole pipeline on built-in data
  whichmodel train reviews.csv --text review --label stars --model tfidf --out m/
  whichmodel train tickets.csv --text "{subject}\\n{body}" --label team \\
      --model embedding --shots 8 --out m/
  whichmodel evaluate m/ test.csv --text review --label stars --json
  whichmodel predict m/ new.csv --text review --out predictions.csv
  whichmodel bench examples/banking77.yaml --ledger runs.sqlite
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 5e6
  whichmodel report runs.sqlite --out report.html
  whichmodel route models/tfidf models/setfit8 --threshold 0.8 --out models/cascade
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="whichmodel",
        description="Which text classifier should you deploy, and what will it really cost? "
                    "Train candidates on your labelled data, measure quality, speed and "
                    "tokens, price them at your volume, and pick the cheapest that meets "
                    "your bar.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"whichmodel {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"whichmodel.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("whichmodel.cli."):
                continue  # that command has not landed yet
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("whichmodel")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `whichmodel` console script."""
    from whichmodel.errors import WhichmodelError

    # transformers and huggingface_hub draw their own tqdm bars ("Loading weights: 0%|…"
    # each time a sentence-transformers body loads, "Fetching files") on stderr, between
    # our lines and under the bench's live display. Both read this switch when they are
    # first imported, which is after this point (commands import them lazily); our own
    # bars (rich here, tqdm in the library) do not read it. A user's own setting wins.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so a closed pipe is caught below, not at interpreter exit
        return code
    except WhichmodelError as err:
        if args.debug:
            raise
        _print_error(args.command, str(err))
        return 2
    except BrokenPipeError:  # the reader went away (`whichmodel choose --json | head`)
        # Point stdout at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:
        # A file that cannot be read or written (permissions, a full disk, a symbolic link
        # loop, a missing folder): the user's to fix, so one line, not a traceback.
        if args.debug:
            raise
        where = f" {err.filename}" if err.filename else ""
        _print_error(args.command, f"{where.strip() + ': ' if where else ''}"
                                   f"{err.strerror or err} (run with --debug for the "
                                   "traceback)")
        return 2
    except RuntimeError as err:
        # pathlib on Python 3.11 reports a symbolic link loop as a RuntimeError.
        if args.debug or not str(err).startswith("Symlink loop"):
            raise
        _print_error(args.command, f"{err}: a symbolic link in the path points to itself")
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _print_error(command: str, message: str) -> None:
    """One line on stderr, with control characters of user strings (labels, paths) escaped
    so they cannot drive the terminal, and bounded so a huge value cannot flood it."""
    from whichmodel.terminal import printable

    text = printable(message)
    if len(text) > 2000:
        text = text[:2000] + f"… ({len(text):,} characters in all)"
    print(f"whichmodel {command}: error: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
