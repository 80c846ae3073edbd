"""The encoder family: real learning on a Banking77 slice, early stopping that restores the
best weights, the transformers layout (save → load, `from_pretrained`), class weights,
multi-label, settings.

Every fit here is small (5 intents × 8 examples, 32 tokens, one torch thread), so the
file stays within a couple of minutes on 2 busy CPU cores; the fits beyond the shared
one are marked slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from whichmodel.errors import SettingError, SpecError
from whichmodel.models.encoder import EncoderClassifier
from whichmodel.models.layout import ModelFileError
from whichmodel.models.registry import available_families, build_classifier, load_model
from whichmodel.threads import limited_threads

SMALL = {"max_length": 32, "progress_bar": False}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: other jobs share these cores, and one thread is reproducible."""
    with limited_threads(1):
        yield


@pytest.fixture(scope="module")
def data(banking77_slice):
    """5 Banking77 intents: 8 train and 8 validation rows each (train.csv), 10 test rows
    each (test.csv)."""
    train, test = banking77_slice["train_df"], banking77_slice["test_df"]
    intents = banking77_slice["classes"][:5]
    train = train[train.category.isin(intents)]
    fit = train.groupby("category").head(8)
    val = train.drop(fit.index)
    test = test[test.category.isin(intents)]
    return {"texts": list(fit.text), "labels": list(fit.category),
            "val_texts": list(val.text), "val_labels": list(val.category),
            "test_texts": list(test.text), "test_labels": list(test.category),
            "classes": intents}


@pytest.fixture(scope="module")
def trained(data):
    """The defaults (but 32 tokens, fp32 so numbers match transformers' own run),
    early-stopped on the validation rows."""
    return EncoderClassifier(precision="fp32", seed=1, **SMALL).fit(
        data["texts"], data["labels"], eval_texts=data["val_texts"],
        eval_labels=data["val_labels"])


# -- settings ----------------------------------------------------------------------------
def test_registered_and_built_from_plain_settings():
    assert "encoder" in available_families()
    model = build_classifier("encoder", learning_rate=3e-5, class_weights="balanced")
    assert isinstance(model, EncoderClassifier) and EncoderClassifier.uses_eval_split
    json.dumps(model.get_params())  # settings round-trip through whichmodel.json


def test_auto_steps_rule():
    # min(30 passes, max(3 passes, 600 steps)), a pass being ceil(n / batch_size) steps.
    auto = EncoderClassifier()
    assert [auto.n_steps(n) for n in (40, 616, 10_003)] == [90, 600, 1878]
    assert EncoderClassifier(batch_size=32).n_steps(10_003) == 3 * 313
    assert EncoderClassifier(num_epochs=2).n_steps(40) == 6
    assert EncoderClassifier(num_epochs=0.01).n_steps(40) == 1


@pytest.mark.parametrize(("settings", "message"), [
    ({"class_weights": "auto"}, "unknown class_weights 'auto'; choose one of: none, balanced"),
    ({"precision": "fp16"}, "unknown precision 'fp16'; choose one of: auto, fp32, bf16"),
    ({"num_epochs": 0}, 'num_epochs must be "auto" or a number > 0'),
    ({"num_epochs": "lots"}, 'num_epochs must be "auto" or a number > 0'),
    ({"max_length": 1}, r"max_length must be a whole number ≥ 2 \(or none\)"),
    ({"learning_rate": 0}, "learning_rate must be a number > 0"),
    ({"head_learning_rate": -1}, r"head_learning_rate must be a number > 0 \(or none"),
    ({"warmup_ratio": 1.5}, "warmup_ratio must be a number ≥ 0 and ≤ 1"),
    ({"batch_size": 0}, "batch_size must be a whole number ≥ 1"),
    ({"threshold": 1}, "threshold must be a number > 0 and < 1"),
])
def test_bad_settings_fail_before_loading_anything(data, settings, message):
    with pytest.raises(SettingError, match=message):
        EncoderClassifier(**{**SMALL, **settings}).fit(data["texts"], data["labels"])


