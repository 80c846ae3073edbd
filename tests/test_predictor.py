"""`Predictor`: one loaded model, batches in, `Predictions` out; picklable from a folder,
safe to share between threads, the cache bypass a per-call option."""

from __future__ import annotations

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import whichmodel
from whichmodel.backbones import embedding_cache
from whichmodel.predictions import Predictions
from whichmodel.predictor import Predictor


@pytest.fixture(scope="module")
def saved(banking77_slice, tmp_path_factory):
    """A tfidf and an embedding model trained on the slice, saved."""
    train = banking77_slice["train_df"]
    out = {}
    for family in ("tfidf", "embedding"):
        model = whichmodel.build_classifier(family).fit(train["text"].tolist(),
                                                        train["category"].tolist())
        out[family] = (model, model.save(tmp_path_factory.mktemp(family) / "model"))
    return out


def test_predictions_match_the_model_and_batching_changes_nothing(saved, banking77_slice):
    texts = banking77_slice["test_df"]["text"].tolist()
    model, folder = saved["tfidf"]
    one_batch = Predictor(folder).predict(texts)
    small = Predictor(folder, batch_size=7).predict(texts)
    np.testing.assert_array_equal(one_batch.proba, small.proba)
    assert one_batch.labels == model.predict(texts)
    assert one_batch.classes == model.classes_ and len(one_batch) == len(texts)
    assert Predictor(folder).batch_size == 1024
    assert Predictor(saved["embedding"][1]).batch_size == 64
    assert len(Predictor(folder).predict([])) == 0


def test_a_predictor_from_a_folder_pickles_as_its_folder(saved, banking77_slice):
    texts = banking77_slice["test_df"]["text"].tolist()[:20]
    predictor = Predictor(saved["tfidf"][1], batch_size=8)
    blob = pickle.dumps(predictor)
    assert len(blob) < 1000  # the folder and the batch size, not the weights
    again = pickle.loads(blob)
    assert again.batch_size == 8
    np.testing.assert_array_equal(again.predict(texts).proba, predictor.predict(texts).proba)
    with pytest.raises(TypeError, match="save the model"):
        pickle.dumps(Predictor(saved["tfidf"][0]))


def test_threads_share_one_predictor_safely(saved, banking77_slice):
    texts = banking77_slice["test_df"]["text"].tolist()
    predictor = Predictor(saved["embedding"][1], batch_size=16)
    expected = predictor.predict(texts).labels
    chunks = [texts[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: predictor.predict(c, use_cache=False).labels,
                                chunks * 3))
    for i, labels in enumerate(results):
        assert labels == [expected[texts.index(t)] for t in chunks[i % 4]]


def test_the_cache_bypass_is_per_call_and_per_thread(saved, monkeypatch):
    import whichmodel.backbones as backbones

    encoded: list[tuple[str, int]] = []
    real = backbones._encode

    def counting(backbone, texts, batch_size, show_progress_bar, *args):
        encoded.append((threading.current_thread().name, len(texts)))
        return real(backbone, texts, batch_size, show_progress_bar, *args)

    monkeypatch.setattr(backbones, "_encode", counting)
    predictor = Predictor(saved["embedding"][1])
    texts = ["a text never seen before", "another unseen one"]
    predictor.predict(texts)  # cached now
    encoded.clear()
    predictor.predict(texts)
    assert encoded == []  # served from the cache
    predictor.predict(texts, use_cache=False)
    assert [n for _, n in encoded] == [2]  # encoded afresh, this call only
    encoded.clear()
    inside = threading.Event()
    release = threading.Event()

    def hold_bypass():
        with embedding_cache.bypassed():
            inside.set()
            release.wait(10)

    other = threading.Thread(target=hold_bypass, name="other")
    other.start()
    inside.wait(10)
    predictor.predict(texts)  # another thread's bypass does not reach this one
    release.set()
    other.join()
    assert encoded == []


def test_a_family_hook_fills_extras(saved):
    model, _ = saved["tfidf"]

    class WithTokens:
        classes_ = model.classes_

        def predictions(self, texts):
            proba = model.predict_proba(texts)
            return Predictions(self.classes_, proba,
                               extras={"input_tokens": [len(t.split()) for t in texts]})

    out = Predictor(WithTokens(), batch_size=2).predict(["one two", "three", "four five six"])
    assert out.extra("input_tokens").tolist() == [2, 1, 3]
