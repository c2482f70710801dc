"""JobStore: every job on disk in SQLite, so a restart (deploy, crash, reboot) resumes them all."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from discomfy.store.errors import StoreError, StoreUnavailableError, UnknownJobError
from discomfy.store.models import PENDING, UNFINISHED, JobRecord, JobStatus, Stats, SweepRecord, stamped
from discomfy.store.schema import (
    COLUMNS,
    FIELDS,
    MIGRATIONS,
    SCHEMA_VERSION,
    decode_record,
    encode_record,
    parse_status,
)
from discomfy.store.stats import STATS_COLUMNS, summarize

log = logging.getLogger(__name__)

SCHEMA_VERSION_KEY = "schema_version"
CLIENT_ID_KEY = "comfy_client_id"  # written by every version since the first: never rename it
BUSY_TIMEOUT = 5.0  # seconds; only another process (an admin's sqlite3 shell) can make us wait

_SELECT = "SELECT " + ", ".join(f"jobs.{c}" for c in COLUMNS) + " FROM jobs"
_INSERT = f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"


class JobStore:
    """Job records and a few key/values in one SQLite file; one connection, safe for any number of tasks.

    Every operation holds one asyncio lock, so tasks never see each other's half-done transactions on the
    shared connection; writes run in BEGIN IMMEDIATE transactions, so other processes cannot interleave either.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._schema_version = 0
        self._lock = asyncio.Lock()

    # ---- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> Self:
        """Open (creating if needed) the store at `path` and bring its schema up to date.

        Raises:
            StoreError: the file is not a usable SQLite database, or its schema is newer than this code.
        """
        store = cls(path, busy_timeout=busy_timeout)
        await store.connect()
        return store

    async def connect(self) -> None:
        """Open the connection if it is not open yet; see `open`."""
        async with self._lock:
            if self._db is not None:
                return
            try:
                await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
                db = await aiosqlite.connect(self.path, isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the job store {self.path}: {exc}") from exc
            try:
                self._schema_version = await _prepare(db, self.path, self.busy_timeout)
            except BaseException:
                await db.close()
                raise
            self._db = db
        log.info("Opened job store %s (schema version %d)", self.path, self._schema_version)

    async def close(self) -> None:
        """Close the connection; safe to call more than once."""
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await db.close()
                log.info("Closed job store %s", self.path)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def schema_version(self) -> int:
        """The schema version of the open file (0 before the first open)."""
        return self._schema_version

    # ---- key/values ------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """Read a small value kept across restarts (e.g. the ComfyUI client_id)."""
        async with self._reading() as db, db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row["value"]

    async def set_meta(self, key: str, value: str) -> None:
        """Keep a small value across restarts.

        Raises:
            StoreError: the key is the store's own schema_version.
        """
        if key == SCHEMA_VERSION_KEY:
            raise StoreError(f"{key!r} belongs to the job store and cannot be set")
        async with self._writing() as db:
            await _upsert_meta(db, key, value)

    async def client_id(self, server: str | None = None) -> str:
        """This bot's ComfyUI client_id on one server, made on first use and kept: ComfyUI routes old jobs'
        messages by it. `server` None (the server of comfy.url) keeps the key every version wrote."""
        key = CLIENT_ID_KEY if server is None else f"{CLIENT_ID_KEY}:{server}"
        client_id = await self.get_meta(key)
        if client_id is None:
            client_id = uuid.uuid4().hex
            await self.set_meta(key, client_id)
        return client_id

    # ---- writes ----------------------------------------------------------------------------

    async def add(self, record: JobRecord) -> None:
        """Write a new job.

        Raises:
            StoreError: a job with this id exists, or a field cannot be stored (seed range, JSON).
        """
        row = encode_record(record)
        async with self._writing() as db:
            if await _fetch_one(db, f"{_SELECT} WHERE job_id = ?", (record.job_id,)) is not None:
                raise StoreError(f"job {record.job_id} is already in the store")
            await db.execute(_INSERT, row)
            await _index_messages(db, record.job_id, record.message_ids)
        log.debug("Stored job %s (%s)", record.job_id, record.status)

    async def add_sweep(self, sweep: SweepRecord) -> None:
        """Keep the axes of a sweep under its batch id (before its jobs are written).

        Raises:
            StoreError: a sweep with this batch id exists, or a value cannot be stored as JSON.
        """
        try:
            axes = json.dumps([[name, list(values)] for name, values in sweep.axes], separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StoreError(f"sweep {sweep.batch_id}: its axes cannot be stored as JSON: {exc}") from exc
        async with self._writing() as db:
            await db.execute("INSERT INTO sweeps (batch_id, axes) VALUES (?, ?)", (sweep.batch_id, axes))

    async def update(self, job_id: str, **changes: Any) -> JobRecord:
        """Change some fields of a job unconditionally and return the job as stored now.

        Raises:
            StoreError: the job or a field name is unknown, or a value cannot be stored.
        """
        _check_fields(changes)
        async with self._writing() as db:
            current = await self._require(db, job_id)
            return await _apply(db, current, changes)

    async def transition(
        self,
        job_id: str,
        status: JobStatus | str,
        *,
        expect: Collection[JobStatus | str] | None = None,
        **changes: Any,
    ) -> JobRecord | None:
        """Move a job to `status` only if it is now in `expect` (when given): an atomic compare-and-set.

        Entering QUEUED, RUNNING or a terminal status from another status stamps queued_at, started_at or
        finished_at with the current time unless `changes` gives it.

        Returns:
            The job as stored now, or None when its status was not in `expect` (nothing was changed).

        Raises:
            StoreError: the job or a field name is unknown, or a value cannot be stored.
        """
        new_status = parse_status(status)
        _check_fields(changes)
        expected = None if expect is None else frozenset(parse_status(s) for s in expect)
        async with self._writing() as db:
            current = await self._require(db, job_id)
            if expected is not None and current.status not in expected:
                log.debug("Job %s is %s, not moved to %s", job_id, current.status, new_status)
                return None
            changes = stamped(current.status, new_status, changes, time.time())
            record = await _apply(db, current, {"status": new_status, **changes})
        log.debug("Job %s: %s -> %s", job_id, current.status, new_status)
        return record

    # ---- reads -----------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        return await self._one(f"{_SELECT} WHERE job_id = ?", (job_id,))

    async def by_prompt_id(self, prompt_id: str) -> JobRecord | None:
        """The job ComfyUI knows by this prompt_id (the newest, should a prompt_id ever be reused)."""
        return await self._one(
            f"{_SELECT} WHERE prompt_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (prompt_id,)
        )

    async def by_message_id(self, message_id: int) -> list[JobRecord]:
        """The jobs a Discord message shows, as its first message or as an extra delivery message."""
        sql = (
            f"{_SELECT} JOIN job_messages AS m ON m.job_id = jobs.job_id WHERE m.message_id = ?"
            " ORDER BY jobs.batch_index, jobs.created_at, jobs.rowid"
        )
        return await self._all(sql, (message_id,))

    async def batch(self, batch_id: str) -> list[JobRecord]:
        """The jobs of one /batch or Variations, in batch_index order."""
        return await self._all(f"{_SELECT} WHERE batch_id = ? ORDER BY batch_index, created_at, rowid", (batch_id,))

    async def sweep(self, batch_id: str) -> SweepRecord | None:
        """The axes of the sweep whose jobs share `batch_id`; None for any other batch."""
        async with (
            self._reading() as db,
            db.execute("SELECT axes FROM sweeps WHERE batch_id = ?", (batch_id,)) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        return SweepRecord(batch_id, tuple((name, tuple(values)) for name, values in json.loads(row["axes"])))

    async def unfinished(self) -> list[JobRecord]:
        """Every job a restart must resume (created, queued, running or delivering), oldest first."""
        return await self._all(
            f"{_SELECT} WHERE status IN {_placeholders(UNFINISHED)} ORDER BY created_at, rowid", UNFINISHED
        )

    async def delivered_outputs(self) -> list[tuple[float, tuple[str, ...]]]:
        """(finished_at, output files) of every delivered job that lists files, earliest first (for pruning).

        Only those two columns: the records' graphs and parameters would make this hourly read heavy.
        """
        sql = (
            "SELECT coalesce(finished_at, created_at) AS at, output_files FROM jobs"
            " WHERE status = ? AND output_files != '[]' ORDER BY at, rowid"
        )
        async with self._reading() as db, db.execute(sql, (JobStatus.DONE.value,)) as cursor:
            rows = await cursor.fetchall()
        return [(float(row["at"]), tuple(json.loads(row["output_files"]))) for row in rows]

    async def pending_count(self, owner_id: int | None = None) -> int:
        """Jobs created, queued or running, of one owner or of everyone."""
        sql = f"SELECT count(*) AS n FROM jobs WHERE status IN {_placeholders(PENDING)}"
        params: list[Any] = list(PENDING)
        if owner_id is not None:
            sql += " AND owner_id = ?"
            params.append(owner_id)
        return await self._count(sql, params)

    async def history(self, owner_id: int, *, limit: int = 10, offset: int = 0) -> list[JobRecord]:
        """One page of an owner's jobs, newest first.

        Raises:
            StoreError: limit or offset is negative.
        """
        if limit < 0 or offset < 0:
            raise StoreError(f"history page limit={limit} offset={offset} must not be negative")
        sql = f"{_SELECT} WHERE owner_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        return await self._all(sql, (owner_id, limit, offset))

    async def count_for_owner(self, owner_id: int) -> int:
        return await self._count("SELECT count(*) AS n FROM jobs WHERE owner_id = ?", (owner_id,))

    async def stats(self, *, since: float) -> Stats:
        """Summarise the jobs created at or after `since` (epoch seconds); medians are computed in Python."""
        sql = f"SELECT {', '.join(STATS_COLUMNS)} FROM jobs WHERE created_at >= ?"
        async with self._reading() as db, db.execute(sql, (since,)) as cursor:
            rows = await cursor.fetchall()
        return summarize(rows)

    # ---- the store's other tables (settings.py) ------------------------------------------------

    def reading(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """The connection for reads of another table of this file, under the store's one lock."""
        return self._reading()

    def writing(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """One write transaction on another table of this file, under the store's one lock."""
        return self._writing()

    # ---- plumbing --------------------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self._connection()
            try:
                yield db
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """One BEGIN IMMEDIATE transaction around the body: all of it lands, or none of it."""
        async with self._lock:
            db = self._connection()
            try:
                await db.execute("BEGIN IMMEDIATE")
                yield db
                await db.commit()
            except BaseException as exc:
                await db.rollback()  # runs in the connection's thread after BEGIN, even if we were cancelled
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc) from exc
                raise

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"the job store {self.path} is not open")
        return self._db

    def _error(self, exc: sqlite3.Error) -> StoreError:
        if isinstance(exc, sqlite3.OperationalError):  # locked, busy, disk full, read-only, I/O error
            return StoreUnavailableError(f"job store {self.path}: {exc}")
        return StoreError(f"job store {self.path}: {exc}")

    async def _require(self, db: aiosqlite.Connection, job_id: str) -> JobRecord:
        row = await _fetch_one(db, f"{_SELECT} WHERE job_id = ?", (job_id,))
        if row is None:
            raise UnknownJobError(f"no job {job_id} in the store")
        return decode_record(row)

    async def _one(self, sql: str, params: Iterable[Any]) -> JobRecord | None:
        async with self._reading() as db:
            row = await _fetch_one(db, sql, params)
        return None if row is None else decode_record(row)

    async def _all(self, sql: str, params: Iterable[Any]) -> list[JobRecord]:
        async with self._reading() as db, db.execute(sql, tuple(params)) as cursor:
            rows = await cursor.fetchall()
        return [decode_record(row) for row in rows]

    async def _count(self, sql: str, params: Iterable[Any]) -> int:
        async with self._reading() as db:
            row = await _fetch_one(db, sql, params)
        return 0 if row is None else int(row["n"])


async def _prepare(db: aiosqlite.Connection, path: Path, busy_timeout: float) -> int:
    """Configure the connection and migrate the file; returns its schema version."""
    db.row_factory = aiosqlite.Row
    try:
        row = await _fetch_one(db, "PRAGMA journal_mode=WAL", ())
        if row is None or str(row[0]).lower() != "wal":
            log.warning("Job store %s is not in WAL mode (%s)", path, None if row is None else row[0])
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = await _migrate(db, path)
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
    except sqlite3.Error as exc:
        raise StoreError(f"{path} is not a usable job store (corrupt, or not an SQLite file?): {exc}") from exc
    return version


async def _migrate(db: aiosqlite.Connection, path: Path) -> int:
    await db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = await _fetch_one(db, "SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,))
    text = "0" if row is None else row["value"]
    if not text.isdecimal():
        raise StoreError(f"{path}: meta {SCHEMA_VERSION_KEY} is {text!r}, not a version number")
    found = int(text)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has job store schema version {found}, newer than this DisComfy knows ({SCHEMA_VERSION});"
            " upgrade DisComfy or point it at another file"
        )
    for version in range(found, SCHEMA_VERSION):
        for statement in MIGRATIONS[version]:
            await db.execute(statement)
        log.info("Migrated job store %s to schema version %d", path, version + 1)
    if found != SCHEMA_VERSION:
        await _upsert_meta(db, SCHEMA_VERSION_KEY, str(SCHEMA_VERSION))
    return SCHEMA_VERSION


async def _apply(db: aiosqlite.Connection, current: JobRecord, changes: Mapping[str, Any]) -> JobRecord:
    """Write `changes` over `current` and return the record exactly as it will read back."""
    if not changes:
        return current
    if "status" in changes:
        changes = {**changes, "status": parse_status(changes["status"])}
    row = encode_record(replace(current, **changes))
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    await db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = :job_id", row)
    record = decode_record(row)
    if changes.keys() & {"message_id", "extra_message_ids"}:
        await _index_messages(db, record.job_id, record.message_ids)
    return record


async def _index_messages(db: aiosqlite.Connection, job_id: str, message_ids: Iterable[int]) -> None:
    await db.execute("DELETE FROM job_messages WHERE job_id = ?", (job_id,))
    await db.executemany(
        "INSERT OR IGNORE INTO job_messages (message_id, job_id) VALUES (?, ?)", [(m, job_id) for m in message_ids]
    )


async def _upsert_meta(db: aiosqlite.Connection, key: str, value: str) -> None:
    await db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def _fetch_one(db: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> aiosqlite.Row | None:
    async with db.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()


def _check_fields(changes: Mapping[str, Any]) -> None:
    unknown = sorted(changes.keys() - FIELDS)
    if unknown:
        raise StoreError(f"unknown job field(s): {', '.join(unknown)}")


def _placeholders(values: Collection[Any]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")"
