"""Live job messages, and the one way jobs start: every job is shown in one Discord message from queued to delivered.

`Presenter.start_jobs` admits new work for every command and button alike (channel permissions, the channel's
rules and the server's blocklist, limits with the admin exemption, the deferral whose message id is stored
before ComfyUI sees the job, submit, show). Each
message then gets a display task that wakes on the jobs' events, coalesces them to at most one edit per
`uploads.edit_interval` (always ending on the latest state, with only the newest live preview and only when it
changed), and hands the settled jobs to `delivery.deliver`. After a restart, `resume` picks every unfinished
job up again in its original message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from discomfy.bot.delivery import Delivery, deliver
from discomfy.bot.embeds import PREVIEW_NAME, batch_embed, job_embed, rejected_embed
from discomfy.bot.limits import DEFAULT_FILESIZE_LIMIT
from discomfy.bot.messages import (
    EDIT_TRIES,
    TRANSIENT_ERRORS,
    LiveMessage,
    MessageContent,
    Upload,
    as_spoilers,
    with_retries,
)
from discomfy.bot.permissions import Admins, require_channel_permissions
from discomfy.comfy import WorkflowRejectedError
from discomfy.ids import short_id
from discomfy.job import InputImage, Job, JobRequest
from discomfy.quota import Reservation
from discomfy.retry import Backoff, retry
from discomfy.store import JobStatus
from discomfy.workflows.errors import InvalidParameterError

if TYPE_CHECKING:
    from discomfy.bot.places import Places
    from discomfy.comfy import Preview
    from discomfy.policy import ContentPolicy
    from discomfy.store import JobRecord
    from discomfy.sweep.axes import Grid
    from discomfy.tasks import BackgroundTasks
    from discomfy.workflows import WorkflowLibrary

log = logging.getLogger(__name__)

REDELIVERY_BACKOFF = Backoff(first=5.0, cap=300.0)  # when Discord keeps failing a finished job's upload
HEARTBEAT_INTERVALS = 10  # with nothing happening, refresh the elapsed time every this many edit intervals


@dataclass(frozen=True, slots=True)
class Admission:
    """What a command or button asks to start; `Presenter.start_jobs` owns the rest.

    `request.owner_id` and `message_id` are filled in by `start_jobs` (the clicker, the deferral).
    """

    request: JobRequest
    seeds: tuple[int | None, ...] | None = None  # None: one job with request.seed; else a batch, one per seed
    fetch_images: Callable[[], Awaitable[Mapping[str, InputImage]]] | None = None  # after deferring: may be slow
    retry_of: JobRecord | None = None  # submit this stored job's exact graph again instead of building one
    sweep: Grid | None = None  # an X/Y grid: one job per cell, over request.values, shown as one batch

    @property
    def count(self) -> int:
        """How many jobs this starts, for the limits."""
        if self.sweep is not None:
            return self.sweep.size
        return 1 if self.seeds is None else len(self.seeds)


def _check_seeds_differ(workflows: WorkflowLibrary, workflow: str, admission: Admission) -> None:
    """A batch (a seed sweep, variations) of a workflow without a seed input would be one image many times.

    Raises:
        InvalidParameterError: refused before anything is reserved or deferred.
    """
    if admission.seeds is None or len(admission.seeds) < 2:
        return
    spec = workflows.get(workflow)
    if not spec.seed_inputs:
        message = f"{spec.title} has no seed input: every image of a batch would be the same. Ask for one."
        raise InvalidParameterError(message, parameter="count")


class _Display:
    """Follows the jobs of one message and keeps it current with at most one edit per interval."""

    def __init__(self, presenter: Presenter, jobs: Sequence[Job], message: LiveMessage, *, limit: int | None) -> None:
        self.presenter = presenter
        self.jobs = list(jobs)
        self.message = message
        self.limit = limit  # None: the guild's, looked up when delivering (the guild cache fills after a restart)
        self.interval = presenter.edit_interval
        self._changed = asyncio.Event()
        self._all_settled = asyncio.Event()
        self._next_edit = 0.0
        self._shown: tuple[Any, ...] | None = None
        self._sent_preview: Preview | None = None
        message.on_moved = self._moved

    @property
    def key(self) -> str:
        first = self.jobs[0].record
        return first.batch_id or first.job_id

    def settled(self) -> bool:
        return all(job.settled.is_set() for job in self.jobs)

    async def show_first(self) -> None:
        """The current state at once, and the message id into the store for a restart to find."""
        await self._refresh(force=True)
        if self.message.message_id is not None:
            await self._moved(self.message.message_id)
        else:
            log.warning(
                "The first state of %s could not be shown; trying again with the next change", short_id(self.key)
            )

    async def run(self) -> None:
        watchers = [asyncio.create_task(self._watch(job), name=f"watch-{short_id(job.job_id)}") for job in self.jobs]
        try:
            while not self.settled():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval * HEARTBEAT_INTERVALS):
                        await self._changed.wait()
                self._changed.clear()
                await self._pace()
                if not self.settled():
                    await self._refresh()
            limit = self.limit or self.presenter.filesize_limit(self.jobs[0].record.guild_id)
            if await asyncio.to_thread(_needs_shrinking, self.jobs, limit):  # re-encoding takes seconds: say so
                await self._pace(until_settled=False)
                await self._refresh()  # "Uploading results…"
            await self._deliver(limit)  # at once: the pacing is for progress, Discord's own limits guard the rest
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _deliver(self, limit: int) -> None:
        """Deliver, and while Discord is in trouble try again later: the job stays DELIVERING until it works."""
        await retry(
            lambda: deliver(self.presenter.delivery, self.message, self.jobs, limit=limit),
            retry_on=(discord.HTTPException, *TRANSIENT_ERRORS),
            tries=None,
            backoff=REDELIVERY_BACKOFF,
            what=f"Delivery into message {self.message.message_id}",
            logger=log,
        )

    async def _watch(self, job: Job) -> None:
        """Wake the display on every event of the job (its place in the bot's queue, then ComfyUI's events on
        whichever server it was sent to), and once more when its outcome is stored."""
        followed = None
        while not job.settled.is_set():
            if job.handle is not None and job.handle is not followed:
                followed = job.handle
                async for _event in followed.events():
                    self._changed.set()
            else:
                await job.next_change()
            self._changed.set()
        if self.settled():
            self._all_settled.set()
        self._changed.set()

    async def _pace(self, *, until_settled: bool = True) -> None:
        """Sleep until the next progress edit is allowed, merging whatever happens meanwhile into it.

        Cut short when the last job settles (`until_settled`): that progress edit is dropped, the result goes out.
        """
        delay = self._next_edit - time.monotonic()
        if delay <= 0:
            return
        if not until_settled:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._all_settled.wait()

    async def _refresh(self, *, force: bool = False) -> None:
        content, preview = self._render()
        shown = (content.embed.to_dict(), id(preview), preview is None)
        if shown == self._shown and not force:
            return
        try:
            await with_retries(lambda: self.message.show(content), tries=EDIT_TRIES, what="Updating a job message")
        except (discord.HTTPException, *TRANSIENT_ERRORS) as exc:
            log.warning("Could not update message %s: %s", self.message.message_id, exc)
        else:
            self._shown, self._sent_preview = shown, preview
        self._next_edit = time.monotonic() + self.interval

    def _render(self) -> tuple[MessageContent, Preview | None]:
        snaps = [job.snapshot() for job in self.jobs]
        running = [job for job, snap in zip(self.jobs, snaps, strict=True) if snap.status is JobStatus.RUNNING]
        preview = running[0].handle.latest_preview if running and running[0].handle else None
        spoiler = self.jobs[0].record.spoiler  # a spoilered preview is an attachment only: an embed would unblur it
        in_embed = preview is not None and not spoiler
        if len(snaps) == 1:
            embed = job_embed(snaps[0], preview=in_embed)
        else:
            shown = [replace(s, status=JobStatus.DONE) if s.status is JobStatus.DELIVERING else s for s in snaps]
            embed = batch_embed(shown, image_name=PREVIEW_NAME if in_embed else None, grid=self.jobs[0].sweep)
        pending = any(s.status.is_pending for s in snaps)
        view = self.presenter.delivery.controls.queued(self.jobs[0].job_id) if pending else None
        uploads = [Upload(PREVIEW_NAME, data=preview.image, size=len(preview.image))] if preview else []
        if spoiler:
            uploads = as_spoilers(uploads)
        changed = preview is not self._sent_preview or self._shown is None
        return MessageContent(embed, view, tuple(uploads), upload=changed), preview

    async def _moved(self, message_id: int) -> None:
        for job in self.jobs:
            await self.presenter.jobs.attach_message(job, message_id)


class Presenter:
    """Shows jobs in Discord from the first state to the delivered result, and resumes them after a restart.

    It also admits new jobs (`start_jobs`): the one path every command and button that starts work goes through.
    """

    def __init__(
        self,
        client: discord.Client,
        delivery: Delivery,
        *,
        admins: Admins,
        policy: ContentPolicy,
        places: Places,
        tasks: BackgroundTasks,
        edit_interval: float,
    ) -> None:
        self.client = client
        self.delivery = delivery
        self.jobs = delivery.jobs
        self.admins = admins
        self.policy = policy
        self.places = places
        self.tasks = tasks
        self.edit_interval = edit_interval
        self._active: dict[str, asyncio.Task[None]] = {}

    async def start_jobs(self, interaction: discord.Interaction[Any], admission: Admission) -> None:
        """Refuse privately, or defer, submit and show: the rules are the channel's, the limits the clicker's
        (admins are exempt from the limits, not from the rules).

        Raises:
            MissingChannelPermissionsError, PolicyError, LimitError, WorkflowError, ComfyError: nothing was started.
        """
        require_channel_permissions(interaction)
        request = replace(admission.request, owner_id=interaction.user.id)
        _check_seeds_differ(self.jobs.workflows, request.workflow, admission)
        rules = await self.policy.check_request(await self.places.of(interaction), request, admission.count)
        spoiler = await self.policy.spoiler(rules, interaction.user.id)
        exempt = interaction.user in self.admins
        with self.jobs.reserve(interaction.user.id, admission.count, exempt=exempt) as reservation:
            deferral = await interaction.response.defer(thinking=True)
            message_id = deferral.message_id if deferral else None  # stored first: a crash resumes in it
            request = replace(request, message_id=message_id, spoiler=spoiler, priority=exempt)
            if admission.fetch_images is not None:
                request = replace(request, images=await admission.fetch_images())
            try:
                jobs = await self._submit(admission, request, reservation)
            except WorkflowRejectedError as exc:
                spec = self.jobs.workflows.find(request.workflow)
                log.info("Workflow %s of %s rejected by ComfyUI: %s", request.workflow, interaction.user.id, exc)
                title = spec.title if spec else request.workflow
                await interaction.edit_original_response(embed=rejected_embed(exc, workflow=title))
                return
        await self.present(interaction, jobs)

    async def _submit(self, admission: Admission, request: JobRequest, reservation: Reservation) -> list[Job]:
        if admission.retry_of is not None:
            return [
                await self.jobs.retry(
                    admission.retry_of,
                    request.owner_id,
                    message_id=request.message_id,
                    reservation=reservation,
                    spoiler=request.spoiler,
                    priority=request.priority,
                )
            ]
        if admission.sweep is not None:
            return await self.jobs.submit_sweep(request, admission.sweep, reservation=reservation)
        if admission.seeds is None:
            return [await self.jobs.submit(request, reservation=reservation)]
        return await self.jobs.submit_batch(request, admission.seeds, reservation=reservation)

    async def present(self, interaction: discord.Interaction[Any], jobs: Sequence[Job]) -> None:
        """Show jobs (one, or a batch as one message) in the deferred interaction's response, then follow them.

        Returns once the first state is shown and its message id stored; the rest runs in the background.
        Should Discord refuse even that, the display keeps trying with every change and delivers in the end.
        """
        if not jobs:
            return
        channel_id = interaction.channel_id or jobs[0].record.channel_id
        message = LiveMessage(
            self.client, channel_id=channel_id, message_id=jobs[0].record.message_id, interaction=interaction
        )
        display = _Display(self, jobs, message, limit=interaction.filesize_limit)
        await display.show_first()
        self._start(display)

    def resume(self, jobs: Sequence[Job]) -> None:
        """After a restart: follow every unfinished job again in its original message (grouped by batch)."""
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.record.batch_id or job.job_id, []).append(job)
        for key, group in groups.items():
            self._follow(key, self._resume(group), name=f"resume-{short_id(key)}")

    async def _resume(self, group: list[Job]) -> None:
        first = group[0].record
        jobs = await self.jobs.batch_of(first)  # every seed of a batch, the finished ones too: its message shows all
        message_id = next((j.record.message_id for j in jobs if j.record.message_id is not None), None)
        message = LiveMessage(self.client, channel_id=first.channel_id, message_id=message_id)
        display = _Display(self, jobs, message, limit=None)
        log.info("Resuming %d job(s) in message %s", len(jobs), message_id)
        if not display.settled():
            await display.show_first()  # the message still shows the state from before the restart
        await display.run()

    def filesize_limit(self, guild_id: int | None) -> int:
        """The upload limit of a guild (its boost tier) if the bot has it cached, else Discord's default."""
        guild = self.client.get_guild(guild_id) if guild_id is not None else None
        return guild.filesize_limit if guild is not None else DEFAULT_FILESIZE_LIMIT

    def _start(self, display: _Display) -> None:
        self._follow(display.key, display.run(), name=f"display-{short_id(display.key)}")

    def _follow(self, key: str, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = self.tasks.spawn(coro, name=name)
        self._active[key] = task
        task.add_done_callback(lambda _t: self._active.pop(key, None))

    async def drain(self) -> None:
        """Wait until every message being followed has its final state (for a graceful stop, and tests)."""
        while tasks := [task for task in self._active.values() if not task.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop following (jobs go on in ComfyUI; the next start resumes them); safe to call twice."""
        tasks = list(self._active.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._active.clear()


def _needs_shrinking(jobs: Sequence[Job], limit: int) -> bool:
    """True when an output is over the upload limit, so re-encoding it may take a while (blocking: stats files)."""
    paths = (
        Path(name) for job in jobs if job.record.status is JobStatus.DELIVERING for name in job.record.output_files
    )
    return any(path.is_file() and path.stat().st_size > limit for path in paths)
