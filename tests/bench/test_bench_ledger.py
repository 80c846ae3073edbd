"""The ledger: one row per key, atomic writes, resumable, readable by others."""

from __future__ import annotations

import sqlite3

import pytest

from whichmodel.bench.ledger import Ledger, read_records
from whichmodel.bench.record import RunRecord
from whichmodel.errors import WhichmodelError


def _record(key: str, status: str = "ok", **fields) -> RunRecord:
    return RunRecord(key=key, dataset="d", candidate="c", family="tfidf",
                     settings={"C": 1.0}, budget="8/class", seed=1, status=status,
                     accuracy=0.9 if status == "ok" else None,
                     metrics={"per_class": {"a": {"f1": 1.0}}}, environment={"python": "3"},
                     created_at=fields.pop("created_at", "2026-01-01T00:00:00+00:00"),
                     **fields)


def test_write_read_round_trip(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1"))
        ledger.write(_record("k2", status="failed", error="ValueError: boom"))
        assert ledger.status("k1") == "ok" and ledger.status("k2") == "failed"
        assert ledger.has("k1") and not ledger.has("k3") and ledger.status("k3") is None
    rows = read_records(path)
    assert [r.key for r in rows] == ["k1", "k2"]
    assert rows[0] == _record("k1")  # dict fields come back as dicts
    assert rows[1].error == "ValueError: boom"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # plain SQL works for users: columns mirror RunRecord
    assert conn.execute("SELECT accuracy FROM runs WHERE key='k1'").fetchone()[0] == 0.9


def test_rewrite_replaces_never_duplicates(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1", status="failed", error="OSError: flaky"))
        ledger.write(_record("k1", created_at="2026-01-02T00:00:00+00:00"))
        assert len(ledger) == 1 and ledger.status("k1") == "ok"
    with Ledger(path) as again:  # reopening an existing ledger keeps its rows
        assert [r.created_at for r in again.records()] == ["2026-01-02T00:00:00+00:00"]


def test_failed_write_leaves_no_row(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        bad = _record("k1")
        bad.metrics = {"x": object()}  # json default=str copes; break the SQL instead
        bad.seed = object()  # type: ignore[assignment]  # not bindable by sqlite3
        with pytest.raises(sqlite3.Error):
            ledger.write(bad)
        assert len(ledger) == 0
        ledger.write(_record("k2"))
        assert len(ledger) == 1


def test_read_records_errors(tmp_path):
    with pytest.raises(WhichmodelError, match="ledger not found"):
        read_records(tmp_path / "missing.sqlite")
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just some text " * 50)
    with pytest.raises(WhichmodelError, match="not a whichmodel ledger"):
        read_records(text)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(WhichmodelError, match="not a whichmodel ledger"):
        read_records(other)
    with pytest.raises(WhichmodelError, match="not a whichmodel ledger"):
        Ledger(other)


def test_old_ledger_gains_new_columns(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1"))
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs DROP COLUMN api_model")  # as if written before it existed
    conn.commit()
    conn.close()
    assert read_records(path)[0].api_model is None
    with Ledger(path) as ledger:
        ledger.write(_record("k2", api_model="gpt-4o-mini"))
    assert [r.api_model for r in read_records(path)] == [None, "gpt-4o-mini"]


def test_meta_keeps_the_last_spec(tmp_path):
    from whichmodel.bench.ledger import read_meta

    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.set_meta("spec", '{"scenario": {}}')
    meta = read_meta(path)
    assert meta["format"] == "whichmodel-ledger" and meta["spec"] == '{"scenario": {}}'
