"""Shared fixtures. Real data comes from ../shared/data (or $WHICHMODEL_DATA); tests that
need it skip with the reason when it is absent. Never copy those files into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO_ROOT.parent / "shared" / "data"))

# Keep tests offline and deterministic: never reach for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared benchmark data; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}; set WHICHMODEL_DATA to the "
                    "folder holding banking77/, raft/, slurp/ and umsab-sentiment/")
    return SHARED_DATA


@pytest.fixture(scope="session")
def banking77(shared_data: Path) -> Path:
    """Folder with Banking77 train.csv / test.csv (columns text, category)."""
    path = shared_data / "banking77"
    if not (path / "train.csv").is_file():
        pytest.skip(f"{path}/train.csv not found")
    return path


@pytest.fixture(scope="session")
def banking77_slice(banking77: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small, fixed, real slice: 10 Banking77 intents, 16 train / 10 test rows each."""
    import pandas as pd

    train = pd.read_csv(banking77 / "train.csv")
    test = pd.read_csv(banking77 / "test.csv")
    intents = sorted(train["category"].unique())[:10]
    train = (train[train["category"].isin(intents)].groupby("category").head(16)
             .reset_index(drop=True))
    test = (test[test["category"].isin(intents)].groupby("category").head(10)
            .reset_index(drop=True))
    folder = tmp_path_factory.mktemp("banking77_slice")
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return {"train": folder / "train.csv", "test": folder / "test.csv", "classes": intents,
            "train_df": train, "test_df": test}


@pytest.fixture(scope="session")
def fresh_process_predict():
    """Load a saved model in a new Python process and predict: what a user on another
    machine or a server gets. Returns ``f(model_dir, texts) -> (labels, proba)``."""
    import json
    import subprocess
    import sys

    import numpy as np

    script = (
        "import json, sys, whichmodel\n"
        "m = whichmodel.load_model(sys.argv[1])\n"
        "texts = json.loads(sys.stdin.read())\n"
        "print(json.dumps({'pred': m.predict(texts), 'proba': m.predict_proba(texts).tolist()}))\n"
    )

    def predict(model_dir, texts: list[str]):
        result = subprocess.run([sys.executable, "-c", script, str(model_dir)],
                                input=json.dumps(texts), capture_output=True, text=True,
                                check=True)
        loaded = json.loads(result.stdout)
        return loaded["pred"], np.asarray(loaded["proba"], dtype=np.float32)

    return predict


# A small price list with round numbers, so cost tests can be checked by hand.
TEST_PRICE_CATALOGUE = {
    "date": "2025-01-01", "currency": "USD", "measurement_hardware": "cpu",
    "usd_per_label": 0.5, "usd_per_label_source": "test",
    "hardware": {
        "cpu": {"kind": "cpu", "usd_per_hour": 0.10, "speed_factor": 1.0, "source": "test"},
        "gpu": {"kind": "gpu", "usd_per_hour": 1.00, "speed_factor": 10.0,
                "family_speed_factors": {"tfidf": 2.0}, "source": "test"},
    },
    "llm_api": {"cheap": {"usd_per_million_input_tokens": 1.0,
                          "usd_per_million_output_tokens": 4.0, "source": "test"}},
}


@pytest.fixture
def prices(tmp_path):
    """`Prices` loaded from TEST_PRICE_CATALOGUE (cpu $0.10/h, gpu $1/h ×10, $0.50/label)."""
    import yaml

    from whichmodel.costs import load_prices

    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(TEST_PRICE_CATALOGUE))
    return load_prices(path=path)
