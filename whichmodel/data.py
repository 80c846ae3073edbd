"""The data layer: read a user's file, turn its fields into texts and labels, validate.

Every later stage (training, benchmarks, costs) trusts what comes out of here, so this is
where bad input is caught, with a message that names the file, the row, the column and
the fix. Nothing is dropped silently: invalid rows raise by default, and with
``drop_invalid=True`` they are dropped and counted in ``Dataset.dropped``.

Row numbers (``Dataset.row_numbers`` and messages) are 1-based positions of a record in
its source: for CSV/TSV/Parquet/Hugging Face the data row with the header not counted,
for JSON lines the line number in the file (for a JSON array, the element's position).

pandas, pyarrow, datasets and scikit-learn are imported inside functions so that
``import whichmodel`` stays light.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from whichmodel.errors import DataError, did_you_mean, quote
from whichmodel.readers import read_table

__all__ = ["DataError", "Dataset", "check_test_labels", "few_shot_sample", "load_dataset",
           "render_template", "split_dataset"]

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
# What a column holding texts or labels is usually called, most likely first: when a
# --text/--label column is not found and no name is close, one of these is suggested.
_TEXT_NAMES = ("text", "texts", "sentence", "content", "body", "message", "document",
               "review", "utterance", "question", "title", "input")
_LABEL_NAMES = ("label", "labels", "intent", "category", "class", "target", "topic",
                "tag", "tags", "y", "output")


@dataclass
class Dataset:
    """Texts with their labels, and where each came from.

    ``labels`` holds ``str`` labels, a ``list[str]`` per row when ``multi_label``, or is
    ``None`` for unlabelled input (prediction). ``dropped`` maps a reason to the number of
    rows dropped for it at load time; subsets keep it as provenance. ``slot_tags``, for
    intent + slot data (`whichmodel.slot_data`), holds one BIO tag per word of each text.
    """

    texts: list[str]
    labels: list[Any] | None
    source: str
    multi_label: bool = False
    row_numbers: list[int] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    slot_tags: list[list[str]] | None = None

    def __post_init__(self) -> None:
        if not self.row_numbers:
            self.row_numbers = list(range(1, len(self.texts) + 1))
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        if len(self.row_numbers) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {len(self.row_numbers)} row numbers")
        if self.slot_tags is not None and len(self.slot_tags) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {len(self.slot_tags)} slot tag rows")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels (every label of every row when multi-label)."""
        return sorted(self.class_counts())

    def class_counts(self) -> dict[str, int]:
        """Rows per class, sorted by class; a multi-label row counts once per label."""
        if self.labels is None:
            return {}
        counts = Counter(_flat(self.labels, self.multi_label))
        return dict(sorted(counts.items()))

    def subset(self, indices: Sequence[int]) -> Dataset:
        """The rows at ``indices`` (in that order), keeping their source row numbers."""
        idx = [int(i) for i in indices]
        return replace(
            self,
            texts=[self.texts[i] for i in idx],
            labels=None if self.labels is None else [self.labels[i] for i in idx],
            row_numbers=[self.row_numbers[i] for i in idx],
            dropped=dict(self.dropped),
            slot_tags=None if self.slot_tags is None else [self.slot_tags[i] for i in idx],
        )


# ----------------------------------------------------------------------------- reading


