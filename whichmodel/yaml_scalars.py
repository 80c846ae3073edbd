"""YAML loading that reads ``5e-5`` and ``1e6`` as numbers.

PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent: ``5e-5``, ``1e6``
and ``2.5e6`` come back as strings, so ``--set learning_rate=5e-5`` or ``max_features: 1e5``
in a spec would fail validation with "must be a number". This loader adds one rule to
PyYAML's safe loader: every exponent form is a number, and one written without a dot whose
value is whole (``1e5``) is an ``int``, since that is what a count such as
``max_features`` means, and scikit-learn refuses ``100000.0`` there.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# Every exponent form: "5e-5", "1E6", "2.5e6", ".5e2". YAML 1.1's own rule needs both a dot
# and a signed exponent ("1.0e+6"), so PyYAML returns the rest as strings.
_EXPONENT_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$")


_EXPONENT_TAG = "tag:whichmodel,2026:exponent-number"


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no arbitrary objects) plus exponent numbers."""


def _exponent_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    number = float(text)
    if "." not in text and number.is_integer() and abs(number) < 2**53:
        return int(number)  # "1e5": a count, exactly
    return number


_SafeLoader.add_implicit_resolver(_EXPONENT_TAG, _EXPONENT_FLOAT, list("-+0123456789."))
_SafeLoader.add_constructor(_EXPONENT_TAG, _exponent_number)


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, except that ``5e-5`` / ``1e6`` are numbers, as users mean them."""
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
