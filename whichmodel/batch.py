"""Batch inference over inputs of any length: read in chunks, predict, write in chunks.

Why chunks: `whichmodel predict` on two million rows used to hold the whole input, every
probability and the whole output in memory at once (2 GB RSS). Here a CSV, TSV, JSON
lines or Parquet input is read `chunk_rows` rows at a time, each chunk is predicted in
batches and appended to the output, so memory stays bounded by the chunk size whatever
the input's length. Lines on standard input (``-``) stream the same way, one text per
line. A JSON array or a Hugging Face dataset is read whole (neither format can be read
in parts), then predicted and written in chunks all the same.

The output is written to a temporary file beside the target and renamed over it at the
end: an error or Ctrl-C halfway leaves no half-written file. Writing to standard output
(``out=None``) streams JSON lines as they are predicted.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from whichmodel.errors import DataError, UsageError

CHUNK_ROWS = 10_000
OUTPUT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
STDIN = "-"


@dataclass
class TextChunk:
    """Some rows of the input: their 1-based source row numbers and their texts, and how
    many rows before them were skipped as empty (with ``drop_invalid``, or blank lines)."""

    rows: list[int]
    texts: list[str]
    skipped: int = 0


@dataclass
class BatchResult:
    """What `predict_file` did: rows written, and rows skipped per reason."""

    n_written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


def read_text_chunks(source: str | Path, text: str, *, drop_invalid: bool = False,
                     split: str | None = None, chunk_rows: int = CHUNK_ROWS
                     ) -> Iterator[TextChunk]:
    """Yield the texts of ``source`` chunk by chunk (``text``: a column or a template).

    An empty text stops with a `DataError` naming its row, unless ``drop_invalid``, which
    skips it and counts it in the chunk's ``skipped``. On standard input (``"-"``) each
    non-empty line is one text; blank lines are skipped and counted.
    """
    from whichmodel.data import text_column

    if str(source) == STDIN:
        yield from _stdin_chunks(chunk_rows)
        return
    from whichmodel.slot_data import is_frames_source, load_frames

    if is_frames_source(source, text):  # a .conll or SLURP file: its sentences' words
        frames = load_frames(source)
        for start in range(0, len(frames), chunk_rows):
            yield TextChunk(frames.row_numbers[start:start + chunk_rows],
                            frames.texts[start:start + chunk_rows])
        return
    name = str(source)
    for columns, table, rows in _table_chunks(source, split, chunk_rows):
        texts, desc = text_column(table, columns, text, name, rows)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if len(keep) < len(texts) and not drop_invalid:
            first = next(i for i, t in enumerate(texts) if not t.strip())
            raise DataError(f"empty text in row {rows[first]} of {name} ({desc}). Fix the "
                            "row, or skip such rows with --drop-invalid.")
        yield TextChunk([rows[i] for i in keep], [texts[i] for i in keep],
                        skipped=len(texts) - len(keep))


def _stdin_chunks(chunk_rows: int) -> Iterator[TextChunk]:
    chunk = TextChunk([], [])
    for number, line in enumerate(sys.stdin, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            chunk.skipped += 1
            continue
        chunk.rows.append(number)
        chunk.texts.append(line)
        if len(chunk.texts) >= chunk_rows:
            yield chunk
            chunk = TextChunk([], [])
    if chunk.texts or chunk.skipped:
        yield chunk


def _table_chunks(source: str | Path, split: str | None, chunk_rows: int
                  ) -> Iterator[tuple[list[str], dict[str, list[Any]], list[int]]]:
    """(columns, column → cells, row numbers) per chunk, in the shape of `read_table`."""
    from whichmodel.readers import check_regular_file, normalise_columns, read_table

    path = Path(source)
    suffix = path.suffix.lower()
    streamable = suffix in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
    if not streamable or not path.exists() or split is not None:
        yield read_table(source, split)  # a JSON array, a dataset, or the reader's error
        return
    check_regular_file(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
            start = 1
            for batch in batches:
                columns, table, rows = normalise_columns(batch.to_pydict(), start=start)
                start += len(rows)
                yield columns, table, rows
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(f"cannot read {source} as Parquet: {exc}") from None
        return
    if suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_chunks(path, chunk_rows)
        return
    yield from _delimited_chunks(path, chunk_rows)


def _delimited_chunks(path: Path, chunk_rows: int
                      ) -> Iterator[tuple[list[str], dict[str, list[Any]], list[int]]]:
    import pandas as pd

    from whichmodel.readers import check_header, csv_separator, normalise_columns

    sep = csv_separator(path)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        check_header(next(csv.reader(handle, delimiter=sep), []), str(path))  # as read_table
    start = 1
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                             chunksize=chunk_rows, encoding="utf-8")
        for frame in reader:
            columns, table, rows = normalise_columns(
                {str(c): frame[c].tolist() for c in frame.columns}, start=start)
            start += len(rows)
            yield columns, table, rows
    except UnicodeDecodeError:
        raise DataError(f"{path} is not valid UTF-8 (after row {start - 1}); re-save it as "
                        "UTF-8") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split()).rstrip(".")
        raise DataError(f"cannot parse {path}: {detail}. Check its quoting and "
                        "delimiter.") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty. Point to a file with a header and rows.") from None


def _jsonl_chunks(path: Path, chunk_rows: int
                  ) -> Iterator[tuple[list[str], dict[str, list[Any]], list[int]]]:
    from whichmodel.readers import normalise_columns

    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    numbers_seen = False

    def flush() -> tuple[list[str], dict[str, list[Any]], list[int]]:
        columns = list(dict.fromkeys(k for r in records for k in r))
        names, table, _ = normalise_columns({c: [r.get(c) for r in records]
                                             for c in columns}, start=1)
        return names, table, list(numbers)

    with open(path, encoding="utf-8-sig") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"line {number} of {path} is not valid JSON ({exc.msg} "
                                    f"at column {exc.colno}); each line must be one JSON "
                                    "object") from None
                if not isinstance(record, dict):
                    raise DataError(f"line {number} of {path} is a JSON "
                                    f"{type(record).__name__}, not an object")
                records.append(record)
                numbers.append(number)
                numbers_seen = True
                if len(records) >= chunk_rows:
                    yield flush()
                    records, numbers = [], []
        except UnicodeDecodeError:
            raise DataError(f"{path} is not valid UTF-8; re-save it as UTF-8") from None
    if records:
        yield flush()
    elif not numbers_seen:
        raise DataError(f"{path} is empty. Point to a file with a header and rows.")


class PredictionWriter:
    """Appends prediction rows to CSV, TSV, JSON lines or Parquet (by suffix), atomically.

    Use as a context manager: rows go to a temporary file next to ``path``, renamed over
    ``path`` when the block ends without error, deleted when it raises. ``path=None``
    writes JSON lines to ``stream`` (standard output) as they come.
    """

    def __init__(self, path: str | Path | None, stream: IO[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.stream = stream
        self.suffix = ".jsonl" if self.path is None else self.path.suffix.lower()
        if self.suffix not in OUTPUT_SUFFIXES:
            raise UsageError(f"--out {path}: unsupported suffix {self.suffix or '(none)'!r}; "
                             f"use one of {', '.join(OUTPUT_SUFFIXES)}")
        self._tmp: Path | None = None
        self._handle: IO[str] | None = None
        self._parquet: Any = None

    def __enter__(self) -> PredictionWriter:
        if self.path is None:
            self._handle = self.stream or sys.stdout
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", suffix=self.suffix,
                                       dir=self.path.parent)
        except OSError as err:
            raise UsageError(f"cannot write {self.path}: {err.strerror}; choose another "
                             "--out") from None
        self._tmp = Path(tmp)
        if self.suffix == ".parquet":
            os.close(fd)
        else:
            self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self

    def write(self, frame: Any) -> None:
        """Append the rows of a pandas DataFrame (same columns every call)."""
        if self.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self._tmp), table.schema)
            self._parquet.write_table(table)
            return
        assert self._handle is not None
        if self.suffix == ".jsonl":
            for record in frame.to_dict(orient="records"):
                self._handle.write(json.dumps(record, ensure_ascii=False, default=_native)
                                   + "\n")
        else:
            frame.to_csv(self._handle, index=False, header=self._handle.tell() == 0,
                         sep="\t" if self.suffix == ".tsv" else ",")
        if self.path is None:
            self._handle.flush()

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self.path is None:
            return
        try:
            if self._parquet is not None:
                self._parquet.close()
            if self._handle is not None:
                self._handle.close()
            if kind is None:
                if self.suffix == ".parquet" and self._parquet is None:
                    _empty_parquet(self._tmp)
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp is not None and self._tmp.exists():
                self._tmp.unlink()


def _empty_parquet(path: Path | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("row", pa.int64()), ("text", pa.string()),
                        ("prediction", pa.string()), ("confidence", pa.float32())])
    pq.write_table(schema.empty_table(), str(path))


def _slot_column(texts: list[str], tags: Any, *, as_json: bool) -> list[Any]:
    """Each text's filled slots as dicts (JSON lines) or as one JSON string (tables)."""
    from whichmodel.slots import slots_of, split_tags, words_of

    rows = [[slot.to_dict() for slot in slots_of(words_of(t), split_tags(joined))]
            for t, joined in zip(texts, tags)]
    return [json.dumps(r, ensure_ascii=False) for r in rows] if as_json else rows


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def predict_file(predictor: Any, source: str | Path, text: str, out: str | Path | None, *,
                 drop_invalid: bool = False, split: str | None = None,
                 chunk_rows: int = CHUNK_ROWS,
                 on_progress: Callable[[int], None] | None = None) -> BatchResult:
    """Label every row of ``source`` and write ``out`` (None: JSON lines on stdout).

    ``predictor`` is a `whichmodel.predictor.Predictor` (or a fitted classifier, wrapped
    in one). The output has one row per predicted input row: ``row`` (its row in the
    input), ``text``, ``prediction`` (labels joined by ``|`` when multi-label) and
    ``confidence`` (the top-class probability); a joint intent + slot model adds
    ``slots``, the list of filled slots (type, words, start and end word), JSON text in
    CSV, TSV and Parquet. ``on_progress(n)`` is called after each batch of ``n`` items.
    """
    import pandas as pd

    from whichmodel.predictor import Predictor

    if not isinstance(predictor, Predictor):
        predictor = Predictor(predictor)
    result = BatchResult()
    with PredictionWriter(out) as writer:
        for chunk in read_text_chunks(source, text, drop_invalid=drop_invalid, split=split,
                                      chunk_rows=chunk_rows):
            if chunk.skipped:
                reason = "blank line" if str(source) == STDIN else "empty text"
                result.dropped[reason] = result.dropped.get(reason, 0) + chunk.skipped
            # use_cache=False: a one-pass job never meets its texts again, and caching
            # them would grow memory with the input instead of the chunk.
            predictions = predictor.predict(chunk.texts, use_cache=False,
                                            on_progress=on_progress)
            columns = {
                "row": chunk.rows, "text": chunk.texts,
                "prediction": ["|".join(map(str, p)) if isinstance(p, list) else p
                               for p in predictions.labels],
                "confidence": predictions.confidence,
            }
            if "slot_tags" in predictions.extras:  # joint intent + slot models
                columns["slots"] = _slot_column(chunk.texts, predictions.extras["slot_tags"],
                                                as_json=writer.suffix != ".jsonl")
            writer.write(pd.DataFrame(columns))
            result.n_written += len(chunk.texts)
    return result
