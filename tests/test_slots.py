"""Slot tags, spans and their scores; the CoNLL and SLURP readers; slot metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from whichmodel.data import load_dataset, split_dataset
from whichmodel.errors import DataError
from whichmodel.metrics import score, truth_of
from whichmodel.predictions import Predictions
from whichmodel.slot_data import from_brackets, is_frames_source, load_frames, read_conll
from whichmodel.slots import (
    frame_correct,
    slot_f1,
    slots_of,
    span_counts,
    spans,
    tags_from_spans,
    valid_bio,
)


def test_spans_are_read_as_conlleval_reads_them():
    tags = ["B-a", "I-a", "O", "I-b", "I-b", "B-a", "I-c", "B-c", "I-c"]
    assert spans(tags) == [("a", 0, 2), ("b", 3, 5), ("a", 5, 6), ("c", 6, 7), ("c", 7, 9)]
    assert spans(["O", "O"]) == []
    assert spans(["I-x"]) == [("x", 0, 1)]
    assert valid_bio(["O", "I-x", "I-x", "I-y"]) == ["O", "B-x", "I-x", "B-y"]
    assert tags_from_spans(4, [("t", 1, 3)]) == ["O", "B-t", "I-t", "O"]


def test_slot_f1_counts_exact_spans_micro():
    gold = [["B-date", "I-date", "O", "B-time"], ["O", "B-place", "O"]]
    # first item: date right, time predicted with a wrong boundary; second: place right,
    # plus one extra span.
    pred = [["B-date", "I-date", "B-time", "I-time"], ["B-x", "B-place", "O"]]
    assert span_counts(gold, pred) == (2, 4, 3)
    assert slot_f1(gold, pred) == pytest.approx(2 * 2 / (4 + 3))
    assert slot_f1([["O"]], [["O"]]) == 1.0
    assert frame_correct(gold, [gold[0], pred[1]]) == [True, False]
    words = "wake me at seven am".split()
    assert [s.to_dict() for s in slots_of(words, ["O", "O", "O", "B-time", "I-time"])] == [
        {"type": "time", "words": "seven am", "start": 3, "end": 5}]


def test_brackets_give_words_and_tags():
    words, tags = from_brackets("wake me up at [time : seven am] on [date : friday]")
    assert words == "wake me up at seven am on friday".split()
    assert tags == ["O", "O", "O", "O", "B-time", "I-time", "O", "B-date"]
    with pytest.raises(DataError, match="unbalanced"):
        from_brackets("play [song : yesterday")


CONLL = """# intent = alarm_set
wake\tO
me\tO
at\tO
seven\tB-time
am\tI-time