def load_dataset(source: str | Path, text: str, label: str | None = None, *,
                 label_sep: str | None = None, split: str | None = None,
                 drop_invalid: bool = False) -> Dataset:
    """Read ``source`` and build a validated :class:`Dataset`.

    ``source`` is a .csv/.tsv/.jsonl/.json/.parquet file (by suffix), a directory saved
    with ``datasets.Dataset.save_to_disk``, or a Hugging Face hub dataset name (``split``
    picks the split of the last two, default "train"). ``text`` is a column name or a
    template over columns such as ``"{Title}\\n{Abstract Note}"`` (a literal backslash-n,
    as typed in a shell, becomes a newline). ``label`` is a column; lists in it (or JSON
    list strings, or ``label_sep``-separated strings) make the dataset multi-label.
    ``label=None`` reads unlabelled input. Intent + slot data (a .conll file, or SLURP
    JSON lines read with a ``text`` they have no column of) is read by
    `whichmodel.slot_data.load_frames`. Invalid rows (empty text, missing label) raise
    a :class:`DataError` unless ``drop_invalid``, which drops and counts them.
    """
    from whichmodel.slot_data import is_frames_source, load_frames

    if is_frames_source(source, text):  # CoNLL/BIO or SLURP: intents + slot tags
        return load_frames(source)
    name = str(source)
    if label_sep is not None and not label_sep:
        raise DataError("the label separator (--label-sep, label_sep) is empty; give the "
                        "text between labels, e.g. '|', or leave it out for one label a row")
    columns, table, rows = read_table(source, split)
    if not rows:
        raise DataError(f"{name} has no data rows (only a header, or nothing at all). "
                        "Point to a file with at least one example.")
    texts, text_desc = _texts(table, columns, text, name, rows, label)
    labels, multi = (None, False) if label is None else _labels(
        table, columns, label, label_sep, name, rows, _text_columns(text, table))

    invalid: dict[str, list[int]] = {}  # reason -> positions, in file order
    for i, t in enumerate(texts):
        if not t.strip():
            invalid.setdefault("empty text", []).append(i)
        elif labels is not None and not labels[i]:
            invalid.setdefault("missing label", []).append(i)
    if invalid and not drop_invalid:
        raise _invalid_row_error(invalid, rows, name, text_desc, label)

    bad = {i for positions in invalid.values() for i in positions}
    keep = [i for i in range(len(rows)) if i not in bad]
    if not keep:
        raise DataError(f"no rows left in {name} after dropping every row as invalid "
                        f"({_describe_counts(invalid)}). Check --text and --label.")
    return Dataset(texts=[texts[i] for i in keep],
                   labels=None if labels is None else [labels[i] for i in keep],
                   source=name, multi_label=multi,
                   row_numbers=[rows[i] for i in keep],
                   dropped={reason: len(p) for reason, p in invalid.items()})


def render_template(template: str, row: Mapping[str, Any]) -> str:
    """Fill ``{Column Name}`` placeholders from ``row``; ``{{``/``}}`` are literal braces.

    Escapes typed literally on a command line (``\\n``, ``\\t``, ``\\\\``) become the
    characters they name, so ``"{Title}\\n{Abstract Note}"`` works from a shell. Missing
    values render as empty strings; an unknown placeholder is a DataError listing the
    columns that exist.
    """
    template = _unescape(template)
    missing = [c for c in _placeholders(template) if c not in row]
    if missing:
        raise DataError(f"template {template!r} uses column {missing[0]!r}, which does not "
                        f"exist; columns are: {', '.join(row)}. Fix the placeholder in --text.")
    return _fill(template, row)


def _unescape(template: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), template)


def _placeholders(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) is not None]


def _fill(template: str, row: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]  # "{{" -> "{", "}}" -> "}"
        value = row[match.group(1)]
        if value is None:
            return ""
        return ", ".join(value) if isinstance(value, list) else str(value)

    return _PLACEHOLDER.sub(one, template)


def _text_columns(text: str, table: Mapping[str, Any]) -> list[str]:
    """The columns ``text`` (a column or a template) reads."""
    return [text] if "{" not in text or text in table else _placeholders(_unescape(text))


def text_column(table: dict[str, list[Any]], columns: list[str], text: str, name: str,
                rows: list[int] | None = None) -> tuple[list[str], str]:
    """The text of every row of a table from `whichmodel.readers` (``text``: a column or
    a template), and how to name where it came from; for readers that go chunk by chunk.
    ``rows`` are the source row numbers, for messages (default 1, 2, ...)."""
    n = len(next(iter(table.values()), []))
    return _texts(table, columns, text, name, rows or list(range(1, n + 1)))


