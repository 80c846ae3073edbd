"""A cache of LLM answers on disk, so a rerun (a bench resumed after a crash, the same
test split predicted again, a second candidate with the same prompts) does not pay twice.

Keyed by the sha256 of (base URL, model, the full request body as sent): any change to
the prompt, the label set, the settings sent (temperature, max_tokens, the answer
schema) or the endpoint is a new key. A cached answer keeps its usage tokens and the
latency measured when it was first answered, so the tokens an item is priced on are the
same from the cache as from the endpoint; `Predictions` marks it ``cached``. Only
answers are stored (failures are not), never a request header, so never an API key.

Bounded: at most ``max_answers`` (default 500,000, ~200 MB of typical answers) are kept;
past that the oldest written go first, so a long-lived bench or server cannot fill the
disk. A rerun within the bound still pays nothing.

One SQLite file (WAL, a fresh connection per operation): safe from the client's worker
threads and from several processes (Ray workers) at once. The folder is the model's
``cache_dir`` setting, else ``$WHICHMODEL_CACHE_DIR``, else ``llm/`` under whichmodel's
cache folder (``$WHICHMODEL_CACHE`` or ``~/.cache/whichmodel``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CACHE_FILE = "answers.sqlite"
CACHE_DIR_VARIABLE = "WHICHMODEL_CACHE_DIR"
DEFAULT_MAX_ANSWERS = 500_000
_SCHEMA = ("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, "
           "created_at TEXT NOT NULL)")


def default_cache_dir() -> Path:
    """``$WHICHMODEL_CACHE_DIR``, else ``<whichmodel cache>/llm``."""
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    from whichmodel.backbones import cache_dir

    return cache_dir() / "llm"


def answer_key(base_url: str, model: str, body: dict[str, Any]) -> str:
    """sha256 (hex) of the endpoint, the model and the request body."""
    text = json.dumps({"base_url": base_url.rstrip("/"), "model": model, "body": body},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnswerCache:
    """Answers by `answer_key`, in ``folder/answers.sqlite``, the newest ``max_answers``."""

    def __init__(self, folder: str | Path | None = None,
                 max_answers: int = DEFAULT_MAX_ANSWERS) -> None:
        from whichmodel.models.setting_checks import check_whole

        check_whole("llm", "max_answers", max_answers, 1)
        self.max_answers = max_answers
        self.folder = Path(folder).expanduser() if folder else default_cache_dir()
        self.path = self.folder / CACHE_FILE
        self.folder.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute(_SCHEMA)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, key: str) -> dict[str, Any] | None:
        """The answer stored under ``key`` (a dict), or None."""
        db = self._connect()
        try:
            row = db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, answer: dict[str, Any]) -> None:
        """Store ``answer`` (JSON-ready) under ``key``; a later answer replaces it. Past
        ``max_answers`` the oldest written are dropped (SQLite rowids grow with each
        write, replacements included, so the rowid order is the write order)."""
        text = json.dumps(answer, ensure_ascii=False)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        db = self._connect()
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO answers (key, answer, created_at) "
                           "VALUES (?, ?, ?)", (key, text, now))
                newest = db.execute("SELECT MAX(rowid) FROM answers").fetchone()[0]
                if newest > self.max_answers:
                    db.execute("DELETE FROM answers WHERE rowid <= ?",
                               (newest - self.max_answers,))
        finally:
            db.close()

    def __len__(self) -> int:
        db = self._connect()
        try:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        finally:
            db.close()
