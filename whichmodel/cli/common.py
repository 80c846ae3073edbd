"""Arguments and output helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from whichmodel.errors import UsageError

TEXT_HELP = ("column holding the text, or a template over several columns, e.g. "
             "'{Title}\\n{Abstract Note}' (\\n becomes a newline)")


def add_data_arguments(parser: argparse.ArgumentParser, *, label: bool = True,
                       label_required: bool = True) -> None:
    """--text, --label, --label-sep, --drop-invalid: how to read the user's file."""
    parser.add_argument("--text", required=True, metavar="COLUMN|TEMPLATE", help=TEXT_HELP)
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


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``["C=3", "lr=5e-5"]`` -> ``{"C": 3, "lr": 5e-05}`` (YAML scalars; 5e-5 is a number)."""
    from whichmodel.yaml_scalars import safe_load

    settings: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        settings[key.strip().replace("-", "_")] = safe_load(value)
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
                          f"{joined[0]!r}) and count as classes of their own; if they are "
                          f"lists of labels, pass --label-sep '{sep}'[/]")
            return


def report_dropped(dataset: Any, console: Any) -> None:
    """Say how many rows were dropped and why: nothing is dropped silently."""
    dropped = getattr(dataset, "dropped", None) or {}
    for reason, count in dropped.items():
        console.print(f"[yellow]dropped {count} row(s) from {dataset.source}: {reason}[/]")


def make_console(stderr: bool = False):
    """A rich console (stderr for progress when stdout carries JSON)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
