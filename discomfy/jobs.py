"""JobManager: building, submitting, persisting every transition of, and resuming the jobs of every user."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from discomfy.comfy import (
    ComfyConnectionError,
    ComfyError,
    ComfyPool,
    ComfyService,
    Failed,
    Finished,
    JobCancelledError,
    JobLostError,
    JobMovedError,
    PoolServer,
    Started,
)
from discomfy.comfy.cache import cache_note
from discomfy.config import LimitSettings, SchedulerSettings
from discomfy.ids import short_id
from discomfy.inputs import Inputs, graph_for, upload
from discomfy.job import Job, JobCell, JobRequest, jsonable, new_record
from discomfy.outcomes import failure_kind, left_out_note, unknown_server
from discomfy.quota import Quota, Reservation
from discomfy.scheduler import Scheduler
from discomfy.scheduler.errors import NoServerCanRunError
from discomfy.store import UNFINISHED, JobRecord, JobStatus, JobStore
from discomfy.store.errors import StoreError
from discomfy.store.writer import JobWriter
from discomfy.sweep.axes import Grid
from discomfy.tasks import BackgroundTasks
from discomfy.workflows import WorkflowLibrary, WorkflowSpec, build_workflow

log = logging.getLogger(__name__)

SAVE_ON_CLOSE = 5.0  # seconds a stop waits for changes kept in memory to reach the store


class JobManager:
    """The one place jobs are created, limited, persisted and resumed; shared by every cog."""

    def __init__(
        self,
        pool: ComfyPool,
        workflows: WorkflowLibrary,
        store: JobStore,
        limits: LimitSettings,
        scheduling: SchedulerSettings | None = None,
    ) -> None:
        self.pool = pool
        self.scheduler = Scheduler(
            pool, scheduling or SchedulerSettings(), self._dispatch_quietly, self._unrunnable, store
        )
        self.workflows = workflows
        self.store = store
        self.writer = JobWriter(store)  # what followed jobs write: a failing disk cannot strand them
        self.limits = limits
        self._live: dict[str, Job] = {}
        self.quota = Quota(limits, lambda: (j.record for j in self._live.values() if j.record.status.is_pending))
        self._tasks = BackgroundTasks()

    # ---- creating jobs ---------------------------------------------------------------------------

    def reserve(self, owner_id: int, count: int = 1, *, exempt: bool = False) -> Reservation:
        """Check the limits and hold `count` slots for `owner_id` at once (admins: only the global limit).

        Raises:
            LimitError: nothing was reserved.
        """
        return self.quota.reserve(owner_id, count, exempt=exempt)

    async def submit(self, request: JobRequest, *, exempt: bool = False, reservation: Reservation | None = None) -> Job:
        """Build the workflow with a fresh seed, persist it, and queue it on ComfyUI, within the limits.

        Raises:
            LimitError, WorkflowError: nothing was submitted.
            ComfyError: ComfyUI refused or was unreachable; the job is stored as failed.
        """
        with reservation or self.reserve(request.owner_id, exempt=exempt) as held:
            (job,) = await self._submit_many(request, [JobCell(request.seed)], batch_id=None, reservation=held)
        return job

    async def submit_batch(
        self,
        request: JobRequest,
        seeds: Iterable[int | None],
        *,
        exempt: bool = False,
        reservation: Reservation | None = None,
    ) -> list[Job]:
        """Several jobs of one request (a seed sweep), sharing a batch id; counted as one request."""
        cells = [JobCell(seed) for seed in seeds]
        with reservation or self.reserve(request.owner_id, len(cells), exempt=exempt) as held:
            return await self._submit_many(request, cells, batch_id=uuid.uuid4().hex, reservation=held)

    async def submit_sweep(self, request: JobRequest, grid: Grid, *, reservation: Reservation) -> list[Job]:
        """The cells of an X/Y grid as one batch (row by row), its axes stored first so a restart can draw it.

        Raises:
            WorkflowError: a cell's values do not fit the workflow; nothing was submitted.
            StoreError, ComfyError: as for `submit_batch`.
        """
        cells = [JobCell(seed, values) for values, seed in grid.cells()]
        spec = self.workflows.get(request.workflow)
        for cell in cells:  # every cell checked before anything is stored
            build_workflow(spec, {**request.values, **cell.values}, seed=cell.seed)
        batch_id = uuid.uuid4().hex
        await self.store.add_sweep(grid.record(batch_id))
        jobs = await self._submit_many(request, cells, batch_id=batch_id, reservation=reservation)
        for job in jobs:
            job.sweep = grid
        return jobs

    async def _submit_many(
        self, request: JobRequest, cells: list[JobCell], *, batch_id: str | None, reservation: Reservation
    ) -> list[Job]:
        spec = self.workflows.get(request.workflow)
        values = dict(request.values)
        builds = [build_workflow(spec, {**values, **c.values}, seed=c.seed) for c in cells]  # validate all first
        self.scheduler.check_runnable(spec.title, builds[0].graph)
        inputs, server = None, None
        if request.images:  # uploaded at once, so a refusal reaches the user; other servers get them on demand
            inputs = Inputs(request.images)
            server = self.scheduler.server_for_uploads(builds[0].graph)
            values.update(await upload(inputs, server))
            builds = [
                build_workflow(spec, {**values, **c.values}, seed=b.seed) for c, b in zip(cells, builds, strict=True)
            ]
        jobs: list[Job] = []
        failure: ComfyError | None = None
        for index, built in enumerate(builds):
            record = new_record(
                request.owner_id,
                channel_id=request.channel_id,
                guild_id=request.guild_id,
                message_id=request.message_id,
                workflow=spec.name,
                params=jsonable(built.values),
                seed=built.seed or 0,
                graph=built.graph,
                batch_id=batch_id,
                batch_index=index if batch_id else None,
                spoiler=request.spoiler,
                server=server.name if server else request.server,
                priority=request.priority,
            )
            if failure is not None:  # ComfyUI refused or is unreachable: the rest of the batch fails alike
                reservation.claim(record)
                jobs.append(await self._failed(record, spec, failure))
                continue
            job = self._job(record, spec)
            job.inputs = inputs
            try:
                await self.store.add(record)
                await self._queue(job, reservation)
            except Exception as exc:
                if not jobs:
                    raise  # nothing started: the caller tells the user why
                # Some seeds run already: they must still be shown and delivered, the rest with the reason.
                failure = exc if isinstance(exc, ComfyError) else ComfyError("DisComfy could not submit this seed.")
                if failure is not exc:
                    log.exception("Seed %d of batch %s could not be submitted", index + 1, short_id(batch_id))
                reservation.claim(record)
                if not job.settled.is_set():  # the store refused the record itself: settle it in memory
                    await self._settle_failed(job, failure)
            jobs.append(job)
        return jobs

    async def _failed(self, record: JobRecord, spec: WorkflowSpec | None, error: ComfyError) -> Job:
        """A seed of a batch that never reached ComfyUI, settled as failed (in memory if the store will not)."""
        job = self._job(record, spec)
        with contextlib.suppress(StoreError):  # not even written: the message still shows it failed
            await self.store.add(record)
        await self._settle_failed(job, error)
        return job

    async def _queue(self, job: Job, reservation: Reservation) -> Job:
        """Put a stored WAITING job in the bot's queue; if its turn is now, submit it here and now.

        Raises:
            ComfyError: its own submission failed (the job is settled as failed first).
        """
        self._live[job.job_id] = job
        reservation.claim(job.record)  # the job counts itself from here on
        self.scheduler.add(job)
        for picked, server in self.scheduler.select(inline=True):
            if picked is job:
                await self._dispatch(job, server, inline=True)
            else:
                self._tasks.spawn(self._dispatch_quietly(picked, server), name=f"dispatch-{short_id(picked.job_id)}")
        return job

    async def _dispatch(self, job: Job, server: PoolServer, *, inline: bool = False) -> None:
        """Submit a job whose turn came to `server`; on any failure it is settled as failed before the error goes on,
        except that a job nobody waits for (not `inline`) goes to the next server when this one cannot be reached.

        Raises:
            ComfyError: the server refused the job or could not be reached.
        """
        changes: dict[str, Any] = {"server": server.name}
        if job.record.status is not JobStatus.WAITING:  # sent before: the old prompt id is being taken back there
            changes["prompt_id"] = str(uuid.uuid4())
        try:
            changes["graph"] = await graph_for(job.record, job.spec, job.inputs, server)
            await self.writer.transition(job, JobStatus.CREATED, **changes)
            if job.cancel_requested:  # cancelled on its way out of the bot's queue: ComfyUI never hears of it
                await self._settle_failed(job, JobCancelledError(job.record.prompt_id or job.job_id))
                return
            graph, prompt_id = changes["graph"], job.record.prompt_id
            job.handle = await server.service.submit(graph, prompt_id=prompt_id, output_nodes=job.output_nodes)
        except ComfyConnectionError as exc:
            if inline:
                await self._settle_failed(job, exc)
                raise
            log.warning("%s could not reach ComfyUI server %s (%s); it goes to the next", job.tag, server.name, exc)
            self.scheduler.requeue(job)
            return
        except ComfyError as exc:
            await self._settle_failed(job, exc)
            raise
        except Exception:  # a bug or a surprise must not leave the job CREATED, holding the user's slot forever
            log.exception("%s could not be submitted", job.tag)
            await self._settle_failed(job, ComfyError("DisComfy could not submit this job to ComfyUI."))
            raise
        await self.writer.transition(job, JobStatus.QUEUED)
        log.info("%s queued on %s: %s for user %s", job.tag, server.name, job.record.workflow, job.record.owner_id)
        job.notify()
        self._watch(job)
        if job.cancel_requested and job.record.prompt_id:  # cancelled while its submission was on its way
            await server.service.cancel(job.record.prompt_id)

    async def _dispatch_quietly(self, job: Job, server: PoolServer) -> None:
        """A dispatch nobody waits for: its failure is already on the job (and its message)."""
        with contextlib.suppress(Exception):
            await self._dispatch(job, server)

    # ---- following jobs --------------------------------------------------------------------------

    def _watch(self, job: Job) -> None:
        self._tasks.spawn(self._follow(job), name=f"job-{short_id(job.job_id)}")

    async def _follow(self, job: Job) -> None:
        """Persist each transition ComfyUI reports, ending with DELIVERING or a failure."""
        assert job.handle is not None
        async for event in job.handle.events():
            if isinstance(event, Started) and job.record.status is JobStatus.QUEUED:
                await self.writer.transition(job, JobStatus.RUNNING)
                log.info("%s running", job.tag)
            elif isinstance(event, Finished):
                self.scheduler.release(job)
                job.result = event.result
                files = tuple(str(f.path) for f in event.result.files)
                notes = left_out_note(event.result.left_out, self.pool.settings.max_outputs)
                cache = cache_note(event.result, job.record.graph)
                notes += (cache,) if cache else ()
                await self.writer.transition(job, JobStatus.DELIVERING, output_files=files, notes=notes)
                log.info("%s finished in ComfyUI with %d file(s); delivering", job.tag, len(files))
                job.settled.set()
            elif isinstance(event, Failed) and isinstance(event.error, JobMovedError):
                return  # taken back from a server that was away: the scheduler sends it on, followed anew
            elif isinstance(event, Failed):
                await self._settle_failed(job, event.error)

    async def _unrunnable(self, job: Job, error: NoServerCanRunError) -> None:
        # no server can run it any more: says what is missing (and /stats does not call it unreachable)
        await self._settle_failed(job, ComfyError(str(error)), kind="unrunnable")

    async def _settle_failed(self, job: Job, error: ComfyError, *, kind: str | None = None) -> None:
        self.scheduler.release(job)
        status, found = failure_kind(error)
        kind = kind or found
        reason = str(error)
        if isinstance(error, JobLostError) and job.record.status in (JobStatus.CREATED, JobStatus.WAITING):
            reason = "The bot stopped before ComfyUI received this job, so nothing ran. Retry starts it."
        await self.writer.transition(
            job, status, expect=UNFINISHED, error=reason, error_kind=kind, finished_at=time.time()
        )
        log.info("%s %s: %s", job.tag, status, error.for_log)
        self._live.pop(job.job_id, None)
        job.settled.set()

    async def delivered(self, job: Job, *, message_id: int | None, extra_message_ids: Iterable[int] = ()) -> bool:
        """Record that the result reached Discord; False if it had been recorded already (no double post)."""
        stored = await self.writer.transition(
            job,
            JobStatus.DONE,
            expect={JobStatus.DELIVERING},
            message_id=message_id if message_id is not None else job.record.message_id,
            extra_message_ids=tuple(extra_message_ids),
        )
        self._live.pop(job.job_id, None)
        if not stored:
            return False
        log.info("%s delivered", job.tag)
        return True

    async def undeliverable(self, job: Job, reason: str) -> None:
        """The result exists but could not be posted (e.g. too large even after re-encoding)."""
        await self.writer.transition(job, JobStatus.FAILED, expect=UNFINISHED, error=reason, error_kind="upload")
        self._live.pop(job.job_id, None)

    async def attach_message(self, job: Job, message_id: int) -> None:
        """Remember which Discord message shows this job, so a restart can resume it there."""
        await self.writer.update(job, message_id=message_id)

    async def attach_extra_messages(self, job: Job, message_ids: Iterable[int]) -> None:
        """Remember the extra messages a delivery posted, at once, so a second attempt edits them."""
        await self.writer.update(job, extra_message_ids=tuple(message_ids))

    async def batch_of(self, record: JobRecord) -> list[Job]:
        """Every job of the record's batch (the record alone outside one), live where followed, else as stored."""
        records = (await self.store.batch(record.batch_id) or [record]) if record.batch_id else [record]
        sweep = await self.store.sweep(record.batch_id) if record.batch_id else None
        jobs = []
        for member in records:
            job = self._live.get(member.job_id)
            if job is None:
                job = self._job(member, self.workflows.find(member.workflow))
                job.settled.set()
            job.sweep = Grid.of(sweep) if sweep is not None else None
            jobs.append(job)
        return jobs

    # ---- controlling jobs --------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        return self._live.get(job_id)

    def active(self) -> list[Job]:
        """Jobs not yet finished, oldest first."""
        return sorted(self._live.values(), key=lambda j: j.record.created_at)

    async def cancel(self, job: Job) -> bool:
        """Take a job out of the bot's queue (ComfyUI never hears of it), delete it from ComfyUI's queue, or
        interrupt it if it already runs."""
        if self.scheduler.discard(job):
            await self._settle_failed(job, JobCancelledError(job.record.prompt_id or job.job_id))
            return True
        if job.handle is None and job.record.status.is_pending:  # on its way to a server: stopped there
            job.cancel_requested = True
            return True
        if job.record.prompt_id is None or job.finished:
            return False
        return await self._service(job.record).cancel(job.record.prompt_id)

    async def resume_unfinished(self) -> list[Job]:
        """After a restart: follow every job the store says is unfinished, however it ended meanwhile."""
        await self.scheduler.load_drained()
        jobs, waiting = [], []
        for record in await self.store.unfinished():
            spec = self.workflows.find(record.workflow)
            job = self._job(record, spec)
            self._live[record.job_id] = job
            if record.status is JobStatus.DELIVERING and await asyncio.to_thread(_all_exist, record.output_files):
                job.settled.set()
            elif record.status is JobStatus.WAITING:
                waiting.append(job)
            elif record.prompt_id is not None and self.scheduler.taken_back(record.prompt_id):
                self.scheduler.requeue(job)  # moved off an absent server before the restart, not yet sent on
            elif (server := self.pool.get(record.server)) is None:
                await self._settle_failed(job, unknown_server(record))
            elif record.prompt_id is not None:
                if record.status is JobStatus.DELIVERING:
                    job.record = await self.store.update(record.job_id, status=JobStatus.RUNNING)
                job.handle = server.service.track(record.prompt_id, record.graph or {}, output_nodes=job.output_nodes)
                self.scheduler.adopt(job, server)
                self._watch(job)
            else:
                await self._settle_failed(job, JobLostError(record.job_id))
            jobs.append(job)
        self.scheduler.restore(waiting, sent=[job.record for job in jobs if job not in waiting])
        if jobs:
            log.info("Resumed %d unfinished job(s)", len(jobs))
        return jobs

    async def retry(
        self,
        record: JobRecord,
        owner_id: int,
        *,
        exempt: bool = False,
        message_id: int | None = None,
        reservation: Reservation | None = None,
        spoiler: bool = False,
        priority: bool = False,
    ) -> Job:
        """Submit a stored job's exact graph again (after it was lost or failed)."""
        with reservation or self.reserve(owner_id, exempt=exempt) as held:
            return await self._retry(record, owner_id, message_id, held, spoiler=spoiler, priority=priority)

    async def _retry(
        self,
        record: JobRecord,
        owner_id: int,
        message_id: int | None,
        held: Reservation,
        *,
        spoiler: bool,
        priority: bool,
    ) -> Job:
        spec = self.workflows.find(record.workflow)
        self.scheduler.check_runnable(spec.title if spec else record.workflow, record.graph or {})
        new = new_record(
            owner_id,
            channel_id=record.channel_id,
            guild_id=record.guild_id,
            workflow=record.workflow,
            params=record.params,
            seed=record.seed,
            graph=record.graph,
            message_id=message_id,
            spoiler=spoiler,
            server=record.server if spec and spec.takes_images else None,  # its images are there
            priority=priority,
        )
        await self.store.add(new)
        return await self._queue(self._job(new, spec), held)

    def _job(self, record: JobRecord, spec: WorkflowSpec | None) -> Job:
        job = Job(record, spec, None)
        job.show_server = self.pool.multiple
        return job

    def _service(self, record: JobRecord) -> ComfyService:
        """The service of the server the job was sent to (the first one for jobs stored before several)."""
        server = self.pool.get(record.server)
        if server is None:
            raise unknown_server(record)
        return server.service

    async def close(self) -> None:
        """Stop following jobs (they go on in ComfyUI and are resumed on the next start)."""
        await self.scheduler.close()
        await self._tasks.close()
        with contextlib.suppress(TimeoutError):  # a store that just came back gets a moment to take the rest
            async with asyncio.timeout(SAVE_ON_CLOSE):
                await self.writer.wait_saved()
        if self.writer.unsaved:
            log.error("%d job change(s) could not be saved; the next start resumes from the store", self.writer.unsaved)
        await self.writer.close()


def _all_exist(paths: Iterable[str]) -> bool:
    return all(Path(p).exists() for p in paths)
