"""Fixtures for the bench tests: small specs over the real Banking77 slice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


def write_spec(folder: Path, slice_: dict, **overrides: Any) -> Path:
    """A spec YAML in ``folder`` over the Banking77 slice; ``overrides`` replace sections."""
    spec: dict[str, Any] = {
        "dataset": {"train": str(slice_["train"]), "test": str(slice_["test"]),
                    "text": "text", "label": "category"},
        "budgets": [2, "all"],
        "seeds": [1, 2],
        "candidates": [{"name": "tfidf", "family": "tfidf"}],
        "scenario": {"volume_per_month": 1e5, "min_quality": 0.5},
        "hardware": "cpu-small",
        "measure": {"batch_size": 16, "latency_samples": 5},
    }
    spec.update(overrides)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def spec_file(tmp_path: Path, banking77_slice: dict):
    """A factory: ``spec_file(**overrides) -> Path`` of a small valid spec."""
    return lambda **overrides: write_spec(tmp_path, banking77_slice, **overrides)


# Tiny synthetic CSVs for the ledger-identity tests: three intents with their own words,
# learnable by tfidf from a handful of rows, written fresh into tmp_path by each test.
_WORDS = {"billing": ["invoice", "refund", "charge", "payment"],
          "shipping": ["parcel", "delivery", "courier", "tracking"],
          "login": ["password", "account", "reset", "signin"]}


def write_tiny_csv(path: Path, per_class: int, *, offset: int = 0,
                   wrong_labels: int = 0) -> Path:
    """``per_class`` rows per intent; the first ``wrong_labels`` of each intent carry the
    next intent's label (a harder, different test set)."""
    labels = list(_WORDS)
    rows = ["text,label"]
    for k, (label, words) in enumerate(_WORDS.items()):
        for i in range(per_class):
            a, b = words[(i + offset) % 4], words[(i + offset + 1) % 4]
            shown = labels[(k + 1) % 3] if i < wrong_labels else label
            rows.append(f"my {a} and {b} question number {i + offset},{shown}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_tiny_spec(folder: Path, name: str = "spec.yaml", *, train: str = "train.csv",
                    test: str | None = "test.csv", **overrides: Any) -> Path:
    """A spec over tiny CSVs in ``folder`` (written if missing): one tfidf candidate,
    budget all, seeds 1 and 2."""
    if not (folder / train).exists():
        write_tiny_csv(folder / train, 8)
    if test is not None and not (folder / test).exists():
        write_tiny_csv(folder / test, 4, offset=1)
    spec: dict[str, Any] = {
        "dataset": {"train": train, **({"test": test} if test else {}), "text": "text",
                    "label": "label", "name": "tiny"},
        "budgets": ["all"], "seeds": [1, 2],
        "candidates": [{"name": "tfidf", "family": "tfidf"}],
        "measure": {"batch_size": 8, "latency_samples": 3},
    }
    spec.update(overrides)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def tiny_spec(tmp_path: Path):
    """A factory: ``tiny_spec(name, **overrides) -> Path`` of a spec over tiny CSVs."""
    return lambda name="spec.yaml", **overrides: write_tiny_spec(tmp_path, name, **overrides)


@pytest.fixture
def tiny_csv():
    """`write_tiny_csv`, for tests that write their own train or test variant."""
    return write_tiny_csv