def test_a_spec_checks_encoder_settings_when_read(banking77_slice):
    from whichmodel.bench.spec import parse_spec

    spec = {"dataset": {"train": str(banking77_slice["train"]), "label": "category"},
            "candidates": [{"name": "enc", "family": "encoder",
                            "settings": {"learning_rate": 3e-5, "max_length": 64}}]}
    assert parse_spec(spec).candidates[0].family == "encoder"
    spec["candidates"][0]["settings"] = {"class_weights": "inverse"}
    with pytest.raises(SpecError, match=r"candidates\[0\]\.settings\.class_weights: encoder: "
                                        "unknown class_weights 'inverse'"):
        parse_spec(spec)


def test_max_length_over_the_backbones_positions_is_refused(data):
    with pytest.raises(SettingError, match="max_length 1000 is over the 512 positions"):
        EncoderClassifier(max_length=1000, progress_bar=False).fit(data["texts"],
                                                                   data["labels"])


def test_balanced_class_weights_are_n_over_k_times_count():
    model = EncoderClassifier(class_weights="balanced")
    model.classes_, model.multi_label_ = ["a", "b"], False
    y = np.array([0, 0, 0, 1])  # weights 4 / (2·3) and 4 / (2·1)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.0]])
    expected = torch.nn.functional.cross_entropy(
        logits, torch.as_tensor(y), weight=torch.tensor([2 / 3, 2.0]))
    assert model._loss_function(y)(logits, torch.as_tensor(y)).item() == \
        pytest.approx(expected.item())
    model.multi_label_ = True  # per label: positives weighed negatives / positives
    multi = np.array([[1, 0], [1, 0], [1, 1], [1, 0]], dtype=np.float32)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.as_tensor(multi), pos_weight=torch.tensor([0.0, 3.0]))
    assert model._loss_function(multi)(logits, torch.as_tensor(multi)).item() == \
        pytest.approx(expected.item())


def test_the_new_head_learns_at_its_own_rate_and_only_matrices_decay(trained):
    names = {id(p): n for n, p in trained.model_.named_parameters()}
    groups = {(g["lr"], g["weight_decay"]): sorted(names[id(p)] for p in g["params"])
              for g in trained._parameter_groups()}
    assert groups[(3e-3, 0.01)] == ["classifier.weight"]
    assert groups[(3e-3, 0.0)] == ["classifier.bias"]
    assert "bert.pooler.dense.weight" in groups[(1e-4, 0.01)]  # pretrained: part of the body
    assert all(n.endswith("bias") or "LayerNorm" in n for n in groups[(1e-4, 0.0)])
    assert sum(map(len, groups.values())) == len(names)
    plain = EncoderClassifier(head_learning_rate=None)
    plain.model_ = trained.model_
    assert {g["lr"] for g in plain._parameter_groups()} == {1e-4}


# -- learning ----------------------------------------------------------------------------
def test_learns_far_beyond_chance_and_the_untrained_head(trained, data):
    log = trained.log_
    untrained = log["evaluations"][0]
    assert untrained["step"] == 0
    best = max(e["score"] for e in log["evaluations"])
    assert best >= untrained["score"] + 0.4  # validation accuracy rose with training
    accuracy = trained.score(data["test_texts"], data["test_labels"])
    assert accuracy >= 0.8  # chance is 0.2 over 5 intents
    assert log["precision"] == "fp32" and log["max_length"] == 32
    assert trained.training_["n_examples"] == 40


@pytest.mark.slow
def test_early_stopping_puts_the_best_weights_back(data):
    """Validation labels shifted to the next intent: the better the model learns the
    training labels, the worse it scores there, so the best evaluation is an early one
    and the model must end with its weights, not the last step's."""
    classes = data["classes"]
    shifted = [classes[(classes.index(label) + 1) % len(classes)]
               for label in data["val_labels"]]
    model = EncoderClassifier(seed=2, early_stopping_patience=2, **SMALL).fit(
        data["texts"], data["labels"], eval_texts=data["val_texts"], eval_labels=shifted)
    scores = [e["score"] for e in model.log_["evaluations"]]
    assert model.log_["steps"] < model.log_["planned_steps"]  # stopped early
    assert model.log_["best_step"] < model.log_["steps"]
    assert max(scores) > scores[-1]  # so keeping the last weights would show
    assert model.score(data["val_texts"], shifted) == pytest.approx(max(scores))


