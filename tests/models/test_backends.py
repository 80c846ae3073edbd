"""Inference backends for sentence-transformer bodies: the torch one against
``SentenceTransformer.encode``, the lookup by name, and both embedding families encoding
through the same seam."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whichmodel.backbones import embedding_cache, load_sentence_transformer
from whichmodel.errors import SettingError
from whichmodel.models import sentence_body as sentence_body_module
from whichmodel.models.backends import available_backends, get_backend, l2_normalized
from whichmodel.models.backends.torch_body import TorchBodyBackend
from whichmodel.models.registry import build_classifier, load_model


@pytest.fixture(scope="module")
def body():
    return load_sentence_transformer("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def texts(banking77_slice):
    return list(banking77_slice["test_df"].text)


def test_torch_backend_in_fp32_equals_sentence_transformers_encode(body, texts):
    expected = body.encode(texts, batch_size=16, normalize_embeddings=True)
    backend = get_backend("torch", body, precision="fp32")
    got = backend.encode(texts, 16)
    assert isinstance(backend, TorchBodyBackend) and backend.precision == "fp32"
    assert got.dtype == np.float32 and got.shape == (len(texts), backend.dimension) == (100, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # measured: 2e-7 at most
    # The embedding family with precision="fp32" is that backend behind the cache.
    with embedding_cache.bypassed():
        family = build_classifier("embedding", precision="fp32").embed(texts)
    np.testing.assert_allclose(family, expected, atol=1e-5)


def test_auto_precision_follows_the_hardware_and_stays_close(body, texts):
    backend = get_backend("torch", body)  # precision "auto"
    native = sentence_body_module.native_bf16(body.device.type)
    assert backend.precision == ("bf16" if native else "fp32")
    fp32 = get_backend("torch", body, precision="fp32").encode(texts, 64)
    bf16 = get_backend("torch", body, precision="bf16").encode(texts, 64)
    cosines = (fp32 * bf16).sum(axis=1)
    assert cosines.min() > 0.999  # measured: mean 0.99999, min 0.9999 on Banking77


def test_parts_and_empty_input_do_not_change_the_vectors(body, texts, monkeypatch):
    # Texts tokenised part by part give the vectors of all texts tokenised at once and
    # embedded in `SentenceBody.embed`'s own parts (here 4 parts of 25).
    monkeypatch.setattr(sentence_body_module, "EMBED_PART_TEXTS", 30)
    backend = get_backend("torch", body, precision="fp32")
    whole = backend.encode_tokenized(backend.body.tokenize(texts), 16)
    np.testing.assert_array_equal(backend.encode(texts, 16, show_progress_bar=True), whole)
    assert backend.encode([], 16).shape == (0, 384)
    raw = get_backend("torch", body, precision="fp32", normalize=False)
    np.testing.assert_array_equal(raw.encode(texts, 16),
                                  raw.body.embed(raw.body.tokenize(texts), 16))
    np.testing.assert_allclose(l2_normalized(np.array([[3.0, 4.0], [0.0, 0.0]])),
                               [[0.6, 0.8], [0.0, 0.0]])


def test_an_unknown_backend_or_precision_is_a_clear_error(body):
    assert available_backends() == ["torch"]
    with pytest.raises(SettingError, match="unknown inference backend 'onnx'; known "
                                           "backends: torch$"):
        get_backend("onnx", body)
    with pytest.raises(SettingError, match=r"'troch' \(did you mean 'torch'\?\)"):
        get_backend("troch", body)
    with pytest.raises(SettingError, match="unknown inference backend None"):
        get_backend(None, body)
    with pytest.raises(ValueError, match="unknown precision 'fp16'; choose one of: auto, "
                                         "fp32, bf16"):
        get_backend("torch", body, precision="fp16")


def test_both_families_encode_through_the_same_backend(banking77_slice, monkeypatch):
    train = banking77_slice["train_df"].groupby("category").head(4)
    sample, labels = list(train.text), list(train.category)
    calls: list[tuple[str, int, str]] = []
    encode, encode_tokenized = TorchBodyBackend.encode, TorchBodyBackend.encode_tokenized

    def spied_encode(self, texts, batch_size, **options):
        calls.append(("encode", len(texts), self.precision))
        return encode(self, texts, batch_size, **options)

    def spied_tokenized(self, ids, batch_size):
        calls.append(("encode_tokenized", len(ids), self.precision))
        return encode_tokenized(self, ids, batch_size)

    monkeypatch.setattr(TorchBodyBackend, "encode", spied_encode)
    monkeypatch.setattr(TorchBodyBackend, "encode_tokenized", spied_tokenized)
    auto = get_backend("torch", load_sentence_transformer("all-MiniLM-L6-v2")).precision

    with embedding_cache.bypassed():
        embedding = build_classifier("embedding").fit(sample, labels)
        assert calls and calls[0][:2] == ("encode", len(sample))
        calls.clear()
        embedding.predict(sample[:5])
    assert ("encode", 5, auto) in calls

    calls.clear()
    setfit = build_classifier("setfit", num_epochs=0, progress_bar=False, device="cpu")
    setfit.fit(sample, labels)  # a frozen body: the head is fitted on its embeddings
    assert ("encode_tokenized", len(sample), auto) in calls
    calls.clear()
    setfit.predict(sample[:5])
    assert ("encode", 5, auto) in calls
    # Same seam, same defaults: the two families' embeddings of a frozen body agree.
    with embedding_cache.bypassed():
        np.testing.assert_allclose(setfit.embed(sample[:5]), embedding.embed(sample[:5]),
                                   atol=1e-6)


def test_embedding_precision_is_checked_and_saved(banking77_slice, tmp_path):
    train = banking77_slice["train_df"].groupby("category").head(4)
    sample, labels = list(train.text), list(train.category)
    with pytest.raises(SettingError, match="embedding: unknown precision 'fp16'; choose "
                                           "one of: auto, fp32, bf16"):
        build_classifier("embedding", precision="fp16").fit(sample, labels)
    model = build_classifier("embedding", precision="fp32").fit(sample, labels)
    folder = model.save(tmp_path / "m")
    meta = json.loads((folder / "whichmodel.json").read_text())
    assert meta["settings"]["precision"] == "fp32"
    assert load_model(folder).precision == "fp32"


def test_an_embedding_model_saved_before_precision_loads_and_predicts(banking77_slice,
                                                                     tmp_path):
    train = banking77_slice["train_df"].groupby("category").head(4)
    sample, labels = list(train.text), list(train.category)
    model = build_classifier("embedding").fit(sample, labels)
    folder = model.save(tmp_path / "old")
    meta_file = folder / "whichmodel.json"
    meta = json.loads(meta_file.read_text())
    del meta["settings"]["precision"]  # what a model saved by an earlier release holds
    meta_file.write_text(json.dumps(meta, indent=2))
    loaded = load_model(folder)
    assert loaded.precision == "auto"
    test = list(banking77_slice["test_df"].text[:10])
    assert loaded.predict(test) == model.predict(test)
    np.testing.assert_allclose(loaded.predict_proba(test), model.predict_proba(test),
                               atol=1e-6)
