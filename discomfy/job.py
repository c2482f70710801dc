"""A job as users see it: what they asked for, its stored record with the live ComfyUI handle, and snapshots."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from discomfy.comfy import ComfyJob, JobResult, PromptStatus
from discomfy.comfy.cache import CACHED, PARTLY_CACHED
from discomfy.ids import short_id
from discomfy.inputs import InputImage, Inputs
from discomfy.store import JobRecord, JobStatus
from discomfy.sweep.axes import Grid
from discomfy.workflows import WorkflowSpec


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What a user asked for, in the workflow's own parameter names."""

    owner_id: int
    channel_id: int
    guild_id: int | None
    workflow: str
    values: Mapping[str, Any]
    seed: int | None = None
    images: Mapping[str, InputImage] = field(default_factory=dict)
    message_id: int | None = None  # the deferred response's message, stored before ComfyUI sees the job
    spoiler: bool = False  # post the result (and its previews) as spoilers
    priority: bool = False  # an admin's: first in the bot's queue when scheduler.admins_first
    server: str | None = None  # where its input images already are (a stored job's values again), if anywhere


def new_record(owner_id: int, **fields: Any) -> JobRecord:
    """A fresh WAITING record with its own job and prompt ids (the prompt id is chosen before submitting)."""
    return JobRecord(
        job_id=uuid.uuid4().hex,
        owner_id=owner_id,
        prompt_id=str(uuid.uuid4()),
        status=JobStatus.WAITING,
        created_at=time.time(),
        **{"message_id": None, "batch_id": None, "batch_index": None, **fields},
    )


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a record keeps as its parameters: the plain ones (no image bytes)."""
    return {k: v for k, v in values.items() if isinstance(v, str | int | float | bool) or v is None}


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """Everything an embed shows about a job at one moment."""

    job_id: str
    owner_id: int
    workflow: str
    workflow_title: str
    kind: str
    status: JobStatus
    seed: int | None  # None when the workflow has no seed input (every run alike)
    params: Mapping[str, Any]
    prompt_id: str | None
    position: int | None
    queue_total: int | None
    node: str | None
    step: int | None
    steps: int | None
    elapsed: float
    eta: float | None
    preview_version: int
    error: str | None
    files: tuple[Path, ...]
    batch_id: str | None
    batch_index: int | None
    cache: str | None = None  # what the result says about ComfyUI's cache (a `cache_note`), if anything
    server: str | None = None  # the ComfyUI server it was sent to; shown only when there are several

    @property
    def fully_cached(self) -> bool:
        return bool(self.cache and self.cache.startswith(CACHED))


def split_notes(notes: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """A record's notes as (its cache note, the others: what the result's message lists as not uploaded)."""
    cache = next((note for note in notes if note.startswith((CACHED, PARTLY_CACHED))), None)
    return cache, tuple(note for note in notes if note != cache)


@dataclass(frozen=True, slots=True)
class JobCell:
    """One job of a batch: its seed, and the values it sets over the request's (a cell of a sweep)."""

    seed: int | None
    values: Mapping[str, Any] = field(default_factory=dict)


class Job:
    """One user job: its stored record plus, while ComfyUI works on it, the live ComfyUI handle."""

    def __init__(self, record: JobRecord, spec: WorkflowSpec | None, handle: ComfyJob | None) -> None:
        self.record = record
        self.spec = spec
        self.handle = handle
        self.result: JobResult | None = None
        self.sweep: Grid | None = None  # the X/Y grid its batch is laid out on, when it is a /sweep cell
        self.settled = asyncio.Event()  # set once ComfyUI's outcome is persisted (DELIVERING or failed)
        self.inputs: Inputs | None = None  # its input images while in memory (lets it move to another server)
        self.show_server = False  # its snapshots name its server (there are several)
        self.cancel_requested = False  # cancelled between the bot's queue and ComfyUI: not sent, or taken back
        self.queue_position: tuple[int, int] | None = None  # (place, of) while in the bot's own queue
        self._change = asyncio.Event()
        self._started_at = time.monotonic()
        self._step_clock: tuple[str | None, float] | None = None

    @property
    def job_id(self) -> str:
        return self.record.job_id

    @property
    def tag(self) -> str:
        """`job 3f2a9c1e (prompt 8d01b2aa)`: short ids for one log line per transition."""
        return f"job {short_id(self.job_id)} (prompt {short_id(self.record.prompt_id)})"

    @property
    def output_nodes(self) -> tuple[str, ...] | None:
        """The nodes whose files are its result; None: every output node of the graph."""
        return (self.spec.outputs or None) if self.spec else None

    @property
    def takes_images(self) -> bool:
        """Its workflow has input images (uploaded to one server: elsewhere only while they are in memory)."""
        return self.spec is not None and self.spec.takes_images

    @property
    def finished(self) -> bool:
        return not self.record.status.is_unfinished

    def notify(self) -> None:
        """Something a watcher shows changed outside the ComfyUI handle (a new handle, a place in the queue)."""
        self._change.set()
        self._change = asyncio.Event()

    async def next_change(self) -> None:
        """Until `notify` is called or the job settles."""
        if self.settled.is_set():
            return
        waiters = {asyncio.ensure_future(self._change.wait()), asyncio.ensure_future(self.settled.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def snapshot(self) -> JobSnapshot:
        """The current state, read from the live handle where there is one."""
        handle, record = self.handle, self.record
        status = record.status
        position = total = step = steps = None
        node = None
        if status is JobStatus.WAITING:  # in the bot's own queue: queued, as far as the user is concerned
            status = JobStatus.QUEUED
            position, total = self.queue_position or (None, None)
        elif handle is not None and status.is_pending:
            if handle.status is PromptStatus.RUNNING:
                status = JobStatus.RUNNING
            position, total = handle.position, handle.queue_total
            node = f"{handle.node_class} (#{handle.node_id})" if handle.node_id else None
            if handle.progress is not None:
                step, steps = handle.progress.value, handle.progress.max
        return JobSnapshot(
            job_id=record.job_id,
            owner_id=record.owner_id,
            workflow=record.workflow,
            workflow_title=self.spec.title if self.spec else record.workflow,
            kind=str(self.spec.kind) if self.spec else "image",
            status=status,
            seed=record.seed if self.spec is None or self.spec.seed_inputs else None,
            params=record.params,
            prompt_id=record.prompt_id,
            position=position if status is JobStatus.QUEUED else None,
            queue_total=total if status is JobStatus.QUEUED else None,
            node=node,
            step=step,
            steps=steps,
            elapsed=self._elapsed(),
            eta=self._eta(step, steps),
            preview_version=id(handle.latest_preview) if handle and handle.latest_preview else 0,
            error=record.error,
            files=tuple(Path(p) for p in record.output_files),
            batch_id=record.batch_id,
            batch_index=record.batch_index,
            cache=split_notes(record.notes)[0],
            server=record.server if self.show_server and record.status is not JobStatus.WAITING else None,
        )

    def _elapsed(self) -> float:
        record = self.record
        end = record.finished_at or time.time()
        return max(0.0, end - record.created_at)

    def _eta(self, step: int | None, steps: int | None) -> float | None:
        """Seconds left in the current sampler, from its own pace so far."""
        if not step or not steps or self.handle is None:
            return None
        now = time.monotonic()
        node = self.handle.node_id
        if self._step_clock is None or self._step_clock[0] != node or step == 1:
            self._step_clock = (node, now)
            return None
        per_step = (now - self._step_clock[1]) / max(1, step - 1)
        return per_step * (steps - step)
