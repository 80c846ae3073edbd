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
