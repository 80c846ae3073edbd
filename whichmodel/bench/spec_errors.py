"""Pydantic's validation errors as the one line a spec error is: the field, what is
wrong and the fix (``candidates[1].family: 'setfi' is not a model family (did you mean
'setfit'?)``), with the keys allowed where a key is unknown. Kept apart from the spec's
models so `whichmodel.bench.spec` reads as the spec itself.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from whichmodel.errors import did_you_mean, quote


def first_error(err: ValidationError, root: type[BaseModel]) -> str:
    """One line for pydantic's first error: ``candidates[1].family: <what> ; <fix>``;
    ``root`` is the model validated (for the keys allowed where a key is unknown)."""
    e = err.errors(include_url=False)[0]
    loc = [p for p in e["loc"] if p not in ("function-after", "function-before")]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        allowed = _allowed_keys(root, parent)
        return (f"{where}: unknown key{did_you_mean(key, allowed)}; keys allowed here are: "
                f"{', '.join(allowed)}")
    if e["type"] == "missing":
        return f"{where}: required field is missing; add it"
    if msg.startswith("."):  # a model-level check naming a nested key: ".settings.x: ..."
        return f"{where}{msg}" if where else msg[1:]
    if e["type"] in ("value_error", "assertion_error"):
        return f"{where}: {msg}" if where else msg
    return f"{where}: {msg} (got {quote(e.get('input'))})" if where else msg


def _allowed_keys(root: type[BaseModel], loc: list[Any]) -> list[str]:
    """Public field names of the model found at ``loc`` inside ``root``."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        model = next((a for a in _flatten(annotation) if isinstance(a, type)
                      and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return [name for name, f in model.model_fields.items() if not f.exclude]


def _flatten(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation] if not args else [a for arg in args for a in _flatten(arg)]
