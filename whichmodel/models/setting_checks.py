"""Checks of a family's setting values, each failing with one line naming the setting.

A bad value (``--set C=abc``, ``ngram_max: 0`` in a spec) must stop before any training
with the setting, what it accepts and what it got; left to scikit-learn or torch it would
surface mid-fit as a traceback about an internal parameter. Families call these from
`Classifier.check_settings`, which `fit` and the spec validator both run. The checks only
read: as in scikit-learn, fitting never rewrites the settings it was given. Numpy numbers
count as numbers; a whole-number setting needs an integer (``1e5`` from the command line
or a spec already is one, see `whichmodel.yaml_scalars`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from whichmodel.errors import SettingError, quote


def _fail(family: str, name: str, accepts: str, value: Any) -> SettingError:
    return SettingError(f"{family}: {name} must be {accepts}, got {quote(value)}",
                        setting=name)


def _is_real(value: Any) -> bool:
    """A finite real number; booleans (Python's or numpy's) are not numbers here."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))  # numpy's bool_ is not registered as Real


def check_choice(family: str, name: str, value: Any, allowed: Iterable[Any]) -> None:
    """``value`` is one of ``allowed`` (shown in the message in that order)."""
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join("none" if a is None else str(a) for a in allowed)
        raise SettingError(f"{family}: unknown {name} {quote(value)}; choose one of: {shown}",
                           setting=name)


def check_whole(family: str, name: str, value: Any, least: int, *,
                none_ok: bool = False) -> None:
    """``value`` is an integer ≥ ``least`` (numpy's too; not ``True``, not ``3.0``)."""
    if value is None and none_ok:
        return
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or value < least):
        raise _fail(family, name, f"a whole number ≥ {least}"
                    + (" (or none)" if none_ok else ""), value)


def check_number(family: str, name: str, value: Any, *, above: float | None = None,
                 at_least: float | None = None, below: float | None = None,
                 at_most: float | None = None, accepts: str | None = None) -> None:
    """``value`` is a finite number inside the given bounds."""
    ok = (_is_real(value)
          and (above is None or value > above) and (at_least is None or value >= at_least)
          and (below is None or value < below) and (at_most is None or value <= at_most))
    if not ok:
        bounds = [f"> {above:g}" if above is not None else "",
                  f"≥ {at_least:g}" if at_least is not None else "",
                  f"< {below:g}" if below is not None else "",
                  f"≤ {at_most:g}" if at_most is not None else ""]
        raise _fail(family, name,
                    accepts or "a number " + " and ".join(filter(None, bounds)), value)


def check_flag(family: str, name: str, value: Any) -> None:
    """``value`` is true or false."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(family, name, "true or false", value)


def check_text(family: str, name: str, value: Any, *, none_ok: bool = False) -> None:
    """``value`` is a non-empty string (a name or a path)."""
    if value is None and none_ok:
        return
    if not isinstance(value, str) or not value.strip():
        raise _fail(family, name, "a name" + (" (or none)" if none_ok else ""), value)


def check_logistic_head(family: str, model: Any) -> None:
    """The settings every family with a scikit-learn logistic head shares."""
    check_number(family, "C", model.C, above=0)
    # A {class: weight} dict is not offered: the head sees class indices, not labels.
    check_choice(family, "class_weight", model.class_weight, [None, "balanced"])
    check_whole(family, "max_iter", model.max_iter, 1)
    check_number(family, "threshold", model.threshold, above=0, below=1)
    check_whole(family, "seed", model.seed, 0)
