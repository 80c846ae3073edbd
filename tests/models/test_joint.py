"""The joint and dual families (intents + BIO slots) on a real SLURP slice: learning both
tasks, word alignment, valid BIO out, the `Predictions` extra ``slot_tags`` stored and
read back, save → load, and the refusals of bad slot tags.

Fits are short (about 64 steps, 32 tokens, one torch thread), so the file stays within a
couple of minutes on 2 busy cores; the fits beyond the shared joint one are marked slow.
"""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from whichmodel.errors import DataError, SettingError
from whichmodel.models.joint import DualClassifier, JointClassifier
from whichmodel.models.layout import ModelFileError
from whichmodel.models.registry import available_families, build_classifier, load_model
from whichmodel.predictions import Predictions
from whichmodel.predictor import Predictor
from whichmodel.slots import checked_slot_tags, tag_set
from whichmodel.threads import limited_threads

INTENTS = ["calendar_query", "calendar_set", "email_query", "news_query", "play_music",
           "weather_query"]
# 150 training texts at batch 16: 10 batches a pass, so 6.4 passes are 64 steps.
SHORT = {"max_length": 32, "num_epochs": 6.4, "precision": "fp32", "progress_bar": False}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: other jobs share these cores, and one thread is reproducible."""
    with limited_threads(1):
        yield


def slurp_example(row: dict) -> tuple[str, str, list[str]]:
    """(text, intent, BIO tag per word) of a SLURP row. An entity's ``span`` lists every
    token id it covers (checked against ``sentence_annotation``: "[date : this week's]"
    has span [2, 3, 4] over the tokens "this", "week", "'s"), so the first id is B-, the
    rest I-."""
    words = [token["surface"] for token in row["tokens"]]
    tags = ["O"] * len(words)
    for entity in row["entities"]:
        first, *rest = entity["span"]
        tags[first] = f"B-{entity['type']}"
        for i in rest:
            tags[i] = f"I-{entity['type']}"
    return " ".join(words), row["intent"], tags


def exact_span_f1(truth: list[list[str]], predicted: list[list[str]]) -> float:
    """Micro F1 of exact (start, end, type) spans; written apart from the library's own."""
    def spans(tags):
        out, start = set(), None
        for i, tag in enumerate([*tags, "O"]):
            if start is not None and tag != f"I-{tags[start][2:]}":
                out.add((start, i, tags[start][2:]))
                start = None
            if tag.startswith("B-"):
                start = i
        return out

    tp = n = 0
    for t, p in zip(truth, predicted):
        t, p = spans(t), spans(p)
        tp, n = tp + len(t & p), n + len(t) + len(p)
    return 2 * tp / n if n else 1.0


@pytest.fixture(scope="module")
def data(shared_data):
    """6 frequent SLURP intents (devel.jsonl): 25 training, 5 validation and 10 held-out
    rows each."""
    path = shared_data / "slurp" / "devel.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    by_intent = collections.defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["intent"] in INTENTS:
            by_intent[row["intent"]].append(slurp_example(row))
    parts = {"train": (0, 25), "val": (25, 30), "test": (30, 40)}
    out = {}
    for name, (start, stop) in parts.items():
        texts, labels, tags = zip(*[x for i in INTENTS for x in by_intent[i][start:stop]])
        out[name] = {"texts": list(texts), "labels": list(labels), "tags": list(tags)}
    return out


@pytest.fixture(scope="module")
def trained(data):
    train, val = data["train"], data["val"]
    return JointClassifier(seed=1, **SHORT).fit(
        train["texts"], train["labels"], slot_tags=train["tags"], eval_texts=val["texts"],
        eval_labels=val["labels"], eval_slot_tags=val["tags"])


# -- settings and refusals (no model loaded) ---------------------------------------------
def test_registered_and_built_from_plain_settings():
    assert {"joint", "dual"} <= set(available_families(trainable=True))
    for family, cls in (("joint", JointClassifier), ("dual", DualClassifier)):
        model = build_classifier(family, learning_rate=3e-5, max_length=64)
        assert isinstance(model, cls) and cls.uses_eval_split and model.family == family
        json.dumps(model.get_params())  # settings round-trip through whichmodel.json


@pytest.mark.parametrize(("settings", "message"), [
    ({"precision": "fp16"}, "joint: unknown precision 'fp16'"),
    ({"num_epochs": 0}, 'num_epochs must be "auto" or a number > 0'),
    ({"max_length": 1}, r"max_length must be a whole number ≥ 2 \(or none\)"),
    ({"head_learning_rate": -1}, r"head_learning_rate must be a number > 0 \(or none"),
])
def test_bad_settings_fail_before_loading_anything(settings, message):
    with pytest.raises(SettingError, match=message):
        JointClassifier(**settings).fit(["a b"], ["x"], slot_tags=[["O", "B-t"]])


def test_missing_slot_tags_say_where_to_get_them():
    with pytest.raises(DataError, match=r"dual needs slot tags.*\.conll file or SLURP"):
        DualClassifier().fit(["wake me up", "play jazz"], ["alarm", "music"])


