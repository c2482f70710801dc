"""Job records on disk, so a restart of the bot loses no job; also /history and /stats."""

from __future__ import annotations

from discomfy.store.database import JobStore
from discomfy.store.models import PENDING, TERMINAL, UNFINISHED, JobRecord, JobStatus, Stats, SweepRecord, WorkflowStats

__all__ = [
    "PENDING",
    "TERMINAL",
    "UNFINISHED",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "Stats",
    "SweepRecord",
    "WorkflowStats",
]
