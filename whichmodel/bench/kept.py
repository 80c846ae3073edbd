"""Kept models: the fitted model of a bench run, saved beside the ledger.

Why: a recommendation a team can act on names a model it can deploy today, not a recipe
to retrain (a retrained SetFit model is another draw of its seed's luck). And speed can
be measured again (`whichmodel bench --remeasure`, on a quiet machine or the target
hardware) without training anything. The spec's ``keep_models`` says which:

- ``best`` (default): per candidate × budget, the run of the median seed (the one
  `whichmodel.summary` calls the choice's ``best_record``). Every seed's model is kept
  until the choice's last seed has finished, since the median is known only then; then
  the others are removed. A 77-class SetFit body is ~90 MB, so keeping all seeds of a
  large grid would cost gigabytes.
- ``all``: every finished run; ``none``: nothing (folders kept earlier stay).

Layout: ``<ledger stem>.models/<run key>/``, each a model folder that `load_model`,
`whichmodel evaluate` and `whichmodel predict` open; a run's key names its folder, so
the ledger row needs no path and a moved ledger with its folder still finds them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KEEP_MODES = ("none", "best", "all")


def models_dir(ledger_path: str | Path) -> Path:
    """The folder beside ``ledger_path`` that holds its kept models."""
    ledger = Path(ledger_path)
    return ledger.with_name(f"{ledger.stem}.models")


def kept_model(ledger_path: str | Path, key: str) -> Path | None:
    """The kept model folder of run ``key``, None when it was not kept (or removed)."""
    folder = models_dir(ledger_path) / key
    return folder if (folder / "whichmodel.json").is_file() else None


def keep(model: Any, ledger_path: str | Path, key: str) -> Path:
    """Save fitted ``model`` as run ``key``'s kept model (atomically, replacing an
    earlier one of the same key) and return its folder."""
    return Path(model.save(models_dir(ledger_path) / key))


def remove(ledger_path: str | Path, keys: Iterable[str]) -> None:
    """Delete the kept models of ``keys`` (those that exist)."""
    root = models_dir(ledger_path)
    for key in keys:
        folder = root / key
        if folder.parent == root and (folder / "whichmodel.json").is_file():
            shutil.rmtree(folder)
