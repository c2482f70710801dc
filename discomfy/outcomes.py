"""How a job's end in ComfyUI is recorded: the status and kind of a failure, and notes on its result."""

from __future__ import annotations

from collections.abc import Sequence

from discomfy.comfy import (
    ComfyError,
    ExecutionFailedError,
    JobCancelledError,
    JobInterruptedError,
    JobLostError,
    OutputFile,
    WorkflowRejectedError,
)
from discomfy.store import JobRecord, JobStatus


def failure_kind(error: ComfyError) -> tuple[JobStatus, str]:
    """The status a job ends in, and the short key /stats counts it by."""
    if isinstance(error, JobCancelledError):
        return JobStatus.CANCELLED, "cancelled"
    if isinstance(error, JobInterruptedError):
        return JobStatus.CANCELLED, "interrupted"
    if isinstance(error, JobLostError):
        return JobStatus.LOST, "lost"
    if isinstance(error, WorkflowRejectedError):
        return JobStatus.FAILED, "rejected"
    if isinstance(error, ExecutionFailedError):
        return JobStatus.FAILED, "execution_failed"
    return JobStatus.FAILED, "comfy_unavailable"


def left_out_note(left_out: Sequence[OutputFile], limit: int) -> tuple[str, ...]:
    """What the result says about outputs beyond `comfy.max_outputs`: how many, and the first few names."""
    if not left_out:
        return ()
    names = ", ".join(f"`{output.filename}`" for output in left_out[:5]) + (", …" if len(left_out) > 5 else "")
    return (f"{len(left_out)} more file(s) not fetched (at most {limit} per job): {names}",)


def unknown_server(record: JobRecord) -> JobLostError:
    """A job sent to a server the config no longer lists: it cannot be followed, so it is Lost (with Retry)."""
    return JobLostError(record.prompt_id or record.job_id, f"server {record.server!r} is no longer configured")
