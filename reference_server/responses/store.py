"""Stored responses (`store: true`) in an embedded SQLite database, so they outlive the process.

One row per response: the response object exactly as it was returned, its own input items (what
`GET /v1/responses/{id}/input_items` lists), and the conversation a follow-up continues from (the
earlier turns' items, this input and this output), so `previous_response_id` needs one lookup
however long the chain. Like OpenAI, rows are kept for 30 days.

SQLite in WAL mode with a busy timeout lets several server processes share one file; within a
process one connection is shared under a lock (calls come from a thread pool).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RETENTION_SECONDS = 30 * 24 * 3600
MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    response TEXT NOT NULL,
    input_items TEXT NOT NULL,
    conversation TEXT NOT NULL
)
"""


class StoreError(Exception):
    """The database cannot be opened or used; the message names the file."""


@dataclass(frozen=True)
class StoredResponse:
    id: str
    created_at: int
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    conversation: list[dict[str, Any]]


class ResponseStore:
    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        try:
            if self.path != MEMORY:
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                Path(self.path).expanduser() if self.path != MEMORY else MEMORY,
                timeout=10,
                check_same_thread=False,
                isolation_level=None,  # autocommit: every statement is its own transaction
            )
            if self.path != MEMORY:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.execute("DELETE FROM responses WHERE created_at < ?", (int(time.time()) - RETENTION_SECONDS,))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot use responses database {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def save(self, record: StoredResponse) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.created_at,
                    json.dumps(record.response),
                    json.dumps(record.input_items),
                    json.dumps(record.conversation),
                ),
            )

    def get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, created_at, response, input_items, conversation FROM responses WHERE id = ?",
                (response_id,),
            ).fetchone()
        if row is None:
            return None
        return StoredResponse(row[0], row[1], json.loads(row[2]), json.loads(row[3]), json.loads(row[4]))

    def delete(self, response_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM responses WHERE id = ?", (response_id,))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
