"""YAML loading that reads ``5e-5`` and ``1e6`` as numbers.

PyYAML follows YAML 1.1, where a float needs a dot: ``5e-5`` and ``1e6`` come back as
strings, so ``--set learning_rate=5e-5`` or ``volume_per_month: 1e6`` in a spec would fail
validation with "must be a number". YAML 1.2 (and every user) reads them as floats; this
loader adds that one rule to PyYAML's safe loader and changes nothing else.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# Every exponent form: "5e-5", "1E6", "2.5e6", ".5e2". YAML 1.1's own rule needs both a dot
# and a signed exponent ("1.0e+6"), so PyYAML returns the rest as strings.
_EXPONENT_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$")


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no arbitrary objects) plus YAML 1.2 exponent floats."""


_SafeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT,
                                  list("-+0123456789."))


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, except that ``5e-5`` / ``1e6`` are floats, as users mean them."""
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
