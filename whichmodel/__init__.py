"""whichmodel: which text classifier should you deploy, and what will it really cost?

The public API. Names are resolved lazily (PEP 562) so that ``import whichmodel`` does
not import torch or transformers until a model is actually used.
"""

from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

__version__ = "0.1.0"

# Before anything imports torch: idle OpenMP threads sleep instead of spinning, so a
# shared machine costs its fair share, not 5-10x (see whichmodel.threads).
from whichmodel.threads import set_default_wait_policy as _set_default_wait_policy  # noqa: E402

_set_default_wait_policy()

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Cascade": "whichmodel.route",
    "Classifier": "whichmodel.models.base",
    "DataError": "whichmodel.errors",
    "Dataset": "whichmodel.data",
    "Predictions": "whichmodel.predictions",
    "Predictor": "whichmodel.predictor",
    "Question": "whichmodel.bench.question",
    "QuestionError": "whichmodel.bench.question",
    "RunRecord": "whichmodel.bench.record",
    "Scenario": "whichmodel.costs.scenario",
    "ScenarioError": "whichmodel.costs.scenario",
    "SpecError": "whichmodel.errors",
    "WhichmodelError": "whichmodel.errors",
    "available_families": "whichmodel.models.base",
    "break_even_volume": "whichmodel.costs",
    "build_classifier": "whichmodel.models.base",
    "cascade_predictions": "whichmodel.route",
    "check_test_labels": "whichmodel.data",
    "classification_metrics": "whichmodel.evaluate",
    "cost_of": "whichmodel.costs",
    "expected_calibration_error": "whichmodel.evaluate",
    "family_settings": "whichmodel.models.base",
    "few_shot_sample": "whichmodel.data",
    "load_dataset": "whichmodel.data",
    "load_model": "whichmodel.models.base",
    "load_prices": "whichmodel.costs",
    "open_question": "whichmodel.bench.question",
    "recommend": "whichmodel.choose",
    "render_template": "whichmodel.data",
    "resolve_backbone": "whichmodel.backbones",
    "split_dataset": "whichmodel.data",
    "summarize": "whichmodel.choose",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> _Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'whichmodel' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
