"""ComfyService: the one object the whole bot shares per ComfyUI server (one client_id, one socket)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp

from discomfy.comfy.client import ComfyClient
from discomfy.comfy.errors import (
    ComfyConnectionError,
    ComfyError,
    ComfyTimeoutError,
    JobCancelledError,
    JobMovedError,
    WorkflowRejectedError,
)
from discomfy.comfy.finish import JobFinisher
from discomfy.comfy.job import ComfyJob
from discomfy.comfy.models import (
    PromptStatus,
    QueueState,
    SystemStats,
    UploadedImage,
)
from discomfy.comfy.object_info import ObjectInfo
from discomfy.comfy.outputs import HistoryOutcome, parse_outputs, seconds_between, select_deliverables
from discomfy.comfy.settings import DEFAULT_SERVER, ComfySettings
from discomfy.comfy.tracker import ComfyTracker
from discomfy.ids import short_id
from discomfy.tasks import BackgroundTasks

log = logging.getLogger(__name__)

OFFLINE_SUBMIT_DEADLINE = 5.0  # seconds a submission may take in all while the WebSocket is down


class ComfyService:
    """Submits prompts, tracks every job through the one WebSocket, reconciles, fetches outputs."""

    def __init__(
        self,
        settings: ComfySettings,
        *,
        client_id: str | None = None,
        session: aiohttp.ClientSession | None = None,
        name: str = DEFAULT_SERVER,
    ) -> None:
        self.settings = settings
        self.name = name  # the server's name in comfy.servers, for logs
        self.client_id = client_id or uuid.uuid4().hex
        self._own_session = session is None
        self._session = session
        self._jobs: dict[str, ComfyJob] = {}
        self._tasks = BackgroundTasks()
        self._client: ComfyClient | None = None
        self._finisher: JobFinisher | None = None
        self._tracker: ComfyTracker | None = None
        self._queue_refresh: asyncio.Task[None] | None = None
        self._queue_dirty = False
        self.last_queue: QueueState | None = None
        self.capabilities: ObjectInfo | None = None  # its /object_info, read at every (re)connect

    # ---- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the session and the WebSocket reader; returns at once (the socket connects in the background)."""
        if self._tracker is not None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._client = ComfyClient(self._session, self.settings)
        self._finisher = JobFinisher(self._client, self.settings, self._tasks, self._jobs)
        ws_url = self._client.base_url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        self._tracker = ComfyTracker(
            self._session,
            ws_url,
            self._jobs,
            self,
            headers=dict(self.settings.headers),
            min_delay=self.settings.reconnect_min_delay,
            max_delay=self.settings.reconnect_max_delay,
            handshake_timeout=self.settings.request_timeout,
        )
        log.info("ComfyUI server %s at %s with client_id %s", self.name, self._client.base_url, self.client_id)
        self._tasks.spawn(self._tracker.run(), name="comfy-tracker")
        self._tasks.spawn(self._watchdog(), name="comfy-watchdog")

    async def close(self) -> None:
        """Stop the reader and watchdog and close the session; idempotent. Unfinished jobs stay in ComfyUI."""
        await self._tasks.close()
        self._tracker = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def client(self) -> ComfyClient:
        if self._client is None:
            raise RuntimeError("ComfyService is not started")
        return self._client

    @property
    def finisher(self) -> JobFinisher:
        """How this service's jobs end (outcome, outputs, failure), and submissions taken back."""
        if self._finisher is None:
            raise RuntimeError("ComfyService is not started")
        return self._finisher

    @property
    def tracker(self) -> ComfyTracker:
        """The one WebSocket reader, for diagnostics and benchmarks (`messages`, `last_message_at`, `queue_remaining`).

        Raises:
            RuntimeError: the service is not started (or already closed).
        """
        if self._tracker is None:
            raise RuntimeError("ComfyService is not started")
        return self._tracker

    @property
    def connected(self) -> bool:
        return self._tracker is not None and self._tracker.connected.is_set()

    async def wait_connected(self, within: float) -> bool:
        """Wait for the WebSocket; False if it did not connect within `within` seconds."""
        if self._tracker is None:
            return False
        try:
            async with asyncio.timeout(within):
                await self._tracker.connected.wait()
        except TimeoutError:
            return False
        return True

    # ---- jobs ------------------------------------------------------------------------------

    @property
    def jobs(self) -> Mapping[str, ComfyJob]:
        """Jobs being tracked, by prompt_id."""
        return self._jobs

    async def submit(
        self,
        graph: Mapping[str, Any],
        *,
        output_nodes: Iterable[str] | None = None,
        download: bool = True,
        front: bool = False,
        prompt_id: str | None = None,
    ) -> ComfyJob:
        """Queue an API-format workflow under our client_id and return its job handle.

        The job is registered under a prompt_id chosen BEFORE the request (ours, or the caller's
        when it persisted one first), so no message can arrive for an unknown job.

        Raises:
            WorkflowRejectedError: ComfyUI refused the workflow (with per-node reasons).
            ComfyConnectionError: ComfyUI is unreachable (after bounded retries).
        """
        prompt_id = prompt_id or str(uuid.uuid4())
        job = ComfyJob(prompt_id, graph, output_nodes=output_nodes, download=download)
        self._jobs[prompt_id] = job
        try:
            number = await self._submit_within_deadline(graph, prompt_id, front)
        except WorkflowRejectedError as exc:
            self._jobs.pop(prompt_id, None)
            if exc.queued_anyway:  # don't spend the GPU on half of what was asked
                await self.client.delete_pending([prompt_id])
                await self.interrupt(prompt_id)
            raise
        except BaseException as exc:
            # An attempt that timed out may still have been queued, run and completed (which drops the job) by
            # the time the last retry fails: the original error must reach the caller, not a KeyError.
            self._jobs.pop(prompt_id, None)
            if isinstance(exc, ComfyConnectionError):  # the answer may be what was lost, not the request
                self._tasks.spawn(self.finisher.take_back(prompt_id), name=f"comfy-take-back-{short_id(prompt_id)}")
            raise
        if job.done and not job.succeeded:  # cancelled while the submission was on its way: take it back
            self._tasks.spawn(self.finisher.take_back(prompt_id), name=f"comfy-take-back-{short_id(prompt_id)}")
            return job
        job._accepted(number)
        log.info("Job %s submitted (queue number %s)", short_id(prompt_id), number)
        self._schedule_queue_refresh()
        return job

    async def _submit_within_deadline(self, graph: Mapping[str, Any], prompt_id: str, front: bool) -> int:
        """POST /prompt with its retries, bounded in all: `submit_deadline`, or a few seconds once the WebSocket
        failed to connect (ComfyUI is then likely gone, and the user should hear so at once, not after every
        retry); a socket still connecting for the first time does not count."""
        down = self._tracker is not None and self._tracker.failures > 0 and not self.connected
        deadline = OFFLINE_SUBMIT_DEADLINE if down else self.settings.submit_deadline
        try:
            async with asyncio.timeout(deadline):
                return await self.client.submit(graph, client_id=self.client_id, prompt_id=prompt_id, front=front)
        except TimeoutError:
            raise ComfyTimeoutError(
                self.client.base_url, f"no answer to the submission within {deadline:g} s"
            ) from None

    def track(
        self,
        prompt_id: str,
        graph: Mapping[str, Any] | None = None,
        *,
        output_nodes: Iterable[str] | None = None,
        download: bool = True,
    ) -> ComfyJob:
        """Follow a prompt submitted earlier (e.g. before a bot restart); its state is reconciled at once."""
        job = self._jobs.get(prompt_id)
        if job is None:
            job = ComfyJob(prompt_id, graph or {}, output_nodes=output_nodes, download=download)
            job.status = PromptStatus.QUEUED
            self._jobs[prompt_id] = job
            self._tasks.spawn(self._reconcile([job]), name=f"comfy-track-{short_id(prompt_id)}")
        return job

    def abandon(self, prompt_id: str) -> asyncio.Task[None]:
        """Give up a job still waiting here, now sent to another server: stop following it, and take it out of
        this server's queue as soon as the server answers again, so it never runs twice (the returned task ends
        when that is done, or given up after `give_up_after`)."""
        job = self._jobs.pop(prompt_id, None)
        if job is not None:
            job._fail(JobMovedError(prompt_id))
            log.info("Job %s left ComfyUI server %s for another", short_id(prompt_id), self.name)
        return self._tasks.spawn(self.finisher.take_back(prompt_id), name=f"comfy-take-back-{short_id(prompt_id)}")

    async def cancel(self, prompt_id: str) -> bool:
        """Stop one of our jobs: delete it if pending, interrupt it if running. False if it is neither.

        A deleted job fails with JobCancelledError; an interrupted one with JobInterruptedError.

        Raises:
            ComfyConnectionError: ComfyUI is unreachable.
        """
        job = self._jobs.get(prompt_id)
        if job is not None:
            job.cancelling = True
        try:
            await self.client.delete_pending([prompt_id])
            state = await self.refresh_queue()
            if state.is_running(prompt_id):  # it started before the delete landed
                await self.client.interrupt(prompt_id)
                return True
            if job is None or job.done or job.finishing:
                return False
            if await self.client.history(prompt_id) is not None:  # it finished meanwhile: deliver it
                return False
            job._fail(JobCancelledError(prompt_id))
            self._jobs.pop(prompt_id, None)
            log.info("Job %s cancelled", short_id(prompt_id))
            return True
        finally:
            if job is not None:
                job.cancelling = False

    async def interrupt(self, prompt_id: str | None = None) -> str | None:
        """Interrupt the running prompt (only if it is `prompt_id`, when given); return what was stopped.

        Checked against /queue first, so that even a server older than 0.3.56 (which ignores the
        prompt_id) never has someone else's job stopped by a scoped interrupt.
        """
        state = await self.refresh_queue()
        running = [e.prompt_id for e in state.running]
        target = prompt_id if prompt_id in running else (None if prompt_id else next(iter(running), None))
        if target is None:
            return None
        await self.client.interrupt(target)
        log.info("Interrupted %s", short_id(target))
        return target

    async def queue(self) -> QueueState:
        return await self.refresh_queue()

    async def upload_image(self, data: bytes, filename: str) -> UploadedImage:
        return await self.client.upload_image(data, filename)

    async def system_stats(self) -> SystemStats:
        return await self.client.system_stats()

    async def object_info(self) -> ObjectInfo:
        return ObjectInfo(await self.client.object_info())

    async def _read_capabilities(self) -> None:
        """What the server can run (node classes, model files), for routing: it may have changed while away."""
        try:
            self.capabilities = await self.object_info()
        except ComfyError as exc:
            log.warning("Could not read the node list of ComfyUI server %s: %s", self.name, exc.for_log)

    # ---- queue positions -------------------------------------------------------------------

    async def refresh_queue(self) -> QueueState:
        """Read /queue once and update every pending job's position from it."""
        state = await self.client.queue()
        self.last_queue = state
        total = len(state.pending)
        for index, entry in enumerate(state.pending, start=1):
            job = self._jobs.get(entry.prompt_id)
            if job is not None:
                job._queued(index, total)
        for entry in state.running:
            job = self._jobs.get(entry.prompt_id)
            if job is not None:
                job._started()
        return state

    def _schedule_queue_refresh(self) -> None:
        """At most one GET /queue per burst of `status` messages, shared by all jobs."""
        if self._queue_refresh is not None and not self._queue_refresh.done():
            self._queue_dirty = True
            return
        if not any(job.status is PromptStatus.QUEUED for job in self._jobs.values()):
            return
        self._queue_refresh = self._tasks.spawn(self._refresh_positions(), name="comfy-queue-refresh")

    async def _refresh_positions(self) -> None:
        while True:
            await asyncio.sleep(self.settings.queue_refresh_delay)
            self._queue_dirty = False  # the read below covers every change announced so far, the debounce's too
            try:
                state = await self.refresh_queue()
            except ComfyError as exc:
                log.warning("Could not refresh queue positions: %s", exc.for_log)
                return
            missing = [
                job
                for job in self._jobs.values()
                if job.status is PromptStatus.QUEUED and not job.finishing and not state.knows(job.prompt_id)
            ]
            if missing:
                await self._reconcile(missing, state)
            if not self._queue_dirty:
                return

    # ---- tracker callbacks ---------------------------------------------------------------------

    def on_connected(self, reconnect: bool) -> None:
        self._tasks.spawn(self._read_capabilities(), name="comfy-object-info")
        if reconnect and self._jobs:
            log.info("Reconnected: reconciling %d job(s) with /queue and /history", len(self._jobs))
            self._tasks.spawn(self._reconcile(list(self._jobs.values())), name="comfy-reconcile")

    def on_queue_changed(self, queue_remaining: int | None) -> None:
        self._schedule_queue_refresh()

    def on_outputs(self, job: ComfyJob, node_id: str, output: Mapping[str, Any]) -> None:
        """An output node named its files: fetch the ones the result will carry now, before the prompt ends."""
        files = parse_outputs({node_id: output})
        job.announced.extend(files)
        if job.download and not job.done:
            wanted = [f for f in select_deliverables(files, job.output_nodes) if not f.is_temp]  # previews: at the end
            fetcher = self.finisher.fetcher(job)
            fetcher.start(wanted[: max(0, self.settings.max_outputs - fetcher.started)])

    def on_prompt_success(self, job: ComfyJob, timestamp: float | None) -> None:
        """The prompt succeeded and its output nodes named their files: the result needs no /history read."""
        if job.done or job.finishing or not job.announced:
            return  # nothing named (or already being completed): `executing null` then reads /history
        run_time = seconds_between(job.start_timestamp, timestamp)
        outcome = HistoryOutcome(tuple(job.announced), None, run_time, job.cached_nodes)
        job.finishing = True
        self._tasks.spawn(self.finisher.complete(job, outcome=outcome), name=f"comfy-done-{short_id(job.prompt_id)}")

    def on_prompt_done(self, job: ComfyJob) -> None:
        if not job.done and not job.finishing:
            job.finishing = True
            self._tasks.spawn(
                self.finisher.complete(job, lost_if_absent=False), name=f"comfy-done-{short_id(job.prompt_id)}"
            )
        elif job.done:
            self._jobs.pop(job.prompt_id, None)

    # ---- completion and reconciliation ----------------------------------------------------------

    async def _reconcile(self, jobs: list[ComfyJob], state: QueueState | None = None) -> QueueState | None:
        """Look silent or doubtful jobs up: queued/running → keep waiting; finished → deliver; gone → lost."""
        if state is None:
            try:
                state = await self.refresh_queue()
            except ComfyError as exc:
                log.warning("Reconciliation postponed, ComfyUI unreachable: %s", exc.for_log)
                self.finisher.give_up([j for j in jobs if not j.done and not j.finishing], exc)
                return None
        for job in jobs:
            if job.done or job.finishing or job.cancelling or job.status is PromptStatus.SUBMITTING:
                continue
            if state.knows(job.prompt_id) or job.accepted_at > state.requested_at:
                job.last_activity = time.monotonic()  # waiting, or too new for this snapshot to tell
                job.unreachable_since = None
                continue
            job.finishing = True
            self._tasks.spawn(
                self.finisher.complete(job, lost_if_absent=True),
                name=f"comfy-reconcile-{short_id(job.prompt_id)}",
            )
        return state

    async def _watchdog(self) -> None:
        """Every few seconds, reconcile jobs that have been silent longer than the watchdog interval."""
        interval = self.settings.watchdog_interval
        while True:
            await asyncio.sleep(max(0.05, interval / 3))
            try:
                await self._watch_once(interval)
            except Exception:  # a surprise in one round must not end the watchdog for the process's life
                log.exception("Watchdog round failed; the next one goes on")

    async def _watch_once(self, interval: float) -> None:
        now = time.monotonic()
        for prompt_id in [p for p, j in self._jobs.items() if j.done and not j.finishing]:
            del self._jobs[prompt_id]
        silent = [j for j in self._jobs.values() if j.in_flight and now - j.last_activity > interval]
        if not silent:
            return
        log.debug("Watchdog: %d silent job(s)", len(silent))
        state = await self._reconcile(silent)
        tracker = self._tracker
        if tracker is None or state is None or now - tracker.last_message_at <= interval:
            return
        if tracker.queue_remaining != len(state.running) + len(state.pending):
            # The queue changed but its `status` broadcast (sent to every socket) never reached us: our
            # registration is lost (a stale socket with our clientId closed after we reconnected). A long
            # node that sends nothing leaves the queue as it was, so it causes no reconnect.
            log.warning("WebSocket missed a queue change; reconnecting")
            await tracker.reconnect()