# a comment line
# intent = play_music
play\tO
queen\tB-artist_name
"""


def test_conll_reader(tmp_path: Path):
    path = tmp_path / "train.conll"
    path.write_text(CONLL)
    ds = read_conll(path)
    assert ds.texts == ["wake me at seven am", "play queen"]
    assert ds.labels == ["alarm_set", "play_music"]
    assert ds.slot_tags == [["O", "O", "O", "B-time", "I-time"], ["O", "B-artist_name"]]
    assert ds.row_numbers == [2, 10]
    # load_dataset reads it whatever --text says, and subsets keep the tags
    again = load_dataset(path, "text", "label")
    assert again.slot_tags == ds.slot_tags
    assert again.subset([1]).slot_tags == [["O", "B-artist_name"]]


@pytest.mark.parametrize("content, message", [
    ("wake\tO\n", r"line 1: the sentence starting here has no '# intent = X'"),
    ("# intent = x\nwake\tO\tO\n", r"line 2: expected 'token<TAB>tag'.*3 field"),
    ("# intent = x\nwake\tTIME\n", r"line 2: 'TIME' is not a BIO tag"),
    ("# intent = x\n\n# intent = y\nwake\tO\n", r"line 2: '# intent = x' is followed by no"),
    ("# just a comment\n", r"has no sentences"),
    ("# intent = x\nnew york\tB-city\n", r"line 2: token 'new york' holds whitespace"),
    ("# intent = x\n# intent = y\nwake\tO\n", r"line 2: a second '# intent' line"),
])
def test_conll_errors_name_the_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.conll"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_conll(path)


def test_slurp_reader_on_real_data(shared_data: Path):
    path = shared_data / "slurp" / "devel.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    ds = load_frames(path)
    assert len(ds) == 2033 and len(ds.classes) > 50
    assert all(len(t.split()) == len(tags) for t, tags in zip(ds.texts, ds.slot_tags))
    first = json.loads(path.read_text().splitlines()[0])
    assert ds.labels[0] == first["intent"]
    # entities over tokens and the bracket annotation agree on nearly every row whose
    # words agree (SLURP's entity spans sometimes take in a following comma)
    rows = [json.loads(line) for line in path.read_text().splitlines()[:400]]
    same_words = same_tags = 0
    for row, text, tags in zip(rows, ds.texts, ds.slot_tags):
        words, bracket_tags = from_brackets(row["sentence_annotation"])
        if words == text.split():
            same_words += 1
            same_tags += bracket_tags == tags
    assert same_words > 300 and same_tags / same_words > 0.97
    # a SLURP file read with columns it has stays a plain table
    assert is_frames_source(path, "text") and not is_frames_source(path, "sentence")
    table = load_dataset(path, "sentence", "intent")
    assert table.slot_tags is None and table.labels == ds.labels
    train, test = split_dataset(ds, test_size=0.2, seed=0)
    assert len(train.slot_tags) == len(train) and len(test.slot_tags) == len(test)


def test_a_hash_token_inside_a_sentence_is_a_word(tmp_path: Path):
    path = tmp_path / "hash.conll"
    path.write_text("# intent = rank\nshow\tO\n#1\tB-rank\n# note\nteam\tO\n")
    ds = read_conll(path)
    assert ds.texts == ["show #1 team"] and ds.slot_tags == [["O", "B-rank", "O"]]


def test_slurp_row_errors(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    good = {"intent": "x", "tokens": [{"surface": "hi"}], "entities": []}
    bad = {"intent": "x", "tokens": [{"surface": "hi"}], "entities": [
        {"span": [3], "type": "date"}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=r"line 2: entity 'date' spans token 3.*1 tokens"):
        load_frames(path)
    path.write_text(json.dumps({**good, "entities": [{"span": ["a"], "type": "x"}]}) + "\n")
    with pytest.raises(DataError, match=r"line 1: an entity needs a 'type' and a 'span'"):
        load_frames(path)
    with pytest.raises(DataError, match="unbalanced"):
        from_brackets("play ] [song : yesterday]")


def test_slot_metrics_from_predictions():
    texts = ["wake me at seven", "play queen"]
    gold = [["O", "O", "O", "B-time"], ["O", "B-artist"]]
    proba = np.array([[0.9, 0.1], [0.8, 0.2]])  # intents: right, wrong
    predicted = np.array(["O O O B-time", "O O"])
    p = Predictions(["alarm", "music"], proba, extras={"slot_tags": predicted})
    from whichmodel.data import Dataset

    ds = Dataset(texts, ["alarm", "music"], "x", slot_tags=gold)
    got = score(p, ds.labels, truth=truth_of(ds))
    assert got["intent_accuracy"] == got["accuracy"] == 0.5
    assert got["slot_f1"] == pytest.approx(2 * 1 / (1 + 2))
    assert got["frame_accuracy"] == 0.5  # item 1 right on both, item 2 on neither
    # a stored run round-trips its tags; a model without slots gets no slot figures
    assert score(Predictions.from_bytes(p.to_bytes()), ds.labels,
                 truth=truth_of(ds))["slot_f1"] == got["slot_f1"]
    plain = score(Predictions(["alarm", "music"], proba), ds.labels, truth=truth_of(ds))
    assert "slot_f1" not in plain and "frame_accuracy" not in plain
    assert "intent_accuracy" not in score(p, ds.labels)


def test_slot_metric_resamples_by_counts_match_recomputing_them():
    """The bootstrap's per-item counts give what the metric computes on each resample."""
    from whichmodel.intervals import recomputed_scores, resamples
    from whichmodel.metrics import METRICS, TruthLabels

    rng = np.random.default_rng(0)
    kinds = ["O", "B-a", "I-a", "B-b", "I-b"]
    gold = [list(rng.choice(kinds, size=int(rng.integers(1, 6)))) for _ in range(40)]
    predicted = [[t if rng.random() < 0.7 else str(rng.choice(kinds)) for t in g]
                 for g in gold]
    labels = [str(x) for x in rng.choice(["x", "y"], size=40)]
    proba = rng.dirichlet([1, 1], size=40)
    p = Predictions(["x", "y"], proba,
                    extras={"slot_tags": np.array([" ".join(t) for t in predicted])})
    truth = TruthLabels(labels, {"slot_tags": gold})
    draws = resamples(40, 1, 50, 0)
    for name in ("intent_accuracy", "slot_f1", "frame_accuracy"):
        fast = recomputed_scores([p], truth, name, draws)[:, 0]
        slow = [METRICS[name].compute(p.subset(idx), [labels[i] for i in idx],
                                      [gold[i] for i in idx]) for idx in draws.items()]
        assert np.allclose(fast, slow), name
