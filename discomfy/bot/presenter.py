"""Live job messages: every job is shown in one Discord message that follows it from queued to delivered.

The Presenter (bot.presenter) gives each message a display task that wakes on the jobs' events, coalesces them
to at most one edit per `uploads.edit_interval` (always ending on the latest state, with only the newest live
preview and only when it changed), and hands the settled jobs to `delivery.deliver`. After a restart,
`resume` picks every unfinished job up again in its original message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from discomfy.bot import buttons
from discomfy.bot.delivery import (
    DEFAULT_FILESIZE_LIMIT,
    EDIT_TRIES,
    TRANSIENT_ERRORS,
    MessageContent,
    Upload,
    deliver,
    with_retries,
)
from discomfy.bot.embeds import PREVIEW_NAME, batch_embed, job_embed
from discomfy.jobs import Job
from discomfy.store import JobStatus

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot
    from discomfy.comfy import Preview

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(minutes=14)  # Discord's is 15 minutes; a minute of margin for slow requests
REDELIVERY_DELAY, REDELIVERY_MAX_DELAY = 5.0, 300.0  # when Discord keeps failing a finished job's upload
HEARTBEAT_INTERVALS = 10  # with nothing happening, refresh the elapsed time every this many edit intervals
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027


class LiveMessage:
    """The one message that shows a job or a batch, edited however it can still be reached.

    Through the interaction webhook while its token is fresh (under 14 minutes), then through the channel
    (`PATCH /channels/{id}/messages/{mid}`), so long video jobs keep updating. A 429 is waited out by
    discord.py; a deleted message (404, code 10008) is replaced by a new one in the channel, whose id is
    passed to `on_moved` so the store follows.
    """

    def __init__(
        self,
        bot: DiscomfyBot,
        *,
        channel_id: int,
        message_id: int | None,
        interaction: discord.Interaction[DiscomfyBot] | None = None,
        on_moved: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.bot = bot
        self.channel_id = channel_id
        self.message_id = message_id
        self.interaction = interaction
        self.on_moved = on_moved

    @property
    def via_webhook(self) -> bool:
        """True while the interaction token can still be used."""
        interaction = self.interaction
        return interaction is not None and discord.utils.utcnow() < interaction.created_at + TOKEN_LIFETIME

    async def show(self, content: MessageContent) -> int:
        """Put `content` on the message (posting a new one if it is gone); returns the message id.

        Raises:
            discord.HTTPException: Discord refused the edit for good (403, 400, ...), or kept failing (5xx).
        """
        if self.via_webhook:
            try:
                return await self._edit_webhook(content)
            except discord.HTTPException as exc:
                if exc.code == UNKNOWN_MESSAGE:
                    return await self._replace(content)
                if exc.status != 401 and exc.code not in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK):
                    raise
                log.info(
                    "Interaction token of message %s no longer works; editing through the channel", self.message_id
                )
                self.interaction = None
        if self.message_id is None:
            return await self._replace(content)
        try:
            message = await self._channel().get_partial_message(self.message_id).edit(**_edit_fields(content))
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MESSAGE:
                raise
            return await self._replace(content)
        return message.id

    async def put_extra(self, message_id: int | None, text: str, uploads: Sequence[Upload], *, nonce: str) -> int:
        """Edit (or post, if None or gone) one extra message of files below the main one; returns its id."""
        channel = self._channel()
        if message_id is not None:
            files = [u.to_file() for u in uploads]
            try:
                return (await channel.get_partial_message(message_id).edit(content=text, attachments=files)).id
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE:
                    raise
        message = await channel.send(text, files=[u.to_file() for u in uploads], nonce=nonce)
        return message.id

    async def _edit_webhook(self, content: MessageContent) -> int:
        assert self.interaction is not None
        message = await self.interaction.edit_original_response(**_edit_fields(content))
        self.message_id = message.id
        return message.id

    async def _replace(self, content: MessageContent) -> int:
        """Post the content as a new message (the old one was deleted, or never known)."""
        old = self.message_id
        nonce = f"dr{old}" if old is not None else None
        message = await self._channel().send(
            embed=content.embed,
            files=[u.to_file() for u in content.uploads],
            view=content.view,
            nonce=nonce,
        )
        self.message_id, self.interaction = message.id, None
        log.info("Message %s replaced by %s in channel %s", old, message.id, self.channel_id)
        if self.on_moved is not None:
            await self.on_moved(message.id)
        return message.id

    def _channel(self) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(self.channel_id)


def _edit_fields(content: MessageContent) -> dict[str, Any]:
    fields: dict[str, Any] = {"embed": content.embed, "view": content.view}
    if content.upload:
        fields["attachments"] = [u.to_file() for u in content.uploads]
    return fields


class _Display:
    """Follows the jobs of one message and keeps it current with at most one edit per interval."""

    def __init__(self, presenter: Presenter, jobs: Sequence[Job], message: LiveMessage, *, limit: int | None) -> None:
        self.presenter = presenter
        self.bot = presenter.bot
        self.jobs = list(jobs)
        self.message = message
        self.limit = limit  # None: the guild's, looked up when delivering (the guild cache fills after a restart)
        self.interval = self.bot.config.uploads.edit_interval
        self._changed = asyncio.Event()
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
            log.warning("The first state of %s could not be shown; trying again with the next change", self.key[:8])

    async def run(self) -> None:
        watchers = [asyncio.create_task(self._watch(job), name=f"watch-{job.job_id[:8]}") for job in self.jobs]
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
            if await asyncio.to_thread(_needs_shrinking, self.jobs, limit):
                await self._pace()
                await self._refresh()  # "Uploading results…" while a video is re-encoded
            await self._pace()
            await self._deliver(limit)
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _deliver(self, limit: int) -> None:
        """Deliver, and while Discord is in trouble try again later: the job stays DELIVERING until it works."""
        delay = REDELIVERY_DELAY
        while True:
            try:
                await deliver(self.bot, self.message, self.jobs, limit=limit)
                return
            except (discord.HTTPException, *TRANSIENT_ERRORS) as exc:
                log.warning(
                    "Delivery into message %s failed (%s); again in %.0f s", self.message.message_id, exc, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, REDELIVERY_MAX_DELAY)

    async def _watch(self, job: Job) -> None:
        """Wake the display on every event of the job, and once more when its outcome is stored."""
        if job.handle is not None and not job.settled.is_set():
            async for _event in job.handle.events():
                self._changed.set()
        await job.settled.wait()
        self._changed.set()

    async def _pace(self) -> None:
        """Sleep until the next edit is allowed; whatever happens meanwhile is merged into it."""
        delay = self._next_edit - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

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
        if len(snaps) == 1:
            embed = job_embed(snaps[0], preview=preview is not None)
        else:
            shown = [replace(s, status=JobStatus.DONE) if s.status is JobStatus.DELIVERING else s for s in snaps]
            embed = batch_embed(shown, image_name=PREVIEW_NAME if preview is not None else None)
        pending = any(s.status.is_pending for s in snaps)
        view = buttons.queued_view(self.jobs) if pending else None
        uploads = (Upload(PREVIEW_NAME, data=preview.image, size=len(preview.image)),) if preview else ()
        changed = preview is not self._sent_preview or self._shown is None
        return MessageContent(embed, view, uploads, upload=changed), preview

    async def _moved(self, message_id: int) -> None:
        for job in self.jobs:
            await self.bot.jobs.attach_message(job, message_id)


class Presenter:
    """Shows jobs in Discord from the first state to the delivered result, and resumes them after a restart."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot
        self._active: dict[str, asyncio.Task[None]] = {}

    async def present(self, interaction: discord.Interaction[DiscomfyBot], jobs: Sequence[Job]) -> None:
        """Show jobs (one, or a batch as one message) in the deferred interaction's response, then follow them.

        Returns once the first state is shown and its message id stored; the rest runs in the background.
        Should Discord refuse even that, the display keeps trying with every change and delivers in the end.
        """
        if not jobs:
            return
        channel_id = interaction.channel_id or jobs[0].record.channel_id
        message = LiveMessage(
            self.bot, channel_id=channel_id, message_id=jobs[0].record.message_id, interaction=interaction
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
            task = self.bot.spawn(self._resume(group), name=f"resume-{key[:8]}")
            self._active[key] = task
            task.add_done_callback(lambda _t, key=key: self._active.pop(key, None))

    async def _resume(self, group: list[Job]) -> None:
        first = group[0].record
        jobs = group
        if first.batch_id is not None:
            jobs = await self._whole_batch(first.batch_id, group)
        message_id = next((j.record.message_id for j in jobs if j.record.message_id is not None), None)
        message = LiveMessage(self.bot, channel_id=first.channel_id, message_id=message_id)
        display = _Display(self, jobs, message, limit=None)
        log.info("Resuming %d job(s) in message %s", len(jobs), message_id)
        if not display.settled():
            await display.show_first()  # the message still shows the state from before the restart
        await display.run()

    async def _whole_batch(self, batch_id: str, group: list[Job]) -> list[Job]:
        """Every seed of a batch, the finished ones too: the batch message shows them all."""
        live = {job.job_id: job for job in group}
        jobs = []
        for record in await self.bot.jobs.store.batch(batch_id):
            job = live.get(record.job_id)
            if job is None:
                job = Job(record, self.bot.workflows.find(record.workflow), None)
                job.settled.set()
            jobs.append(job)
        return jobs or group

    def filesize_limit(self, guild_id: int | None) -> int:
        """The upload limit of a guild (its boost tier) if the bot has it cached, else Discord's default."""
        guild = self.bot.get_guild(guild_id) if guild_id is not None else None
        return guild.filesize_limit if guild is not None else DEFAULT_FILESIZE_LIMIT

    def _start(self, display: _Display) -> None:
        key = display.key
        task = self.bot.spawn(display.run(), name=f"display-{key[:8]}")
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
