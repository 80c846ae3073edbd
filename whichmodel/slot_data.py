"""Readers for intent + slot data: CoNLL/BIO files and SLURP's JSON lines.

Both give a `Dataset` whose texts are the words joined by single spaces (so
``text.split()`` gives back exactly the words the tags refer to), whose labels are the
intents, and whose ``slot_tags`` hold one BIO tag per word (`whichmodel.slots`).

* **CoNLL/BIO** (``.conll``, ``.bio``): ``token<TAB>tag`` per line, a blank line between
  sentences, the sentence's intent on a ``# intent = X`` comment line before its tokens.
  Other ``#`` lines are comments.
* **SLURP** (``.jsonl`` whose rows have ``intent`` and ``tokens`` + ``entities``, or
  ``sentence_annotation``): the entities' ``span`` lists the token ids a slot covers; a
  row without tokens is read from its ``[type : words]`` brackets instead.

A row that cannot be read stops the load with its line number and what to fix; nothing
is guessed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from whichmodel.data import Dataset
from whichmodel.errors import DataError, quote
from whichmodel.readers import read_text
from whichmodel.slots import OUTSIDE, check_tag, tags_from_spans

CONLL_SUFFIXES = (".conll", ".bio")
_INTENT_COMMENT = re.compile(r"#\s*intent\s*[=:]\s*(.*\S)\s*$")
_BRACKET = re.compile(r"\[\s*([^\[\]:]+?)\s*:\s*([^\[\]]*?)\s*\]")


def is_frames_file(source: str | Path) -> bool:
    """Whether ``source`` holds intent + slot data: a CoNLL/BIO file, or JSON lines whose
    first row has an ``intent`` and slot annotations (SLURP)."""
    if Path(source).suffix.lower() in CONLL_SUFFIXES:
        return True
    return _slurp_first_row(source) is not None


def is_frames_source(source: str | Path, text: str | None) -> bool:
    """Whether a load asking for the ``text`` column should read ``source`` as intent +
    slot data: always for CoNLL/BIO; for SLURP-shaped JSON lines only when ``text`` is no
    column of them (``--text sentence --label intent`` still reads SLURP as a table)."""
    if Path(source).suffix.lower() in CONLL_SUFFIXES:
        return True
    first = _slurp_first_row(source)
    return first is not None and (text is None or text not in first)


def _slurp_first_row(source: str | Path) -> dict[str, Any] | None:
    path = Path(source)
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return None
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20).strip()
    try:
        row = json.loads(first)
    except ValueError:
        return None
    slurp = isinstance(row, dict) and "intent" in row and (
        ("tokens" in row and "entities" in row) or "sentence_annotation" in row)
    return row if slurp else None


def load_frames(source: str | Path) -> Dataset:
    """The intent + slot `Dataset` of a CoNLL/BIO file or SLURP JSON lines."""
    path = Path(source)
    if path.suffix.lower() in CONLL_SUFFIXES:
        return read_conll(path)
    if is_frames_file(path):
        return read_slurp(path)
    raise DataError(f"{source} is not intent + slot data: give a .conll/.bio file "
                    "(token<TAB>tag lines, '# intent = X' before each sentence) or SLURP "
                    "JSON lines (intent, tokens and entities, or sentence_annotation)")


def read_conll(source: str | Path) -> Dataset:
    """Sentences of ``token<TAB>tag`` lines, each after its ``# intent = X`` line."""
    name = str(source)
    texts: list[str] = []
    intents: list[str] = []
    tags: list[list[str]] = []
    rows: list[int] = []
    words: list[str] = []
    sentence_tags: list[str] = []
    intent: str | None = None
    first_line = 0

    def close(line_no: int) -> None:
        nonlocal intent, words, sentence_tags
        if not words:
            if intent is not None:
                raise DataError(f"{name} line {line_no}: '# intent = {intent}' is followed by "
                                "no tokens; put the sentence's token<TAB>tag lines after it")
            return
        if intent is None:
            raise DataError(f"{name} line {first_line}: the sentence starting here has no "
                            "'# intent = X' line before its tokens; add one")
        texts.append(" ".join(words))
        intents.append(intent)
        tags.append(sentence_tags)
        rows.append(first_line)
        intent, words, sentence_tags = None, [], []

    content = read_text(source, what="CoNLL file")
    lines = content.splitlines()
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            close(line_no)
            continue
        found = _INTENT_COMMENT.match(line.strip())
        if found:
            if words:
                close(line_no)
            if intent is not None:
                raise DataError(f"{name} line {line_no}: a second '# intent' line before "
                                f"the tokens of the sentence of intent {intent!r}")
            intent = found.group(1)
            continue
        # A '#' line is a comment outside a sentence; inside one, '#<TAB>O' is a token.
        if line.lstrip().startswith("#") and not (words and "\t" in line):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) != 2:
            raise DataError(f"{name} line {line_no}: expected 'token<TAB>tag', got "
                            f"{quote(line)} ({len(parts)} field(s))")
        if len(parts[0].split()) != 1:
            raise DataError(f"{name} line {line_no}: token {quote(parts[0])} holds "
                            "whitespace; put one word per line (each with its tag)")
        problem = check_tag(parts[1])
        if problem:
            raise DataError(f"{name} line {line_no}: {problem}")
        if not words:
            first_line = line_no
        words.append(parts[0])
        sentence_tags.append(parts[1])
    close(len(lines) + 1)
    if not texts:
        raise DataError(f"{name} has no sentences: expected '# intent = X' lines, each "
                        "followed by token<TAB>tag lines")
    return Dataset(texts=texts, labels=intents, source=name, row_numbers=rows,
                   slot_tags=tags)


