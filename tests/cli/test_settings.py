"""`--set KEY=VALUE`: values are YAML scalars, and 5e-5 is a number, not a string."""

from __future__ import annotations

import pytest

from whichmodel.cli.common import parse_settings
from whichmodel.errors import UsageError


def test_values_are_typed_scalars():
    settings = parse_settings(["learning_rate=5e-5", "C=3", "head=linear", "num-epochs=auto",
                               "ngram_max=1_000", "scale=1E6", "neg=-2e+3", "flag=true",
                               "c2=2.5e6", "c3=.5e2", "c4=1.5", "v=1.2.3e4"])
    assert settings == {"learning_rate": 5e-5, "C": 3, "head": "linear", "num_epochs": "auto",
                        "ngram_max": 1000, "scale": 1e6, "neg": -2000.0, "flag": True,
                        "c2": 2.5e6, "c3": 50.0, "c4": 1.5, "v": "1.2.3e4"}
    assert isinstance(settings["learning_rate"], float)
    # whole and written without a dot: a count, so an int (scikit-learn refuses 100000.0)
    assert type(settings["scale"]) is int and type(settings["c2"]) is float
    assert type(parse_settings(["max_features=1e5"])["max_features"]) is int


def test_missing_equals_sign_is_a_usage_error():
    with pytest.raises(UsageError, match="--set expects KEY=VALUE, got 'learning_rate'"):
        parse_settings(["learning_rate"])
