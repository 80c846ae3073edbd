"""Slot tags: BIO tags per word, the spans they mean, and how spans are scored.

A joint intent + slot item is a text whose words (``text.split()``: whitespace-separated,
the unit every reader produces and every model predicts on) each carry one BIO tag:
``O`` outside any slot, ``B-type`` at a slot's first word, ``I-type`` inside it. Spans
are read from tags the way conlleval reads them, so scores here match the figures papers
report: an ``I-x`` that does not continue an ``x`` span opens a new one, and a span is
right only when its type and both boundaries are.

Per item, tags travel in `Predictions` extras and in stored predictions as one string of
space-separated tags (`join_tags`, `split_tags`): an ``.npz`` read without pickle holds
strings, not lists of lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from whichmodel.errors import DataError, quote

OUTSIDE = "O"
_BIO_HINT = "give one BIO tag (O, B-type or I-type) per whitespace-separated word"


@dataclass(frozen=True)
class Slot:
    """One filled slot: its type and the words ``start`` (inclusive) to ``end`` (exclusive)."""

    type: str
    start: int
    end: int
    words: str

    def to_dict(self) -> dict[str, object]:
        """The JSON form `whichmodel predict` writes: type, words and token span."""
        return {"type": self.type, "words": self.words, "start": self.start, "end": self.end}


def words_of(text: str) -> list[str]:
    """The words a text's tags refer to: its whitespace-separated tokens."""
    return text.split()


def join_tags(tags: Sequence[str]) -> str:
    """One item's tags as the single string stored per item."""
    return " ".join(tags)


def split_tags(joined: str) -> list[str]:
    """The tags of one item from its stored string."""
    return str(joined).split()


def check_tag(tag: str) -> str | None:
    """Why ``tag`` is not a BIO tag, or None when it is one."""
    if tag == OUTSIDE:
        return None
    prefix, dash, kind = tag.partition("-")
    if prefix not in ("B", "I") or not dash or not kind:
        return f"{tag!r} is not a BIO tag (O, B-type or I-type)"
    if any(c.isspace() for c in kind):
        return f"{tag!r} has whitespace in its slot type"
    return None


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The (type, start, end) spans of one item's tags, ``end`` exclusive, as conlleval
    chunks them (an ``I-x`` after ``O`` or after another type starts a span)."""
    out: list[tuple[str, int, int]] = []
    kind: str | None = None
    start = 0
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, _, this = tag.partition("-")
        continues = prefix == "I" and this == kind
        if kind is not None and not continues:
            out.append((kind, start, i))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = this, i
    return out


def valid_bio(tags: Sequence[str]) -> list[str]:
    """``tags`` with every ``I-x`` that continues no ``x`` span made ``B-x``: what a
    tagger's per-word argmax means, written so any BIO reader reads the same spans."""
    return tags_from_spans(len(tags), spans(tags))


def tags_from_spans(n_words: int, found: Sequence[tuple[str, int, int]]) -> list[str]:
    """BIO tags of ``n_words`` words with the given (type, start, end) spans."""
    tags = [OUTSIDE] * n_words
    for kind, start, end in found:
        for i in range(start, min(end, n_words)):
            tags[i] = ("B-" if i == start else "I-") + kind
    return tags


def slots_of(words: Sequence[str], tags: Sequence[str]) -> list[Slot]:
    """The filled slots of one item, with their words."""
    return [Slot(kind, start, end, " ".join(words[start:end]))
            for kind, start, end in spans(tags)]


def span_counts(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
                ) -> tuple[int, int, int]:
    """(correct, predicted, gold) span counts over items, micro, as conlleval counts."""
    correct = found = expected = 0
    for g, p in zip(gold, predicted, strict=True):
        g_spans, p_spans = set(spans(g)), set(spans(p))
        correct += len(g_spans & p_spans)
        found += len(p_spans)
        expected += len(g_spans)
    return correct, found, expected


def slot_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Micro F1 of exact (type, start, end) spans; 1.0 when neither side has any span."""
    correct, found, expected = span_counts(gold, predicted)
    if found + expected == 0:
        return 1.0
    return 2 * correct / (found + expected)


def frame_correct(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
                  ) -> list[bool]:
    """Per item, True when every slot span is right (the intent is judged elsewhere)."""
    return [set(spans(g)) == set(spans(p)) for g, p in zip(gold, predicted, strict=True)]


def checked_slot_tags(texts: Sequence[str], slot_tags: Any, name: str = "slot_tags"
                      ) -> list[list[str]]:
    """``slot_tags`` as one list of tags per text, or a `DataError` naming the first bad
    row (1-based): a row is a sequence of BIO tags, or one string of them separated by
    spaces (as stored predictions hold them), with exactly one tag per word of its text."""
    if isinstance(slot_tags, (str, bytes)):
        raise TypeError(f"expected one row of tags per text in {name}, got a single "
                        f"{type(slot_tags).__name__}")
    rows = list(slot_tags)
    if len(rows) != len(texts):
        raise DataError(f"got {len(texts)} texts but {len(rows)} rows of {name}; give one "
                        "row of slot tags per text")
    out = []
    for i, (text, row) in enumerate(zip(texts, rows), start=1):
        try:
            tags = row.split() if isinstance(row, str) else list(row)
        except TypeError:
            raise DataError(f"{name} row {i} is {quote(row)}, not a row of tags; "
                            f"{_BIO_HINT}") from None
        words = len(text.split())
        if len(tags) != words:
            raise DataError(f"{name} row {i} has {len(tags)} tags but its text has {words} "
                            f"words ({quote(text, 60)}); {_BIO_HINT}")
        for tag in tags:
            if not isinstance(tag, str) or check_tag(tag) is not None:
                raise DataError(f"{name} row {i}: {quote(tag)} is not a BIO tag; {_BIO_HINT}")
        out.append([str(tag) for tag in tags])
    return out


def tag_set(rows: Sequence[Sequence[str]]) -> list[str]:
    """The tags of ``rows``, sorted, "O" first (always there: tag id 0)."""
    return [OUTSIDE] + sorted({tag for row in rows for tag in row} - {OUTSIDE})
