"""`whichmodel route`: save a cascade of two saved models, to predict with like any model."""

from __future__ import annotations

import argparse

from whichmodel.errors import UsageError
from whichmodel.terminal import printable

EXAMPLES = """\
examples:
  whichmodel route models/tfidf models/setfit8 --threshold 0.8 --out models/cascade
  whichmodel predict models/cascade new.csv --out predictions.csv

The cascade sends every item to FIRST; an item whose top-class probability there is at
least --threshold keeps FIRST's answer, the others go to SECOND. Its folder holds
cascade.json (the two folders, relative to it, and the threshold) and whichmodel.json,
not copies of the models: keep the three folders where they are, or move them together.
`whichmodel choose` lists the cascades worth deploying, with the threshold chosen on
validation, and prints this command for the one it recommends.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "route", help="save a cascade: a cheap model first, a costlier one when unsure",
        description="Save a cascade of two saved models: FIRST answers the items it is "
                    "confident about (top-class probability at least --threshold), SECOND "
                    "the rest. The folder predicts through `whichmodel predict` and "
                    "`evaluate` like any model.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", metavar="FIRST_DIR", help="the model that sees every item")
    parser.add_argument("second", metavar="SECOND_DIR",
                        help="the model for the items FIRST is unsure of")
    parser.add_argument("--threshold", type=float, required=True, metavar="T",
                        help="FIRST answers when its confidence is at least T (0: always; "
                             "above 1: never)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="new folder to save the cascade to")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whichmodel.route import Cascade

    if args.threshold != args.threshold or args.threshold < 0:
        raise UsageError(f"--threshold must be 0 or more, got {args.threshold:g}")
    cascade = Cascade.compose(args.first, args.second, args.threshold)
    folder = cascade.save(args.out)
    print(f"saved the cascade {printable(args.first)} → {printable(args.second)} at "
          f"threshold {args.threshold:g} to {printable(str(folder))}")
    print(f"  whichmodel predict {printable(args.out)} TEXTS.csv --out predictions.csv")
    return 0