def _texts(table: dict[str, list[Any]], columns: list[str], text: str, name: str,
           rows: list[int], label: str | None = None) -> tuple[list[str], str]:
    """The text of every row, and how to describe where it came from in messages."""
    if "{" not in text or text in table:
        _require_column(text, [c for c in columns if c != label], name, "--text",
                        ", or a template over several such as '{title}\\n{body}'",
                        prefer=_TEXT_NAMES, all_columns=columns)
        _check_cells(table[text], text, name, rows, "--text")
        return [_as_text(v) for v in table[text]], f"column {text!r}"
    template = _unescape(text)
    for column in _placeholders(template):
        if column not in table:
            raise DataError(f"template {text!r} uses column {column!r}, which is not in "
                            f"{name}; columns are: {', '.join(columns)}. Fix the placeholder "
                            "in --text (names are case-sensitive).")
        _check_cells(table[column], column, name, rows, "--text")
    n = len(next(iter(table.values())))
    records = ({c: table[c][i] for c in columns} for i in range(n))
    # Strip so a row whose fields are all empty is caught as empty text.
    return ([_fill(template, r).strip() for r in records],
            f"template {text!r} (columns {', '.join(_placeholders(template))})")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(value) if isinstance(value, list) else value


def _check_cells(values: list[Any], column: str, name: str, rows: list[int],
                 option: str) -> None:
    """Refuse a cell that is not text (bytes, a mapping, a list of those) in a column used
    by ``option``: read as str() it would train on "b'...'" or class "{'a': 0}"."""
    for value, row in zip(values, rows, strict=True):
        if isinstance(value, (str, type(None))) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            continue
        kind = ("bytes" if isinstance(value, (bytes, bytearray, memoryview)) else
                "a mapping" if isinstance(value, Mapping) else
                "a list of non-text values" if isinstance(value, list)
                else f"a {type(value).__name__}")
        need = ("a text (a string)" if option == "--text"
                else "a label (a string, or a list of strings for multi-label)")
        fix = ("decode it to text first (in pandas: df[col].str.decode('utf-8'))"
               if kind == "bytes" else "put the field you mean in a column of its own")
        raise DataError(f"row {row} of {name}, column {column!r}: {kind} "
                        f"({quote(value, 60)}), not {need}. Convert the column: {fix}; "
                        f"or use {option} with another column.")


def _labels(table: dict[str, list[Any]], columns: list[str], label: str,
            label_sep: str | None, name: str, rows: list[int],
            text_columns: Sequence[str] = ()) -> tuple[list[Any], bool]:
    """Labels as str, or lists of str when multi-label; None/[] mark a missing label.

    A column is multi-label when ``label_sep`` is given, when it holds lists (JSON lines,
    Parquet, datasets), or when every value is a JSON list string such as '["a","b"]'.
    """
    _require_column(label, [c for c in columns if c not in text_columns], name, "--label",
                    prefer=_LABEL_NAMES, all_columns=columns)
    _check_cells(table[label], label, name, rows, "--label")
    values = table[label]
    present = [v for v in values if v is not None]
    if label_sep is not None:
        multi = True
        values = [v if v is None or isinstance(v, list) else v.split(label_sep)
                  for v in values]
    elif any(isinstance(v, list) for v in present):
        multi = True
    elif present and all(v.startswith("[") and v.endswith("]") for v in present):
        multi = True
        parsed = []
        for v, row in zip(values, rows, strict=True):
            try:
                items = None if v is None else json.loads(v)
            except json.JSONDecodeError:
                items = "bad"
            if v is not None and not isinstance(items, list):
                raise DataError(f"label {v!r} in row {row} of {name} (column {label!r}) "
                                "looks like a list but is not valid JSON. Write it as "
                                '["a", "b"], or use --label-sep.')
            parsed.append(items)
        values = parsed
    else:
        return [v or "" for v in values], False
    # Strip, drop empties, de-duplicate in order, and make every label a str.
    return [[] if v is None else list(dict.fromkeys(s for s in (str(x).strip() for x in v) if s))
            for v in values], multi