def test_a_wrong_tag_count_names_the_row_and_both_counts():
    texts = ["wake me up at six", "play some jazz"]
    with pytest.raises(DataError, match=r"slot_tags row 2 has 2 tags but its text has 3 "
                                        "words .'play some jazz'."):
        JointClassifier().fit(texts, ["alarm", "music"],
                              slot_tags=[["O", "O", "O", "O", "B-time"], ["O", "B-genre"]])
    with pytest.raises(DataError, match="got 2 texts but 1 rows of slot_tags"):
        JointClassifier().fit(texts, ["alarm", "music"], slot_tags=[["O"] * 5])
    with pytest.raises(DataError, match=r"eval_slot_tags row 1 has 1 tags but its text has 2"):
        JointClassifier().fit(texts, ["alarm", "music"],
                              slot_tags=["O O O O B-time", "O O B-genre"],
                              eval_texts=["play blues"], eval_labels=["music"],
                              eval_slot_tags=[["O"]])


def test_other_bad_tags_and_labels_are_refused():
    texts, tags = ["wake me", "play jazz"], [["O", "O"], ["O", "B-genre"]]
    with pytest.raises(DataError, match="row 2: 'GENRE' is not a BIO tag"):
        checked_slot_tags(texts, [["O", "O"], ["O", "GENRE"]])
    with pytest.raises(DataError, match="labels row 1 is a list of labels"):
        JointClassifier().fit(texts, [["alarm", "x"], ["music"]], slot_tags=tags)
    with pytest.raises(DataError, match="every slot tag is 'O'"):
        JointClassifier().fit(texts, ["alarm", "music"], slot_tags=[["O", "O"]] * 2)
    with pytest.raises(DataError, match="give the evaluation split's slot tags too"):
        JointClassifier().fit(texts, ["alarm", "music"], slot_tags=tags,
                              eval_texts=["play blues"], eval_labels=["music"])
    assert checked_slot_tags(["a b", ""], ["O B-x", []]) == [["O", "B-x"], []]
    assert tag_set([["O", "I-x", "B-x"], ["B-a"]]) == ["O", "B-a", "B-x", "I-x"]


def test_decoded_tags_are_valid_bio():
    from whichmodel.slots import slot_f1 as span_f1
    from whichmodel.slots import spans, valid_bio

    assert valid_bio(["I-date", "I-date", "O", "I-time", "B-date", "I-time"]) == \
        ["B-date", "I-date", "O", "B-time", "B-date", "B-time"]
    assert spans(["B-date", "I-date", "O", "B-time"]) == [("date", 0, 2), ("time", 3, 4)]
    truth = [["B-date", "I-date", "O"], ["O", "B-time"]]
    assert span_f1(truth, truth) == 1.0
    assert span_f1(truth, [["O"] * 3, ["O"] * 2]) == 0.0  # all "O" scores nothing
    assert span_f1(truth, [["B-date", "O", "O"], ["O", "B-time"]]) == pytest.approx(0.5)


# -- learning ----------------------------------------------------------------------------
def test_learns_intents_and_slots(trained, data):
    test = data["test"]
    accuracy = trained.score(test["texts"], test["labels"])
    assert accuracy >= 0.7  # chance is 1/6
    predicted = trained.predict_slots(test["texts"])
    assert [len(tags) for tags in predicted] == [len(t.split()) for t in test["texts"]]
    assert set(trained.slot_tags_) >= {t for row in predicted for t in row}
    # Tagging every word "O" scores 0; the short run found about half the spans.
    assert exact_span_f1(test["tags"], predicted) >= 0.25
    log = trained.log_
    assert log["evaluations"][0]["step"] == 0  # the untrained heads were scored too
    assert max(e["score"] for e in log["evaluations"]) >= log["evaluations"][0]["score"] + 0.3
    assert trained.slot_tags_[0] == "O" and trained.slot_tags_[1:] == \
        sorted(trained.slot_tags_[1:])
    assert trained.training_["n_examples"] == 150


def test_the_first_sub_token_of_a_word_carries_its_tag(trained):
    from whichmodel.models.joint_net import IGNORED, WordAlignedTexts

    texts = ["remind me about the oncologist tomorrow", ""]  # on ##col ##ogist
    aligned = WordAlignedTexts.build(trained.tokenizer_, texts, 32,
                                     tag_ids=[[0, 0, 0, 0, 1, 2], []])
    tokens = trained.tokenizer_.convert_ids_to_tokens(
        aligned.ids.flat[:aligned.ids.offsets[1]].tolist())
    labels = aligned.labels[:aligned.ids.offsets[1]].tolist()
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) == 10
    words = dict(zip(tokens, labels))
    assert words["remind"] == 0 and words["on"] == 1 and words["tomorrow"] == 2
    assert words["##col"] == words["##ogist"] == IGNORED  # not a word's first sub-token
    assert labels[0] == labels[-1] == IGNORED
    assert aligned.n_words.tolist() == [6, 0] and aligned.ids.lengths[1] == 2


