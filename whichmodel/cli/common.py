"""Arguments and output helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from whichmodel.errors import UsageError, quote, shorten
from whichmodel.terminal import plain

TEXT_HELP = ("column holding the text, or a template over several columns, e.g. "
             "'{Title}\\n{Abstract Note}' (\\n becomes a newline)")


def add_data_arguments(parser: argparse.ArgumentParser, *, label: bool = True,
                       label_required: bool = True, text_required: bool = True) -> None:
    """--text, --label, --label-sep, --drop-invalid: how to read the user's file.

    Commands that read a saved model (predict, evaluate) pass ``text_required=False``: the
    model remembers the fields it was trained on, and those are the defaults.
    """
    parser.add_argument("--text", required=text_required, metavar="COLUMN|TEMPLATE",
                        help=TEXT_HELP + ("" if text_required else
                                          " (default: the one the model was trained with)"))
    if label:
        parser.add_argument("--label", required=label_required, metavar="COLUMN",
                            help="column holding the label (or a list of labels)")
        parser.add_argument("--label-sep", metavar="SEP",
                            help="split the label column on SEP for multi-label data, "
                                 "e.g. '|'")
    parser.add_argument("--drop-invalid", action="store_true",
                        help="drop rows with empty text" + (" or a missing label" if label
                                                            else "")
                             + " (counted and reported) instead of stopping at the first one")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--batch-size``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``["C=3", "lr=5e-5"]`` -> ``{"C": 3, "lr": 5e-05}`` (YAML scalars; 5e-5 is a number).

    A value that is not YAML, or an alias bomb (``[&a [x,x], *a, ...]``), is one
    `UsageError` line quoting it shortly."""
    import yaml

    from whichmodel.yaml_scalars import YAMLLimitError, safe_load

    settings: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {quote(pair)}")
        try:
            settings[key.strip().replace("-", "_")] = safe_load(value)
        except YAMLLimitError as err:
            raise UsageError(f"--set {quote(key.strip(), 40)}: {err}") from None
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise UsageError(f"--set {quote(key.strip(), 40)}: cannot read the value "
                             f"{quote(value)}: {shorten(problem)}; write a number, a word, "
                             "true/false or a [list]") from None
    return settings


def hint_label_separator(dataset: Any, label_sep: str | None, console: Any) -> None:
    """Say so when single labels look like joined lists ("billing|urgent"): without
    --label-sep each combination silently becomes a class of its own."""
    if label_sep or getattr(dataset, "multi_label", False):
        return
    for sep in ("|", ";", ","):
        joined = sorted({c for c in dataset.classes if sep in str(c)}, key=str)
        if joined:
            console.print(f"[yellow]{len(joined)} label(s) contain {sep!r} (e.g. "
                          f"{plain(repr(joined[0]))}) and count as classes of their own; if "
                          f"they are lists of labels, pass --label-sep '{sep}'[/]")
            return


def report_dropped(dataset: Any, console: Any) -> None:
    """Say how many rows were dropped and why: nothing is dropped silently."""
    dropped = getattr(dataset, "dropped", None) or {}
    for reason, count in dropped.items():
        console.print(f"[yellow]dropped {count} row(s) from {plain(dataset.source)}: "
                      f"{plain(reason)}[/]")


def make_console(stderr: bool = False):
    """A rich console (stderr for progress when stdout carries JSON)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def is_frames_input(data: str, text: str | None) -> bool:
    """Whether DATA is intent + slot data read without a text column: a .conll/.bio file
    by its suffix (so a missing one is reported by its reader), or SLURP JSON lines that
    have no column ``text``."""
    from pathlib import Path

    from whichmodel.slot_data import CONLL_SUFFIXES, is_frames_source

    if data == "-":
        return False
    if Path(data).suffix.lower() in CONLL_SUFFIXES:
        return True
    return Path(data).is_file() and is_frames_source(data, text)