def _require_column(column: str, candidates: list[str], name: str, option: str,
                    extra: str = "", *, prefer: Sequence[str] = (),
                    all_columns: list[str] | None = None) -> None:
    """Raise unless ``column`` exists; suggest one of ``candidates`` (the columns not
    already used by the other option), a close name first, else one named like ``prefer``."""
    columns = candidates if all_columns is None else all_columns
    if column not in columns:
        raise DataError(f"column {quote(column)} not found in {name}"
                        f"{did_you_mean(column, candidates, prefer)}; columns are: "
                        f"{', '.join(columns)}. Use {option} with one of them{extra}.")


def _invalid_row_error(invalid: dict[str, list[int]], rows: list[int], name: str,
                       text_desc: str, label: str | None) -> DataError:
    reason, positions = min(invalid.items(), key=lambda item: item[1][0])
    where = text_desc if reason == "empty text" else f"column {label!r}"
    total = sum(len(p) for p in invalid.values())
    more = f" {name} has {total} invalid rows in all ({_describe_counts(invalid)})." \
        if total > 1 else ""
    return DataError(f"{reason} in row {rows[positions[0]]} of {name} ({where}).{more} "
                     "Fix the row(s), or drop them and report how many were dropped with "
                     "--drop-invalid (drop_invalid=True in Python).")


def _describe_counts(invalid: Mapping[str, list[int]]) -> str:
    return ", ".join(f"{len(p)} {reason}" for reason, p in invalid.items())


def _flat(labels: list[Any], multi_label: bool) -> list[str]:
    return [x for ls in labels for x in ls] if multi_label else list(labels)


# ------------------------------------------------------------- splits and sampling


def _strata(ds: Dataset, what: str) -> list[str]:
    """One class per row to stratify on: the label, or, when multi-label, the row's rarest
    label (ties: first in sorted order), so that a label which is never listed first is
    still a stratum and gets sampled; a row with no label is a stratum of its own ("")."""
    if ds.labels is None:
        raise DataError(f"{ds.source} has no labels, so it cannot be {what}. Pass --label.")
    if not ds.multi_label:
        return list(ds.labels)
    counts = Counter(c for row in ds.labels for c in row)
    return [min(row, key=lambda c: (counts[c], str(c))) if row else "" for row in ds.labels]


def split_dataset(ds: Dataset, test_size: float = 0.2, seed: int = 0
                  ) -> tuple[Dataset, Dataset]:
    """Seeded (train, test) split; both keep the source's row order.

    Stratified by label (by rarest label for multi-label) when every class has at least two
    rows and each side can hold every class; otherwise a plain seeded shuffle, so a rare
    class never makes the split fail. Unlabelled data is shuffled plainly.
    """
    from sklearn.model_selection import train_test_split

    n = len(ds)
    n_test = math.ceil(test_size * n) if 0 < test_size < 1 else 0
    if not 0 < n_test < n:
        raise DataError(f"cannot split {n} rows of {ds.source} with test_size={test_size}: "
                        "both parts must be non-empty. Use a test_size between 0 and 1, "
                        "or more data.")
    strata = None if ds.labels is None else _strata(ds, "split")
    counts = Counter(strata or [])
    stratify = (strata if strata and min(counts.values()) >= 2
                and len(counts) <= min(n_test, n - n_test) else None)
    train, test = train_test_split(list(range(n)), test_size=n_test, random_state=seed,
                                   shuffle=True, stratify=stratify)
    return ds.subset(sorted(train)), ds.subset(sorted(test))