def test_words_past_max_length_are_tagged_o(trained):
    long_text = " ".join(["wake me up at seven am tomorrow"] * 10)  # 70 words > 32 tokens
    tags = trained.predict_slots([long_text, "", "set an alarm for seven am"])
    assert [len(t) for t in tags] == [70, 0, 6]
    assert set(tags[0][31:]) == {"O"}


# -- predictions -------------------------------------------------------------------------
def test_predictor_predictions_carry_slot_tags_and_survive_storage(trained, data):
    texts = data["test"]["texts"][:9] + [""]
    predictions = Predictor(trained, batch_size=4).predict(texts)  # three batches joined
    tags = predictions.extra("slot_tags")
    assert tags.dtype.kind == "U" and len(tags) == len(texts)
    assert [t.split() for t in tags] == trained.predict_slots(texts) and tags[-1] == ""
    np.testing.assert_allclose(predictions.proba, trained.predict_proba(texts), atol=1e-6)
    assert predictions.labels == trained.predict(texts)
    stored = Predictions.from_bytes(predictions.to_bytes())
    assert stored.extra("slot_tags").tolist() == tags.tolist()
    np.testing.assert_array_equal(stored.proba, predictions.proba)
    assert Predictions.from_bytes(trained.predictions([]).to_bytes()).extras["slot_tags"] \
        .shape == (0,)


# -- the saved folder --------------------------------------------------------------------
def test_save_then_load_predicts_the_same(trained, data, tmp_path):
    folder = trained.save(tmp_path / "joint")
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"whichmodel.json", "README.md", "joint.json", "heads.safetensors",
            "body/config.json", "body/model.safetensors", "body/tokenizer.json"} <= names
    assert not any(p.suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle")
                   for p in folder.rglob("*"))
    listed = json.loads((folder / "whichmodel.json").read_text())["files"]
    assert set(listed) == names - {"whichmodel.json"}
    loaded = load_model(folder)
    assert isinstance(loaded, JointClassifier) and loaded.slot_tags_ == trained.slot_tags_
    texts = data["test"]["texts"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), trained.predict_proba(texts))
    assert loaded.predict_slots(texts) == trained.predict_slots(texts)
    assert loaded.max_length_ == 32 and loaded.log_["best_step"] == trained.log_["best_step"]


def test_load_refuses_a_tag_set_the_slot_head_does_not_score(trained, tmp_path):
    folder = trained.save(tmp_path / "joint")
    state = json.loads((folder / "joint.json").read_text())
    state["slot_tags"] = state["slot_tags"][:-1]
    (folder / "joint.json").write_text(json.dumps(state))
    meta = json.loads((folder / "whichmodel.json").read_text())
    meta["files"]["joint.json"] = (folder / "joint.json").stat().st_size
    (folder / "whichmodel.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="heads do not match joint.json"):
        load_model(folder)


@pytest.mark.slow
def test_dual_trains_predicts_and_reloads(data, tmp_path):
    train, test = data["train"], data["test"]
    model = DualClassifier(seed=1, **SHORT).fit(train["texts"], train["labels"],
                                                slot_tags=train["tags"])
    assert model.intent_net_.slots is None and model.slots_net_.intent is None
    assert model.log_["intent"]["steps"] == model.log_["slots"]["steps"] == 64
    assert model.score(test["texts"], test["labels"]) >= 0.7
    predictions = Predictor(model).predict(test["texts"])
    tags = [t.split() for t in predictions.extra("slot_tags")]
    assert [len(t) for t in tags] == [len(t.split()) for t in test["texts"]]
    assert exact_span_f1(test["tags"], tags) >= 0.25
    folder = model.save(tmp_path / "dual")
    assert {"intent/body/model.safetensors", "intent/heads.safetensors",
            "slots/body/model.safetensors", "slots/heads.safetensors", "dual.json"} <= {
        p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    loaded = load_model(folder)
    again = Predictor(loaded).predict(test["texts"])
    np.testing.assert_array_equal(again.proba, predictions.proba)
    assert again.extra("slot_tags").tolist() == predictions.extra("slot_tags").tolist()


@pytest.mark.slow
def test_same_seed_same_model(data):
    import torch

    train = data["train"]
    texts = data["test"]["texts"][:10]

    def fit():
        return JointClassifier(seed=3, **{**SHORT, "num_epochs": 1}).fit(
            train["texts"], train["labels"], slot_tags=train["tags"])

    torch.manual_seed(999)  # a different global state: only the model's seed may matter
    first = fit()
    state = torch.get_rng_state()
    second = fit()
    assert torch.equal(torch.get_rng_state(), state)  # fit left the caller's RNG alone
    np.testing.assert_array_equal(second.predict_proba(texts), first.predict_proba(texts))
    assert second.predict_slots(texts) == first.predict_slots(texts)
