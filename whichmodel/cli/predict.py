"""`whichmodel predict`: label a file with a saved model (local, streaming in batches)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from whichmodel.cli.common import add_data_arguments, make_console, report_dropped
from whichmodel.errors import UsageError

EXAMPLES = """\
examples:
  whichmodel predict models/tfidf new.csv --text review --out predictions.csv
  whichmodel predict models/setfit8 inbox.jsonl --text "{subject}\\n{body}" --out labels.jsonl

The output has one row per input row: row (its row in the input), text, prediction,
confidence (the top-class probability). CSV, TSV, JSONL or Parquet, by the suffix of --out.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict", help="label a file with a saved model",
        description="Predict labels for every row of a file with a saved model.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", metavar="DIR", help="folder written by `whichmodel train`")
    parser.add_argument("data", metavar="INPUT", help="file or dataset to label")
    add_data_arguments(parser, label=False)
    parser.add_argument("--split", metavar="NAME", help="split of a Hugging Face dataset")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N",
                        help="items per prediction batch (default 64)")
    parser.add_argument("--out", required=True, metavar="OUT",
                        help="file to write (.csv, .tsv, .jsonl or .parquet; replaced if it "
                             "exists, never the input file)")
    parser.set_defaults(func=run)


def predict_in_batches(model, texts: list[str], batch_size: int, console) -> np.ndarray:
    """`predict_proba` over ``texts`` in batches, with a progress bar for long inputs."""
    from rich.progress import Progress

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    chunks = []
    with Progress(console=console, transient=True, disable=len(texts) <= batch_size) as bar:
        task = bar.add_task("predicting", total=len(texts))
        for start in range(0, len(texts), batch_size):
            chunks.append(model.predict_proba(texts[start:start + batch_size]))
            bar.advance(task, min(batch_size, len(texts) - start))
    return np.concatenate(chunks) if chunks else np.zeros((0, len(model.classes_)))


def write_table(frame, path: Path) -> None:
    """Write by suffix, atomically: a crash never leaves a half-written output file."""
    suffix = path.suffix.lower()
    writers = {".csv": lambda f, p: f.to_csv(p, index=False),
               ".tsv": lambda f, p: f.to_csv(p, index=False, sep="\t"),
               ".jsonl": lambda f, p: f.to_json(p, orient="records", lines=True,
                                                force_ascii=False),
               ".parquet": lambda f, p: f.to_parquet(p, index=False)}
    if suffix not in writers:
        raise UsageError(f"--out {path}: unsupported suffix {suffix!r}; use one of "
                         f"{', '.join(writers)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        writers[suffix](frame, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from whichmodel.data import load_dataset
    from whichmodel.models.base import load_model

    console = make_console()
    out = Path(args.out)
    if out.resolve() == Path(args.data).resolve():
        raise UsageError(f"--out {args.out} is the input file; write the predictions to a new "
                         "file (the input is never overwritten)")
    model = load_model(args.model_dir)
    dataset = load_dataset(args.data, args.text, None, split=args.split,
                           drop_invalid=args.drop_invalid)
    report_dropped(dataset, console)
    proba = predict_in_batches(model, dataset.texts, args.batch_size, console)
    labels = model.decode(proba)
    frame = pd.DataFrame({
        "row": dataset.row_numbers, "text": dataset.texts,
        "prediction": ["|".join(map(str, p)) if isinstance(p, list) else p for p in labels],
        "confidence": proba.max(axis=1) if len(proba) else [],
    })
    write_table(frame, out)
    console.print(f"wrote {len(frame)} predictions to {out}")
    return 0