def few_shot_sample(ds: Dataset, *, shots: int | None = None, budget: int | None = None,
                    seed: int = 0, up_to: bool = False) -> Dataset:
    """A seeded sample of labelled rows: ``shots`` per class, or ``budget`` in total.

    A class with fewer than ``shots`` rows is an error, unless ``up_to``: then it gives
    all it has (a benchmark's "64 per class" on data where a few classes are smaller,
    as in the SetFit paper); the sample's length says how many labels were really used.

    With ``budget`` the labels are spread as evenly as the classes allow (every class
    gets at least one); which classes get the remainder is drawn with ``seed``. Classes
    are visited in sorted order so the sample never depends on hash randomisation.
    Multi-label rows are sampled by their rarest label, so every label gets examples (a
    row also counts towards its other labels). Rows keep the source's order.
    """
    import numpy as np

    if (shots is None) == (budget is None):
        raise DataError("give exactly one of shots (--shots, per class) or budget "
                        "(--budget, labels in total).")
    strata = _strata(ds, "sampled")
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(strata):
        by_class.setdefault(c, []).append(i)
    classes = sorted(by_class)
    rng = np.random.default_rng(seed)

    if shots is not None:
        if shots < 1:
            raise DataError(f"--shots must be at least 1, got {shots}.")
        short = [c for c in classes if len(by_class[c]) < shots]
        if short and not up_to:
            listed = ", ".join(f"{c!r} has {len(by_class[c])}" for c in short[:5])
            fewest = min(len(by_class[c]) for c in short)
            raise DataError(
                f"--shots {shots} asks for {shots} examples per class, but in {ds.source} "
                f"{len(short)} class(es) have fewer: {listed}{' ...' if len(short) > 5 else ''}. "
                f"Lower --shots to {fewest}, or use --budget N to spread N labels over "
                "the classes.")
        quota = {c: min(shots, len(by_class[c])) for c in classes}
    else:
        assert budget is not None
        if budget < len(classes):
            raise DataError(f"--budget {budget} is smaller than the {len(classes)} classes "
                            f"in {ds.source}, so some class would get no example. Use "
                            f"--budget {len(classes)} or more.")
        if budget > len(ds):
            raise DataError(f"--budget {budget} is more than the {len(ds)} labelled rows "
                            f"in {ds.source}. Use --budget {len(ds)} or less.")
        quota = _spread(budget, {c: len(by_class[c]) for c in classes}, rng)

    chosen = [i for c in classes
              for i in rng.choice(by_class[c], size=quota[c], replace=False).tolist()]
    return ds.subset(sorted(chosen))


def _spread(budget: int, sizes: dict[str, int], rng: Any) -> dict[str, int]:
    """Split ``budget`` over classes as evenly as their sizes allow (water filling)."""
    quota = dict.fromkeys(sizes, 0)
    left = budget
    while left:
        open_ = [c for c in sizes if quota[c] < sizes[c]]
        if len(open_) > left:
            open_ = sorted(rng.choice(open_, size=left, replace=False).tolist())
        for c in open_:
            quota[c] += 1
        left -= len(open_)
    return quota


def check_test_labels(train: Dataset, test: Dataset) -> None:
    """Raise if ``test`` has labels ``train`` never had: no model can predict those."""
    if test.labels is None:
        return
    if train.labels is None:
        raise DataError(f"{train.source} has no labels, so nothing can be trained on it.")
    known = set(train.classes)
    unseen: Counter[str] = Counter()
    first = None
    for row, labels in zip(test.row_numbers, test.labels, strict=True):
        new = [x for x in (labels if test.multi_label else [labels]) if x not in known]
        unseen.update(new)
        if new and first is None:
            first = row
    if unseen:
        listed = ", ".join(f"{c!r} ({n} row{'s' * (n > 1)})"
                           for c, n in sorted(unseen.items())[:10])
        raise DataError(
            f"{len(unseen)} label(s) in {test.source} never occur in {train.source}: "
            f"{listed}{' ...' if len(unseen) > 10 else ''}; first in row {first}. "
            f"A model cannot predict a class it never saw: add examples of them to "
            f"{train.source}, or remove those rows from {test.source}.")
