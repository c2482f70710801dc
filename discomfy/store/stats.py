"""The /stats summary, computed in Python from the rows of the window (a few thousand at bot scale)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from discomfy.store.models import JobStatus, Stats, WorkflowStats

if TYPE_CHECKING:
    from discomfy.store.schema import StoredRow

STATS_COLUMNS = ("created_at", "workflow", "owner_id", "status", "error_kind", "started_at", "finished_at")
BUSIEST_USERS = 10
UNKNOWN_REASON = "unknown"

_K = TypeVar("_K", str, int)


def summarize(rows: Iterable[StoredRow]) -> Stats:
    """Fold the STATS_COLUMNS of every job in the window into a Stats."""
    per_day: Counter[str] = Counter()
    per_user: Counter[int] = Counter()
    reasons: Counter[str] = Counter()
    by_workflow: defaultdict[str, list[StoredRow]] = defaultdict(list)
    for row in rows:
        per_day[datetime.fromtimestamp(row["created_at"], UTC).date().isoformat()] += 1
        per_user[row["owner_id"]] += 1
        by_workflow[row["workflow"]].append(row)
        if JobStatus(row["status"]).is_failure:
            reasons[row["error_kind"] or UNKNOWN_REASON] += 1
    workflows = sorted(
        (_workflow_stats(name, jobs) for name, jobs in by_workflow.items()), key=lambda w: (-w.jobs, w.name)
    )
    return Stats(
        jobs_per_day=tuple(sorted(per_day.items())),
        per_workflow=tuple(workflows),
        failures_by_reason=_most_first(reasons),
        busiest_users=_most_first(per_user)[:BUSIEST_USERS],
    )


def _workflow_stats(name: str, rows: list[StoredRow]) -> WorkflowStats:
    # from the request, so the time in the bot's own queue (WAITING) counts, not only ComfyUI's
    waits = [r["started_at"] - r["created_at"] for r in rows if r["started_at"] is not None]
    runs = [
        r["finished_at"] - r["started_at"]
        for r in rows
        if r["status"] == JobStatus.DONE and r["finished_at"] is not None and r["started_at"] is not None
    ]
    return WorkflowStats(
        name=name,
        jobs=len(rows),
        median_queue_wait=statistics.median(waits) if waits else None,
        median_run_time=statistics.median(runs) if runs else None,
        failures=sum(1 for r in rows if JobStatus(r["status"]).is_failure),
    )


def _most_first(counts: Counter[_K]) -> tuple[tuple[_K, int], ...]:
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
