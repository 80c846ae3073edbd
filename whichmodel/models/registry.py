"""Classifier families by name, each imported only when it is used.

A family is registered as ``"package.module:ClassName"`` and imported on first use, so
``import whichmodel`` stays light and a family's heavy dependencies (torch, transformers,
an LLM client) load only for the family that needs them. Adding a family is one line
here (or a `register_family` call from a plugin); nothing else needs to know its module.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whichmodel.models.layout import ModelFileError, read_model_meta

if TYPE_CHECKING:
    from whichmodel.models.base import Classifier

# Family name -> "module:Class".
_FAMILIES: dict[str, str] = {
    "tfidf": "whichmodel.models.tfidf:TfidfClassifier",
    "embedding": "whichmodel.models.embedding:EmbeddingClassifier",
    "encoder": "whichmodel.models.encoder:EncoderClassifier",
    "lora": "whichmodel.models.lora:LoraClassifier",
    "joint": "whichmodel.models.joint:JointClassifier",
    "dual": "whichmodel.models.joint:DualClassifier",
    "setfit": "whichmodel.models.setfit:SetFitClassifier",
    "cascade": "whichmodel.route:Cascade",
    "llm": "whichmodel.models.llm:LLMClassifier",
    "distilled": "whichmodel.models.distilled:DistilledClassifier",
}


def register_family(name: str, target: str) -> None:
    """Register a classifier family as ``"package.module:ClassName"`` (imported on use)."""
    _FAMILIES[name] = target


# Families made of fitted models rather than fitted on data (a cascade of two saved
# models): loadable, never trained, so `train --model` and bench specs do not offer them.
_COMPOSED = {"cascade"}


def available_families(*, trainable: bool = False) -> list[str]:
    """Names accepted by `get_family`, sorted; only those `fit` trains: ``trainable``."""
    return sorted(name for name in _FAMILIES if not (trainable and name in _COMPOSED))


def get_family(name: str) -> type[Classifier]:
    """Return the classifier class registered under ``name``."""
    try:
        target = _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown model family {name!r}; choose one of: {', '.join(available_families())}"
        ) from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def family_settings(family: str) -> list[str]:
    """Names of the keyword settings a family's constructor accepts, in signature order."""
    return get_family(family)._param_names()


def build_classifier(family: str, **settings: Any) -> Classifier:
    """Build an unfitted classifier of ``family`` from plain keyword settings."""
    return get_family(family)(**settings)


def load_model(directory: str | Path) -> Classifier:
    """Load any saved whichmodel classifier; dispatches on the family in whichmodel.json."""
    meta = read_model_meta(directory)
    if meta["family"] not in _FAMILIES:
        raise ModelFileError(f"{directory} holds a model of family {meta['family']!r}, which "
                             f"this whichmodel does not know ({', '.join(available_families())})"
                             "; upgrade whichmodel or retrain")
    return get_family(meta["family"]).load(directory)
