"""`whichmodel predict`: label a file (or standard input) with a saved model, in chunks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from whichmodel.cli.common import (
    add_data_arguments,
    is_frames_input,
    make_console,
    positive_int,
)
from whichmodel.errors import UsageError
from whichmodel.terminal import plain

EXAMPLES = """\
examples:
  whichmodel predict models/tfidf new.csv --out predictions.csv
  whichmodel predict models/setfit8 inbox.jsonl --text "{subject}\\n{body}" --out labels.jsonl
  echo "my card was charged twice" | whichmodel predict models/setfit8 -
  whichmodel predict models/tfidf big.parquet --out labels.parquet --batch-size 256
  echo "wake me up at seven am" | whichmodel predict models/joint -   # intent + slots

The output has one row per input row: row (its row in the input, or the line number on
standard input), text, prediction, confidence (the top-class probability). CSV, TSV, JSONL
or Parquet, by the suffix of --out; without --out, JSON lines on standard output. The
input is read and written in chunks, so its length is not limited by memory. --text
defaults to the text column or template the model was trained with. A joint or dual
model adds slots: each filled slot's type, words and word span (start, end exclusive,
counting whitespace-separated words), JSON text in CSV/TSV/Parquet. A .conll or SLURP
input is read as its sentences.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict", help="label a file or standard input with a saved model",
        description="Predict labels for every row of a file (or every line of standard "
                    "input, INPUT '-') with a saved model.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", metavar="DIR", help="folder written by `whichmodel train`")
    parser.add_argument("data", metavar="INPUT",
                        help="file or dataset to label, or '-' for one text per line on "
                             "standard input")
    add_data_arguments(parser, label=False, text_required=False)
    parser.add_argument("--split", metavar="NAME", help="split of a Hugging Face dataset")
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="items per prediction batch (default: the model's own, e.g. "
                             "64 for sentence-transformer bodies, 1024 for tfidf)")
    parser.add_argument("--out", metavar="OUT",
                        help="file to write (.csv, .tsv, .jsonl or .parquet; replaced if it "
                             "exists, never the input or a file of the model); default: JSON "
                             "lines on standard output")
    parser.set_defaults(func=run)


def model_field(model: Any, given: str | None, field: str, flag: str) -> str | None:
    """``given``, else the field the model was trained with, else a `UsageError`."""
    if given is not None:
        return given
    fields = getattr(model, "input_fields_", None) or {}
    saved = fields.get(field)
    if saved is None and field == "text" and fields.get("format") == "intents+slots":
        raise UsageError("the model was trained on intent + slot data (.conll or SLURP): "
                         f"give such a file, or {flag} COLUMN for a table")
    if saved is None and field == "text":
        raise UsageError(f"the model does not record its text column (it was trained by an "
                         f"older whichmodel or from Python); pass {flag}")
    return saved


def check_output(out: str | None, data: str, model_dir: str) -> None:
    """--out must be neither the input nor a file inside the model folder."""
    if out is None:
        return
    target = Path(out).expanduser().resolve()
    if data != "-" and Path(data).exists() and target == Path(data).expanduser().resolve():
        raise UsageError(f"--out {out} is the input file; write the predictions to a new "
                         "file (the input is never overwritten)")
    model = Path(model_dir).expanduser().resolve()
    if target == model or model in target.parents:
        raise UsageError(f"--out {out} is inside the model folder {model_dir}; write the "
                         "predictions elsewhere (a model folder holds only the model)")
    if target.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name such as "
                         "predictions.csv")


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from whichmodel.batch import predict_file
    from whichmodel.predictor import Predictor

    console = make_console(stderr=True)  # stdout may carry the predictions
    check_output(args.out, args.data, args.model_dir)
    predictor = Predictor(args.model_dir, batch_size=args.batch_size)
    saved = (getattr(predictor.model, "input_fields_", None) or {}).get("text")
    frames = args.text is None and is_frames_input(args.data, saved)
    text = ("text" if args.data == "-" or frames
            else model_field(predictor.model, args.text, "text", "--text"))
    with Progress(SpinnerColumn(), TextColumn("predicting: {task.completed:,} rows"),
                  console=console, transient=True,
                  disable=args.out is None or not console.is_terminal) as bar:
        task = bar.add_task("predicting", total=None)
        result = predict_file(predictor, args.data, text, args.out,
                              drop_invalid=args.drop_invalid, split=args.split,
                              on_progress=lambda n: bar.advance(task, n))
    for reason, count in result.dropped.items():
        console.print(f"[yellow]skipped {count} row(s) of {plain(args.data)}: {reason}[/]")
    where = args.out if args.out is not None else "standard output"
    if args.out is not None or not sys.stdout.isatty():
        console.print(f"wrote {result.n_written} predictions to {plain(where)}")
    return 0
