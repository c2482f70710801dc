"""The on-disk shape of the job store: migrations, and the codec between rows and JobRecord."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, Protocol

from discomfy.store.errors import StoreError
from discomfy.store.models import JobRecord, JobStatus

# MIGRATIONS[n] takes a database from schema version n to n + 1; each is a list of statements run in one
# transaction (not a script: sqlite3's executescript commits first). Add version 2 by appending, never by editing.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE jobs (
            job_id            TEXT PRIMARY KEY,
            owner_id          INTEGER NOT NULL,
            guild_id          INTEGER,
            channel_id        INTEGER NOT NULL,
            message_id        INTEGER,
            workflow          TEXT NOT NULL,
            params            TEXT NOT NULL,             -- JSON object
            seed              TEXT NOT NULL,             -- decimal 0..2**64-1; INTEGER is signed 64-bit
            prompt_id         TEXT,
            batch_id          TEXT,
            batch_index       INTEGER,
            status            TEXT NOT NULL,
            created_at        REAL NOT NULL,
            queued_at         REAL,
            started_at        REAL,
            finished_at       REAL,
            output_files      TEXT NOT NULL,             -- JSON array of paths
            error             TEXT,
            error_kind        TEXT,
            extra_message_ids TEXT NOT NULL,             -- JSON array of ints
            graph             TEXT                       -- JSON object or NULL
        )
        """,
        "CREATE INDEX jobs_status ON jobs (status)",
        "CREATE INDEX jobs_prompt_id ON jobs (prompt_id)",
        "CREATE INDEX jobs_owner_created ON jobs (owner_id, created_at)",
        "CREATE INDEX jobs_created ON jobs (created_at)",
        "CREATE INDEX jobs_message_id ON jobs (message_id)",
        "CREATE INDEX jobs_batch ON jobs (batch_id, batch_index)",
        # every message that shows a job, the first and the extras, so a click on any of them finds it
        """
        CREATE TABLE job_messages (
            message_id INTEGER NOT NULL,
            job_id     TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
            PRIMARY KEY (message_id, job_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX job_messages_job ON job_messages (job_id)",
    ),
    # 2: what a result's message says about it besides its files (outputs left out by comfy.max_outputs)
    ("ALTER TABLE jobs ADD COLUMN notes TEXT NOT NULL DEFAULT '[]'",),
    # 3: running a community: whether a result is posted as spoilers, per-channel (category, server) settings set
    # from Discord, each server's prompt blocklist, and every member's personal defaults (settings.py)
    (
        "ALTER TABLE jobs ADD COLUMN spoiler INTEGER NOT NULL DEFAULT 0",
        """
        CREATE TABLE scope_settings (
            scope      TEXT NOT NULL,                -- 'channel', 'category' or 'guild'
            scope_id   INTEGER NOT NULL,
            guild_id   INTEGER,
            settings   TEXT NOT NULL,                -- JSON object of what is set at this scope
            updated_by INTEGER,
            updated_at REAL NOT NULL,
            PRIMARY KEY (scope, scope_id)
        )
        """,
        """
        CREATE TABLE blocklist (
            guild_id   INTEGER NOT NULL,
            pattern    TEXT NOT NULL,
            regex      INTEGER NOT NULL,             -- 0: a word or phrase, 1: a regular expression
            whole_word INTEGER NOT NULL,
            added_by   INTEGER,
            added_at   REAL NOT NULL,
            PRIMARY KEY (guild_id, pattern, regex)
        )
        """,
        """
        CREATE TABLE user_preferences (
            user_id     INTEGER PRIMARY KEY,
            preferences TEXT NOT NULL,               -- JSON object
            updated_at  REAL NOT NULL
        )
        """,
    ),
    # 4: the axes of /sweep X/Y plots (their jobs are one batch, the cells row by row), to draw and re-run them
    (
        """
        CREATE TABLE sweeps (
            batch_id TEXT PRIMARY KEY,
            axes     TEXT NOT NULL                       -- JSON [[name, [values...]], ...]: x, then y if any
        ) WITHOUT ROWID
        """,
    ),
    # 5: the ComfyUI server a job was sent to, by name (NULL: not sent yet); '' for the jobs written before
    # several servers were known, which all went to the one server of comfy.url
    ("ALTER TABLE jobs ADD COLUMN server TEXT", "UPDATE jobs SET server = ''"),
    # 6: an admin's request, first in the bot's own queue with scheduler.admins_first (also after a restart)
    ("ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",),
)

SCHEMA_VERSION = len(MIGRATIONS)

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JobRecord))
FIELDS = frozenset(COLUMNS)
_JSON_FIELDS = frozenset({"params", "output_files", "extra_message_ids", "graph", "notes"})
_MAX_SEED = 2**64 - 1


def encode_record(record: JobRecord) -> dict[str, Any]:
    """Turn a record into column values, refusing what would not read back the same.

    Raises:
        StoreError: the seed is out of range, the status unknown, or a JSON field is not serialisable.
    """
    row = {name: getattr(record, name) for name in COLUMNS}
    seed = row["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise StoreError(f"job {record.job_id}: seed {seed!r} is not an integer in 0..2**64-1")
    row["seed"] = str(seed)
    row["status"] = parse_status(row["status"]).value
    for name in _JSON_FIELDS:
        try:
            row[name] = _to_json(name, row[name])
        except (TypeError, ValueError) as exc:
            raise StoreError(f"job {record.job_id}: {name} cannot be stored as JSON: {exc}") from exc
    return row


def _to_json(name: str, value: Any) -> str | None:
    if value is None and name == "graph":
        return None
    if name in ("output_files", "notes"):
        value = [str(item) for item in value]
    elif name == "extra_message_ids":
        value = [int(message_id) for message_id in value]
    else:
        value = dict(value)
    return json.dumps(value, separators=(",", ":"))


class StoredRow(Protocol):
    """What the codec reads a row through: sqlite3.Row (a Sequence, not a Mapping) or a dict of columns."""

    def __getitem__(self, column: str, /) -> Any: ...


def decode_record(row: StoredRow) -> JobRecord:
    """Turn stored column values back into the record that was written."""
    values = {name: row[name] for name in COLUMNS}
    for name in _JSON_FIELDS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    values["seed"] = int(values["seed"])
    values["status"] = JobStatus(values["status"])
    values["output_files"] = tuple(values["output_files"])
    values["extra_message_ids"] = tuple(values["extra_message_ids"])
    values["notes"] = tuple(values["notes"])
    values["spoiler"] = bool(values["spoiler"])
    values["priority"] = bool(values["priority"])
    return JobRecord(**values)


def parse_status(value: JobStatus | str) -> JobStatus:
    """Accept a status as the enum or its text value.

    Raises:
        StoreError: the text names no status.
    """
    try:
        return JobStatus(value)
    except ValueError:
        raise StoreError(f"unknown job status {value!r}") from None
