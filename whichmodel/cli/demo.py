"""`whichmodel demo`: the whole pipeline on the built-in demo dataset."""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

from whichmodel.cli.common import make_console

DEMO_FAMILIES = ("tfidf", "embedding")


def demo_data_path() -> Path:
    """The packaged demo CSV (columns text, label): shop support messages, 6 classes."""
    return Path(str(resources.files("whichmodel") / "resources" / "demo.csv"))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="run the whole pipeline on built-in data and print a comparison",
        description="Train every candidate family on the built-in demo dataset (short "
                    "customer-support messages, 6 classes), measure them on a held-out "
                    "split and print a comparison table.")
    parser.add_argument("--out", default="whichmodel-demo", metavar="DIR",
                        help="folder for the models and results (default whichmodel-demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed for split and training")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from whichmodel.data import load_dataset, split_dataset
    from whichmodel.evaluate import classification_metrics
    from whichmodel.models.base import build_classifier

    console = make_console()
    out = Path(args.out)
    data = load_dataset(demo_data_path(), "text", "label")
    train, test = split_dataset(data, test_size=0.25, seed=args.seed)
    console.print(f"demo data: {len(train)} train / {len(test)} test, "
                  f"{len(data.classes)} classes")
    table = Table(title="whichmodel demo: held-out test split")
    for column in ("model", "accuracy", "macro-F1", "train s", "items/s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for family in DEMO_FAMILIES:
        console.print(f"training {family}…")
        model = build_classifier(family, seed=args.seed).fit(train.texts, train.labels)
        started = time.perf_counter()
        proba = model.predict_proba(test.texts)
        items_per_s = len(test) / (time.perf_counter() - started)
        metrics = classification_metrics(test.labels, model.decode(proba), proba,
                                         model.classes_)
        model.save(out / family)
        table.add_row(family, f"{metrics['accuracy']:.3f}", f"{metrics['macro_f1']:.3f}",
                      f"{model.training_['train_seconds']:.2f}", f"{items_per_s:,.0f}")
    console.print(table)
    console.print(f"models saved under {out}/")
    return 0