def read_slurp(source: str | Path) -> Dataset:
    """SLURP JSON lines: the intent, and slots from ``entities`` over ``tokens`` (or, where
    a row has no tokens, from the ``[type : words]`` brackets of ``sentence_annotation``)."""
    name = str(source)
    texts, intents, tags, rows = [], [], [], []
    for line_no, line in enumerate(read_text(source, what="SLURP file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{name} line {line_no}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not str(row.get("intent") or "").strip():
            raise DataError(f"{name} line {line_no}: a row needs an 'intent'")
        words, row_tags = _slurp_row(row, f"{name} line {line_no}")
        if not words:
            raise DataError(f"{name} line {line_no}: the row has no words")
        texts.append(" ".join(words))
        intents.append(str(row["intent"]).strip())
        tags.append(row_tags)
        rows.append(line_no)
    if not texts:
        raise DataError(f"{name} has no rows")
    return Dataset(texts=texts, labels=intents, source=name, row_numbers=rows,
                   slot_tags=tags)


def _slurp_row(row: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
    tokens = row.get("tokens")
    if isinstance(tokens, list) and tokens:
        return _from_entities(tokens, row.get("entities") or [], where)
    annotation = row.get("sentence_annotation")
    if isinstance(annotation, str):
        return from_brackets(annotation, where)
    raise DataError(f"{where}: a row needs 'tokens' with 'entities', or "
                    "'sentence_annotation'")


def _from_entities(tokens: list[Any], entities: list[Any], where: str
                   ) -> tuple[list[str], list[str]]:
    # A token's surface may hold spaces ("new york" as one token): each of its words
    # gets the token's tag, so words and tags stay one to one.
    words_per_token = []
    for token in tokens:
        surface = token.get("surface") if isinstance(token, dict) else None
        if not isinstance(surface, str) or not surface.split():
            raise DataError(f"{where}: every token needs a non-empty 'surface'")
        words_per_token.append(surface.split())
    token_tags = [OUTSIDE] * len(tokens)
    if not isinstance(entities, list):
        raise DataError(f"{where}: 'entities' must be a list of {{type, span}} objects")
    for entity in entities:
        span = entity.get("span") if isinstance(entity, dict) else None
        kind = str(entity.get("type") or "").strip() if isinstance(entity, dict) else ""
        if (not kind or not isinstance(span, list) or not span
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in span)):
            raise DataError(f"{where}: an entity needs a 'type' and a 'span' list of token "
                            f"ids (whole numbers), got {quote(entity)}")
        ids = sorted(span)
        if ids[0] < 0 or ids[-1] >= len(tokens):
            raise DataError(f"{where}: entity {kind!r} spans token {ids[-1]}, but the row "
                            f"has {len(tokens)} tokens")
        kind = "_".join(kind.split())
        for position, i in enumerate(range(ids[0], ids[-1] + 1)):
            token_tags[i] = ("B-" if position == 0 else "I-") + kind
    words, tags = [], []
    for token_words, tag in zip(words_per_token, token_tags):
        for k, word in enumerate(token_words):
            words.append(word)
            tags.append(tag if k == 0 or tag == OUTSIDE else "I-" + tag[2:])
    return words, tags


def from_brackets(annotation: str, where: str = "annotation") -> tuple[list[str], list[str]]:
    """Words and BIO tags of a ``"play [artist_name : the beatles] now"`` annotation."""
    words: list[str] = []
    found: list[tuple[str, int, int]] = []
    position = 0
    for match in _BRACKET.finditer(annotation):
        gap = annotation[position:match.start()]
        if "[" in gap or "]" in gap:
            raise DataError(f"{where}: unbalanced '[type : words]' bracket in "
                            f"{quote(annotation)}")
        words += gap.split()
        kind, inside = "_".join(match.group(1).split()), match.group(2).split()
        if inside:
            found.append((kind, len(words), len(words) + len(inside)))
            words += inside
        position = match.end()
    rest = annotation[position:]
    if "[" in rest or "]" in rest:
        raise DataError(f"{where}: unbalanced '[type : words]' bracket in {quote(annotation)}")
    words += rest.split()
    return words, tags_from_spans(len(words), found)
