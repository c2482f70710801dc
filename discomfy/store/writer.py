"""Writes of followed jobs that a failing disk cannot strand: retried, then kept in memory and saved later.

A job's follower must go on whatever the store does (database locked by an admin's shell, disk full,
read-only file): otherwise the job finishes in ComfyUI but is never delivered, its message says "Queued"
forever and it holds its user's slot until a restart. So each write is retried for a few seconds; if the store
still fails, the change is applied to the record in memory (the job is delivered, its slot freed) and saved,
in order, as soon as the store works again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from discomfy.ids import short_id
from discomfy.retry import Backoff, retry
from discomfy.store.database import JobStore
from discomfy.store.errors import StoreError, StoreUnavailableError, UnknownJobError
from discomfy.store.models import JobRecord, JobStatus, stamped
from discomfy.tasks import BackgroundTasks

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_TRIES = 3  # then the job goes on in memory
WRITE_BACKOFF = Backoff(first=0.5, cap=2.0)
SAVE_LATER_BACKOFF = Backoff(first=1.0, cap=30.0)


class Recorded(Protocol):
    """A job as the writer sees it: its record, replaced by every write (jobs.Job)."""

    record: JobRecord


class JobWriter:
    """The store's writes for jobs being followed; `unsaved` counts changes waiting for the store."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._unsaved: deque[tuple[str, dict[str, Any]]] = deque()  # (job_id, fields to write), oldest first
        self._tasks = BackgroundTasks()
        self._all_saved = asyncio.Event()
        self._all_saved.set()

    @property
    def unsaved(self) -> int:
        return len(self._unsaved)

    async def wait_saved(self) -> None:
        """Until every change kept in memory is in the store (at once when none waits)."""
        await self._all_saved.wait()

    async def transition(
        self, job: Recorded, status: JobStatus, *, expect: Collection[JobStatus] | None = None, **changes: Any
    ) -> bool:
        """`JobStore.transition` of `job.record`, or the same change in memory while the store fails.

        `job.record` is updated either way; False when the job was not in `expect` (nothing changed).
        """
        job_id = job.record.job_id
        try:
            stored = await self._retried(
                lambda: self.store.transition(job_id, status, expect=expect, **changes), job_id
            )
        except StoreError as exc:
            current = job.record  # as it is now: another task may have changed it while this write was retried
            if expect is not None and current.status not in expect:
                return False
            job.record = self._later(
                current, {"status": status, **stamped(current.status, status, changes, time.time())}, exc
            )
            return True
        if stored is None:
            return False
        job.record = stored
        return True

    async def update(self, job: Recorded, **changes: Any) -> None:
        """`JobStore.update` of `job.record`, or the same change in memory while the store fails."""
        job_id = job.record.job_id
        try:
            job.record = await self._retried(lambda: self.store.update(job_id, **changes), job_id)
        except StoreError as exc:
            job.record = self._later(job.record, changes, exc)

    async def close(self) -> None:
        await self._tasks.close()

    async def _retried(self, write: Callable[[], Awaitable[T]], job_id: str) -> T:
        if self._unsaved:  # keep the order: a newer change must not land before an older one that waits
            raise StoreError("earlier changes are still waiting for the store")
        what = f"Saving job {short_id(job_id)}"
        return await retry(
            write, retry_on=(StoreUnavailableError,), tries=WRITE_TRIES, backoff=WRITE_BACKOFF, what=what, logger=log
        )

    def _later(self, record: JobRecord, fields: dict[str, Any], error: StoreError) -> JobRecord:
        if not self._unsaved:
            log.error("The job store keeps failing (%s); jobs go on in memory and are saved when it works", error)
            self._tasks.spawn(self._save_waiting(), name="store-save-later")
        self._unsaved.append((record.job_id, fields))
        self._all_saved.clear()
        return replace(record, **fields)

    async def _save_waiting(self) -> None:
        """Write the waiting changes in order, waiting longer and longer while the store still fails."""
        failures = 0
        while self._unsaved:
            job_id, fields = self._unsaved[0]
            try:
                await self.store.update(job_id, **fields)
            except UnknownJobError:
                log.warning("Job %s was never saved; its waiting change is dropped", short_id(job_id))
            except StoreError as exc:
                if isinstance(exc, StoreUnavailableError):
                    await self._wait_for_store(exc, failures)
                    failures += 1
                    continue
                log.error("The store refuses a change of job %s (%s); it is dropped", short_id(job_id), exc)
            except Exception as exc:  # a surprise: the loop must not end with changes waiting
                await self._wait_for_store(exc, failures)
                failures += 1
                continue
            self._unsaved.popleft()
            failures = 0
        self._all_saved.set()
        log.info("The job store works again; every waiting change is saved")

    async def _wait_for_store(self, error: Exception, failures: int) -> None:
        delay = SAVE_LATER_BACKOFF.delay(failures)
        log.warning("Job store still failing (%s); %d change(s) wait, next try in %.0f s", error, self.unsaved, delay)
        await asyncio.sleep(delay)
