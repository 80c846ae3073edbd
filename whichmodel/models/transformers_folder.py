"""Loading and saving plain transformers model folders, quietly and as safetensors.

A family that fine-tunes a transformers model (``encoder``; later ``lora`` and ``joint``)
saves a folder that ``from_pretrained`` opens as it is: these are the two pieces of
transformers' own interface that need care across its versions and in a CLI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' loading chatter (the weight-loading report and its bar) held back
    for a block; our own bar says what is happening."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def safetensors_option(model: Any) -> dict[str, bool]:
    """``safe_serialization=True`` where `save_pretrained` still takes it (transformers 4;
    5 always writes safetensors and dropped the argument)."""
    import inspect

    accepted = inspect.signature(model.save_pretrained).parameters
    return {"safe_serialization": True} if "safe_serialization" in accepted else {}
