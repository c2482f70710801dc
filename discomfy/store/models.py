"""Typed values of the job store: one record per job, and the /stats summary."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class JobStatus(enum.StrEnum):
    """Where a job stands; stored as its text value."""

    WAITING = "waiting"  # in the bot's own queue, not yet sent to any ComfyUI server
    CREATED = "created"  # sent to a server (record.server), not yet accepted by it
    QUEUED = "queued"
    RUNNING = "running"
    DELIVERING = "delivering"  # finished in ComfyUI, uploading to Discord
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def is_pending(self) -> bool:
        """Not finished in ComfyUI yet: counts against the user's limits, and can be cancelled."""
        return self in PENDING

    @property
    def is_unfinished(self) -> bool:
        """Pending, or finished but not yet posted: a restart picks it up again."""
        return self in UNFINISHED

    @property
    def is_finished(self) -> bool:
        """Nothing more will happen to it."""
        return self in TERMINAL

    @property
    def is_unsuccessful(self) -> bool:
        """Ended without a result (failed, lost or cancelled): shown with its reason, and can be retried."""
        return self in UNSUCCESSFUL

    @property
    def is_failure(self) -> bool:
        """What /stats counts as a failure: cancelling is the user's choice, not one."""
        return self in FAILURES


# The groups, each defined once; SQL queries take the sets, everything else the properties above.
PENDING = frozenset({JobStatus.WAITING, JobStatus.CREATED, JobStatus.QUEUED, JobStatus.RUNNING})
UNFINISHED = PENDING | {JobStatus.DELIVERING}
TERMINAL = frozenset(JobStatus) - UNFINISHED
UNSUCCESSFUL = frozenset({JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED})
FAILURES = UNSUCCESSFUL - {JobStatus.CANCELLED}


#: The time stamp a status sets when a job enters it.
STAMPED_AT: dict[JobStatus, str] = {
    JobStatus.QUEUED: "queued_at",
    JobStatus.RUNNING: "started_at",
    **dict.fromkeys(TERMINAL, "finished_at"),
}


def stamped(current: JobStatus, new: JobStatus, changes: Mapping[str, Any], now: float) -> dict[str, Any]:
    """`changes` plus the time stamp entering `new` sets (unless given, or the job is already there)."""
    stamp = STAMPED_AT.get(new)
    if stamp is None or stamp in changes or current == new:
        return dict(changes)
    return {**changes, stamp: now}


@dataclass(frozen=True, slots=True)
class JobRecord:
    """Everything needed to resume, show, retry or account for one job after a restart."""

    job_id: str  # our id (uuid4 hex), used in button custom_ids
    owner_id: int
    guild_id: int | None
    channel_id: int
    message_id: int | None  # the Discord message that shows this job (embed, later the result)
    workflow: str
    params: Mapping[str, Any]  # user-facing parameter values, JSON-serialisable
    seed: int  # 0..2**64-1, stored as text because SQLite integers are signed 64-bit
    prompt_id: str | None
    batch_id: str | None  # jobs of one /batch or Variations share it
    batch_index: int | None
    status: JobStatus
    created_at: float  # epoch seconds
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    output_files: tuple[str, ...] = ()  # paths on disk of downloaded outputs
    error: str | None = None  # user-facing reason
    error_kind: str | None = None  # short machine key ("execution_failed", "lost", "rejected") for /stats
    extra_message_ids: tuple[int, ...] = ()  # messages beyond the first used for a delivery
    graph: Mapping[str, Any] | None = None  # the exact API graph submitted, so a lost job can be retried as is
    notes: tuple[str, ...] = ()  # what the result's message says besides its files (outputs left out...)
    spoiler: bool = False  # the result (and its previews) are posted as spoilers: the channel's or owner's choice
    server: str | None = None  # the ComfyUI server it was sent to (WAITING: the one holding its input images)
    priority: bool = False  # an admin's request: first in the bot's queue with scheduler.admins_first

    @property
    def message_ids(self) -> tuple[int, ...]:
        """Every Discord message that shows this job, the first one first."""
        first = () if self.message_id is None else (self.message_id,)
        return first + self.extra_message_ids


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """The axes of an X/Y sweep, whose jobs are one batch (its cells, row by row), kept to draw and re-run it."""

    batch_id: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # (parameter or "seed", its values): x, then y if any


@dataclass(frozen=True, slots=True)
class WorkflowStats:
    """How one workflow fared in the /stats window; medians are seconds, None without samples."""

    name: str
    jobs: int
    median_queue_wait: float | None  # started_at - created_at (the bot's queue and ComfyUI's), over jobs that started
    median_run_time: float | None  # finished_at - started_at, over jobs that are DONE
    failures: int  # FAILED or LOST


@dataclass(frozen=True, slots=True)
class Stats:
    """The /stats answer for jobs created since a point in time."""

    jobs_per_day: tuple[tuple[str, int], ...]  # ("2026-11-23", n), UTC dates, oldest first
    per_workflow: tuple[WorkflowStats, ...]  # most jobs first
    failures_by_reason: tuple[tuple[str, int], ...]  # by error_kind, most first
    busiest_users: tuple[tuple[int, int], ...]  # (owner_id, jobs), most first, top 10

    @property
    def total_jobs(self) -> int:
        return sum(n for _, n in self.jobs_per_day)
