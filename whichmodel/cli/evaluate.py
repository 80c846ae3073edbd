"""`whichmodel evaluate`: score a saved model on a labelled file."""

from __future__ import annotations

import argparse
import json
import sys

from whichmodel.cli.common import (
    add_data_arguments,
    is_frames_input,
    make_console,
    positive_int,
    report_dropped,
)
from whichmodel.errors import DataError, UsageError

EXAMPLES = """\
examples:
  whichmodel evaluate models/tfidf test.csv --text review --label stars
  whichmodel evaluate models/tfidf test.csv --text review --label stars --json | jq .macro_f1

  whichmodel evaluate models/joint test.conll --json   # intent + slot data: no --text

With --json, stdout is one JSON object: accuracy, macro_f1, ece, n, per_class, confusion;
on intent + slot data (.conll, SLURP JSON lines) also intent_accuracy, slot_f1 (exact
spans, micro, as conlleval counts) and frame_accuracy (intent and every slot right).
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate", help="score a saved model on a labelled file",
        description="Accuracy, macro-F1, calibration error (ECE), per-class scores and the "
                    "confusion matrix of a saved model on labelled data.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", metavar="DIR", help="folder written by `whichmodel train`")
    parser.add_argument("data", metavar="DATA", help="labelled file or dataset")
    add_data_arguments(parser, label_required=False, text_required=False)
    parser.add_argument("--split", metavar="NAME", help="split of a Hugging Face dataset")
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="items per prediction batch (default: the model's own)")
    parser.add_argument("--allow-unseen-labels", action="store_true",
                        help="score labels the model never saw in training as errors "
                             "instead of stopping")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from whichmodel.cli.predict import model_field
    from whichmodel.data import load_dataset
    from whichmodel.evaluate import evaluate_predictions
    from whichmodel.metrics import score, truth_of
    from whichmodel.predictor import Predictor
    from whichmodel.slot_data import load_frames

    console = make_console(stderr=args.json)
    predictor = Predictor(args.model_dir, batch_size=args.batch_size)
    model = predictor.model
    saved = (getattr(model, "input_fields_", None) or {}).get("text")
    if args.text is None and is_frames_input(args.data, saved):
        dataset = load_frames(args.data)
    else:
        text = model_field(model, args.text, "text", "--text")
        label = model_field(model, args.label, "label", "--label")
        if label is None:
            raise UsageError("the model does not record its label column; pass --label")
        label_sep = (args.label_sep if args.label_sep is not None or args.label
                     else model_field(model, None, "label_sep", "--label-sep"))
        dataset = load_dataset(args.data, text, label, label_sep=label_sep,
                               split=args.split, drop_invalid=args.drop_invalid)
    report_dropped(dataset, console)
    check_labels_known(dataset, model.classes_, allow=args.allow_unseen_labels)
    with Progress(console=console, transient=True,
                  disable=len(dataset) <= predictor.batch_size) as bar:
        task = bar.add_task("predicting", total=len(dataset))
        predictions = predictor.predict(dataset.texts, on_progress=lambda n: bar.advance(task, n))
    metrics = evaluate_predictions(dataset.labels, predictions)
    if dataset.slot_tags is not None:
        metrics.update(score(predictions, dataset.labels, ["intent_accuracy", "slot_f1",
                                                           "frame_accuracy"],
                             truth=truth_of(dataset)))
    if args.json:
        json.dump(metrics, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print_metrics(metrics, console)
    return 0


def check_labels_known(dataset, classes: list, *, allow: bool) -> None:
    """A test label the model never saw can never be predicted: say so up front."""
    known = set(classes)
    rows = dataset.labels if not dataset.multi_label else [
        c for row in dataset.labels for c in row]
    unseen = sorted({c for c in rows if c not in known}, key=str)
    if unseen and not allow:
        count = sum(1 for c in rows if c in set(unseen))
        shown = ", ".join(map(repr, unseen[:5])) + (" …" if len(unseen) > 5 else "")
        raise DataError(
            f"{dataset.source}: {len(unseen)} label(s) never seen in training ({shown}) "
            f"on {count} row(s); the model cannot predict them. Retrain with examples of "
            "them, or pass --allow-unseen-labels to count those rows as errors.")


def print_metrics(metrics: dict, console) -> None:
    """A short human summary: headline numbers and the weakest classes."""
    from rich.table import Table
    from rich.text import Text

    from whichmodel.terminal import printable

    console.print(f"n={metrics['n']}  accuracy={metrics['accuracy']:.4f}  "
                  f"macro-F1={metrics['macro_f1']:.4f}"
                  + (f"  ECE={metrics['ece']:.4f}" if "ece" in metrics else "")
                  + "".join(f"  {name}={metrics[name]:.4f}"
                            for name in ("slot_f1", "frame_accuracy") if name in metrics))
    per_class = sorted(metrics["per_class"].items(), key=lambda kv: kv[1]["f1"])
    table = Table(title="weakest classes (by F1)" if len(per_class) > 10 else "per class")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in per_class[:10]:
        table.add_row(Text(printable(name)), f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)
