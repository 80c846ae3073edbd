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

# A spec or a price file is a few KB; a few MB is already far past any real one.
MAX_TEXT_CHARS = 4 * 2**20
# Values once aliases are expanded: a spec with a thousand candidates is ~20,000.
MAX_EXPANDED_NODES = 100_000


class YAMLLimitError(yaml.YAMLError):
    """The YAML parses but cannot be a config: too big (text or alias expansion), too
    deep, or a value Python refuses to build (a 5,000-digit int, the 13th month)."""


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
    """`yaml.safe_load`, except that ``5e-5`` / ``1e6`` are numbers, as users mean them,
    and that oversized text or alias bombs raise `YAMLLimitError` before being built."""
    if len(text) > MAX_TEXT_CHARS:
        raise YAMLLimitError(f"{len(text):,} characters is more than the "
                             f"{MAX_TEXT_CHARS:,} a config may have; trim it")
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:  # PyYAML composes and builds recursively
        raise YAMLLimitError("nested too deeply to be a config; flatten it") from None
    except ValueError as err:  # e.g. Python's 4300-digit limit on int("9" * 5000)
        detail = str(err).split(";")[0][:120]  # not Python's advice to raise its limit
        raise YAMLLimitError(f"a value cannot be read: {detail}") from None
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node) -> None:
    """Count ``root``'s values as if every alias were written out (memoised per node, so
    the count is cheap however large it is) and refuse more than `MAX_EXPANDED_NODES`."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in open_:
                raise YAMLLimitError("an alias (*name) refers to a value that contains "
                                     "it; write the value out instead")
            open_.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_.discard(key)
        sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[key] > MAX_EXPANDED_NODES:
            raise YAMLLimitError(f"aliases (*name) expand it to more than "
                                 f"{MAX_EXPANDED_NODES:,} values, far more than a config "
                                 "holds; write it out without nested aliases")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
