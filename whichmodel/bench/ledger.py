"""The SQLite ledger: one row per finished run key, written atomically, read by everyone.

Why SQLite: a single file next to the report, readable with any tool, and transactions
make "a kill -9 mid-run leaves no partial row" a property of the storage rather than of
our code. A row is inserted only after its run finished (ok or failed), in one
transaction, in WAL mode with ``synchronous=FULL``: a crash at any instant leaves either
the whole row or nothing. The key is the PRIMARY KEY, so a rerun can never duplicate a
row; ``INSERT OR REPLACE`` lets a retried failure become ok.

Columns mirror `RunRecord` field for field (dicts as JSON text), so ``sqlite3 runs.sqlite
'select candidate, budget, accuracy from runs'`` just works. A ledger written by an
older whichmodel gains any new columns (NULL) when opened for writing.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

from whichmodel.bench.record import RunRecord
from whichmodel.errors import WhichmodelError

FORMAT = "whichmodel-ledger"
FORMAT_VERSION = 1
_TABLE = "runs"


def _column_type(annotation: Any) -> str:
    text = str(annotation)
    if text.startswith("dict"):
        return "TEXT"  # JSON
    if "float" in text:
        return "REAL"
    if "int" in text:
        return "INTEGER"
    return "TEXT"


_COLUMNS: dict[str, str] = {f.name: _column_type(f.type) for f in dataclasses.fields(RunRecord)}
_JSON_COLUMNS = {name for name, f in ((f.name, f) for f in dataclasses.fields(RunRecord))
                 if str(f.type).startswith("dict")}


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    else:
        conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def _check_format(conn: sqlite3.Connection, path: Path) -> bool:
    """True if ``conn`` is a whichmodel ledger, False if empty; raises if it is something else."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as err:
        raise WhichmodelError(f"{path} is not a whichmodel ledger ({err}); pass the .sqlite "
                              "file written by `whichmodel bench`") from None
    if not tables:
        return False
    if "meta" in tables:
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") == FORMAT:
            version = int(meta.get("version", 0))
            if version > FORMAT_VERSION:
                raise WhichmodelError(f"{path} was written by a newer whichmodel (ledger "
                                      f"version {version}); upgrade whichmodel to read it")
            return True
    raise WhichmodelError(f"{path} is an SQLite file but not a whichmodel ledger (tables: "
                          f"{', '.join(sorted(tables))}); choose another --ledger path")


def _row_to_record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for name in _JSON_COLUMNS:
        if data.get(name) is not None:
            data[name] = json.loads(data[name])
        else:
            data.pop(name, None)
    return RunRecord.from_dict(data)


class Ledger:
    """Read/write access to one ledger file; creates it (and its folder) on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        if not _check_format(self._conn, self.path):
            self._create()
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed row survives even a power cut, not only a killed process.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._add_missing_columns()

    def _create(self) -> None:
        cols = ", ".join(f"{name} {kind}" + (" PRIMARY KEY" if name == "key" else "")
                         for name, kind in _COLUMNS.items())
        with self._conn:
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, "
                               "value TEXT)")
            self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                   [("format", FORMAT), ("version", str(FORMAT_VERSION))])
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} ({cols})")

    def _add_missing_columns(self) -> None:
        present = {r[1] for r in self._conn.execute(f"PRAGMA table_info({_TABLE})")}
        with self._conn:
            for name, kind in _COLUMNS.items():
                if name not in present:
                    self._conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {name} {kind}")

    # -- queries -------------------------------------------------------------------------
    def status(self, key: str) -> str | None:
        """"ok", "failed", or None when ``key`` has no row."""
        row = self._conn.execute(f"SELECT status FROM {_TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def has(self, key: str) -> bool:
        """True when ``key`` has a row (finished ok or failed)."""
        return self.status(key) is not None

    def records(self) -> list[RunRecord]:
        """Every row, oldest first."""
        rows = self._conn.execute(f"SELECT * FROM {_TABLE} ORDER BY created_at, key")
        return [_row_to_record(r) for r in rows]

    def __len__(self) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()[0])

    # -- writing -------------------------------------------------------------------------
    def write(self, record: RunRecord) -> None:
        """Insert (or replace) the row of ``record.key`` in one transaction."""
        data = record.to_dict()
        for name in _JSON_COLUMNS:
            data[name] = json.dumps(data[name], sort_keys=True, default=str)
        names = list(_COLUMNS)
        sql = (f"INSERT OR REPLACE INTO {_TABLE} ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        with self._conn:  # commits, or rolls back on any error: never half a row
            self._conn.execute(sql, [data[n] for n in names])

    def set_meta(self, name: str, value: str) -> None:
        """Store a ledger-wide value (e.g. "spec": the last spec run into it, as JSON)."""
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def close(self) -> None:
        """Close the connection (rows are already committed)."""
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: str | Path) -> list[RunRecord]:
    """All rows of the ledger at ``path``; `WhichmodelError` if missing or not a ledger."""
    path = Path(path)
    if not path.is_file():
        raise WhichmodelError(f"ledger not found: {path}; run `whichmodel bench SPEC.yaml` "
                              "first (it writes <spec>.sqlite next to the spec)")
    try:
        conn = _connect(path, read_only=True)
    except sqlite3.Error as err:
        raise WhichmodelError(f"cannot open ledger {path}: {err}") from None
    try:
        if not _check_format(conn, path):
            raise WhichmodelError(f"{path} is an empty SQLite file, not a whichmodel ledger")
        rows = conn.execute(f"SELECT * FROM {_TABLE} ORDER BY created_at, key").fetchall()
        return [_row_to_record(r) for r in rows]
    except sqlite3.DatabaseError as err:
        raise WhichmodelError(f"{path} is not a readable whichmodel ledger ({err})") from None
    finally:
        conn.close()


def read_meta(path: str | Path) -> dict[str, str]:
    """Ledger-wide values: ``format``, ``version`` and ``spec`` (JSON of the last spec run
    into it: dataset, candidates, scenario, prices overrides, hardware), if any."""
    path = Path(path)
    read_records(path)  # the same checks and messages
    conn = _connect(path, read_only=True)
    try:
        return dict(conn.execute("SELECT name, value FROM meta").fetchall())
    finally:
        conn.close()