@pytest.mark.slow
def test_same_seed_same_model_other_seed_differs(data):
    def fit(seed):
        return EncoderClassifier(num_epochs=1, seed=seed, **SMALL).fit(data["texts"],
                                                                       data["labels"])

    texts = data["test_texts"][:10]
    torch.manual_seed(999)  # a different global state: only the model's seed may matter
    first = fit(5).predict_proba(texts)
    state = torch.get_rng_state()
    np.testing.assert_array_equal(fit(5).predict_proba(texts), first)
    assert torch.equal(torch.get_rng_state(), state)  # fit left the caller's RNG alone
    assert not np.array_equal(fit(6).predict_proba(texts), first)


@pytest.mark.slow
def test_balanced_class_weights_train_on_imbalanced_data(data):
    rare = data["classes"][0]
    keep = [i for i, label in enumerate(data["labels"])
            if label != rare or data["labels"][:i].count(rare) < 2]
    texts = [data["texts"][i] for i in keep]
    labels = [data["labels"][i] for i in keep]
    model = EncoderClassifier(class_weights="balanced", num_epochs=3, **SMALL).fit(texts,
                                                                                  labels)
    proba = model.predict_proba(data["test_texts"])
    assert proba.shape == (len(data["test_texts"]), 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_multi_label(data, tmp_path):
    card = {c for c in data["classes"] if "card" in c or "pay" in c}
    labels = [[label, "payment"] if label in card else [label] for label in data["labels"]]
    model = EncoderClassifier(num_epochs=3, **SMALL).fit(data["texts"], labels)
    assert "payment" in model.classes_
    assert model.model_.config.problem_type == "multi_label_classification"
    proba = model.predict_proba(data["test_texts"][:8])
    assert proba.shape == (8, 6) and not np.allclose(proba.sum(axis=1), 1.0)
    assert all(isinstance(row, list) for row in model.predict(data["test_texts"][:8]))
    loaded = load_model(model.save(tmp_path / "m"))
    assert loaded.multi_label_
    np.testing.assert_array_equal(loaded.predict_proba(data["test_texts"][:8]), proba)


# -- the saved folder --------------------------------------------------------------------
def test_save_then_load_predicts_the_same(trained, data, tmp_path):
    folder = trained.save(tmp_path / "model")
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "whichmodel.json", "README.md", "encoder.json"} <= files
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in folder.rglob("*"))
    loaded = load_model(folder)
    assert isinstance(loaded, EncoderClassifier) and loaded.classes_ == trained.classes_
    assert loaded.max_length_ == 32
    np.testing.assert_array_equal(loaded.predict_proba(data["test_texts"]),
                                  trained.predict_proba(data["test_texts"]))
    assert loaded.log_["best_step"] == trained.log_["best_step"]


def test_transformers_opens_the_folder(trained, data, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = trained.save(tmp_path / "model")
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.id2label == dict(enumerate(data["classes"]))
    assert tokenizer.model_max_length == 32  # truncates where training did
    texts = data["test_texts"]
    with torch.inference_mode():
        logits = model(**tokenizer(texts, padding=True, truncation=True,
                                   return_tensors="pt")).logits
    labels = [model.config.id2label[i] for i in logits.argmax(dim=-1).tolist()]
    assert labels == trained.predict(texts)
    np.testing.assert_allclose(torch.softmax(logits, -1).numpy(),
                               trained.predict_proba(texts), atol=1e-4)


def test_load_refuses_a_folder_with_pickled_weights_only(trained, tmp_path):
    folder = trained.save(tmp_path / "model")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    meta = json.loads((folder / "whichmodel.json").read_text())
    meta["files"]["pytorch_model.bin"] = meta["files"].pop("model.safetensors")
    (folder / "whichmodel.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="pickle format whichmodel never loads"):
        load_model(folder)
