"""The final result of a job (or a batch) into its own Discord message, exactly once.

Order of writes, and why a crash anywhere never posts a result twice nor loses one:

1. Before `job.settled` is set, JobManager has stored the output paths and moved the record to DELIVERING.
   A crash before that re-follows the prompt from ComfyUI's history on restart.
2. Every output is fitted to the upload limit in a work folder (`fit_for_upload`, the contact sheet of a
   batch). Nothing is visible yet, so this step is safe to repeat.
3. The job's OWN message (its id was stored by `jobs.attach_message` when the job was first shown) is edited
   to carry the files, the final embed and the result buttons. An edit replaces the message's attachments,
   so running it again after a crash leaves exactly one copy of the result. A message deleted meanwhile is
   replaced by a new one whose id is stored before going on.
4. Files beyond one message (10 attachments, or more bytes than the limit) go into extra messages. Ids a
   previous attempt stored are edited, not posted again; a new one is posted with a nonce derived from the
   job (Discord drops a repeat of it), and its id is stored at once.
5. `jobs.delivered(...)`: compare-and-set DELIVERING -> DONE. False means another delivery won; stop there.
6. The fitted copies are deleted.

A crash before 5 leaves the job DELIVERING: `Presenter.resume` runs 2-5 again against the same message(s).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from discomfy.bot.embeds import batch_embed, excerpt, job_embed
from discomfy.bot.limits import FIELD_VALUE, MAX_ATTACHMENTS
from discomfy.bot.messages import (
    DELIVERY_TRIES,
    TRANSIENT_ERRORS,
    Controls,
    LiveMessage,
    MessageContent,
    Upload,
    as_spoilers,
    is_transient,
    pack,
    unique_names,
    with_retries,
)
from discomfy.ids import short_id
from discomfy.job import split_notes
from discomfy.media import EMBEDDABLE_IMAGES, FittedFile, MediaError, TooLarge, find_ffmpeg, fit_for_upload
from discomfy.media.contact_sheet import SheetItem, build_contact_sheet
from discomfy.media.xy_grid import AxisText, build_xy_grid
from discomfy.store import JobStatus

if TYPE_CHECKING:
    from discomfy.config import UploadSettings
    from discomfy.job import Job, JobSnapshot
    from discomfy.jobs import JobManager
    from discomfy.sweep.axes import Grid

log = logging.getLogger(__name__)

NONCE_ID_LENGTH = 20
WORK_FOLDER = "discord"  # under storage.outputs: fitted copies, one folder per job or batch, deleted after posting


@dataclass(frozen=True, slots=True)
class Delivery:
    """What delivering needs, and nothing of the bot: the jobs, how to fit uploads, where, and which buttons."""

    jobs: JobManager
    uploads: UploadSettings
    outputs: Path  # storage.outputs
    controls: Controls
    upscale: bool  # whether image results get Upscale buttons (workflows.upscale is set and loaded)

    def workdir(self, jobs: Sequence[Job]) -> Path:
        return self.outputs / WORK_FOLDER / (jobs[0].record.batch_id or jobs[0].job_id)


# ---- the entry point ---------------------------------------------------------------------------------


async def deliver(delivery: Delivery, message: LiveMessage, jobs: Sequence[Job], *, limit: int) -> None:
    """Put the outcome of settled jobs (one job, or every job of a batch) into their message, exactly once.

    See the module docstring for the order of writes. Failed, cancelled and lost jobs get their final embed.
    """
    pending = [job for job in jobs if job.record.status is JobStatus.DELIVERING]
    workdir = delivery.workdir(jobs)
    try:
        composed = await _compose(delivery, jobs, limit=limit, workdir=workdir)
        try:
            main, *extra = composed.chunks
            content = MessageContent(composed.embed, composed.view, tuple(main))
            await with_retries(lambda: message.show(content), tries=DELIVERY_TRIES, what="Posting a result")
        except discord.HTTPException as exc:
            if is_transient(exc):
                raise  # tried again later, as long as it takes
            if not pending:  # only a failure to show, and Discord will never take it (channel gone, no access)
                log.warning("Could not show the outcome in message %s: %s", message.message_id, exc)
                return
            await _refused(delivery, message, jobs, pending, exc)
            return
        try:
            extra_ids = await _put_extras(delivery.jobs, message, jobs, extra)
        except discord.HTTPException as exc:
            if is_transient(exc):
                raise  # the whole delivery is tried again; the main message edit is idempotent
            # The main result is posted: never take it back for the extra files Discord refuses.
            where = ", ".join(str(u.path) for chunk in extra for u in chunk if u.path is not None)
            log.error("Extra results of %s refused by Discord (%s); kept on disk: %s", message.message_id, exc, where)
            extra_ids = list(jobs[0].record.extra_message_ids)
        for job in pending:
            if not await delivery.jobs.delivered(job, message_id=message.message_id, extra_message_ids=extra_ids):
                log.info("Job %s had already been delivered", short_id(job.job_id))
        if pending:
            log.info(
                "Delivered %d job(s) into message %s (%d extra message(s))",
                len(pending), message.message_id, len(extra_ids),
            )  # fmt: skip
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


# ---- composing the final message ---------------------------------------------------------------------


@dataclass(slots=True)
class _Composed:
    embed: discord.Embed
    view: discord.ui.View | None
    chunks: list[list[Upload]]


@dataclass(slots=True)
class _Fitted:
    uploads: list[Upload] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


async def _compose(delivery: Delivery, jobs: Sequence[Job], *, limit: int, workdir: Path) -> _Composed:
    settings = delivery.uploads
    ffmpeg = await asyncio.to_thread(find_ffmpeg, settings.ffmpeg)
    transcoder = ffmpeg if settings.transcode_video else None
    fitted = _Fitted()
    for job in jobs:
        if job.record.status in (JobStatus.DELIVERING, JobStatus.DONE):
            await _fit_outputs(job, fitted, limit=limit, workdir=workdir, ffmpeg=transcoder)
    if len(jobs) == 1:
        return _compose_single(delivery, jobs[0], fitted, limit)
    sheet = await _summary_image(jobs, limit=limit, workdir=workdir, ffmpeg=ffmpeg, fitted=fitted)
    uploads = ([sheet] if sheet else []) + fitted.uploads
    snaps = [_shown(job.snapshot()) for job in jobs]
    spoiler = jobs[0].record.spoiler
    grid = jobs[0].sweep
    embed = batch_embed(snaps, image_name=sheet.filename if sheet and not spoiler else None, grid=grid)
    if spoiler:
        uploads = as_spoilers(uploads)
    _add_notes(embed, fitted, limit)
    done = [job for job in jobs if job.record.status in (JobStatus.DELIVERING, JobStatus.DONE)]
    view = None
    if done and grid is not None:
        view = delivery.controls.sweep(done[0].record, [grid.label(i) for i in range(min(grid.size, len(jobs)))])
    elif done:
        view = delivery.controls.result(done[0].record, upscale=False, batch=True)
    return _Composed(embed, view, pack(unique_names(uploads), limit))


def _compose_single(delivery: Delivery, job: Job, fitted: _Fitted, limit: int) -> _Composed:
    record = job.record
    snap = _shown(job.snapshot())
    if record.status.is_unsuccessful:
        view = None if record.status is JobStatus.CANCELLED else delivery.controls.retry(record)
        return _Composed(job_embed(snap), view, [[]])
    uploads = unique_names(fitted.uploads)
    shown = (u.filename for u in uploads[:MAX_ATTACHMENTS] if Path(u.filename).suffix.lower() in EMBEDDABLE_IMAGES)
    image_name = next(shown, None)
    if record.spoiler:  # blurred attachments only: the embed would show the image unblurred
        uploads, image_name = as_spoilers(uploads), None
    embed = job_embed(snap, image_name=image_name)
    if not record.output_files:
        embed.add_field(name="Result", value="The workflow finished without any output file.", inline=False)
    _add_notes(embed, fitted, limit)
    view = delivery.controls.result(record, upscale=delivery.upscale and snap.kind == "image")
    return _Composed(embed, view, pack(uploads, limit))


def _shown(snap: JobSnapshot) -> JobSnapshot:
    """A result being posted reads as done: that is what the message says once the edit lands."""
    return replace(snap, status=JobStatus.DONE) if snap.status is JobStatus.DELIVERING else snap


async def _fit_outputs(job: Job, fitted: _Fitted, *, limit: int, workdir: Path, ffmpeg: str | None) -> None:
    fitted.missing.extend(split_notes(job.record.notes)[1])  # the cache note is the embed's
    for name in job.record.output_files:
        path = Path(name)
        try:
            result = await fit_for_upload(path, limit, workdir=workdir / job.job_id, ffmpeg=ffmpeg)
        except MediaError as exc:
            fitted.missing.append(f"`{path.name}`: {exc.message}")
            continue
        if isinstance(result, TooLarge):
            fitted.missing.append(f"`{path.name}` ({_mb(result.size)}): {result.reason}; kept on the bot's disk")
            log.info("%s: %s not uploaded (%s); it is at %s", job.tag, path.name, result.reason, path)
            continue
        fitted.uploads.append(_upload(result))
        if result.changed:
            fitted.shrunk.append(f"`{result.filename}`: {result.note or 're-encoded'}")


def _upload(fitted: FittedFile) -> Upload:
    return Upload(fitted.filename, path=fitted.path, size=fitted.size)


async def _summary_image(
    jobs: Sequence[Job], *, limit: int, workdir: Path, ffmpeg: str | None, fitted: _Fitted
) -> Upload | None:
    """A batch's contact sheet, or a sweep's X/Y grid: one labelled image of every result, fitted like any other
    file; None if there is nothing to show."""
    items = [
        SheetItem(
            Path(name), f"seed {job.record.seed}" + (f" #{index + 1}" if len(job.record.output_files) > 1 else "")
        )
        for job in jobs
        if _has_result(job)
        for index, name in enumerate(job.record.output_files)
    ]
    if not items:
        return None
    grid = jobs[0].sweep
    what = "contact sheet" if grid is None else "X/Y grid"
    try:
        if grid is not None:
            sheet = await _xy_grid(jobs, grid, workdir / "xy_grid.png", ffmpeg=ffmpeg)
        else:
            sheet = await build_contact_sheet(items, workdir / "contact_sheet.png", ffmpeg=ffmpeg)
        result = await fit_for_upload(sheet, limit, workdir=workdir / "sheet", ffmpeg=None)
    except MediaError as exc:
        log.warning("No %s for batch %s: %s", what, jobs[0].record.batch_id, exc)
        return None
    if isinstance(result, TooLarge):
        fitted.missing.append(f"the {what}: {result.reason}")
        return None
    return _upload(result)


async def _xy_grid(jobs: Sequence[Job], grid: Grid, out: Path, *, ffmpeg: str | None) -> Path:
    """The sweep's cells (each one's first file; the cells without one stay empty) on its labelled axes."""
    cells = [Path(job.record.output_files[0]) if _has_result(job) else None for job in jobs]
    x, *y = (AxisText(axis.name, axis.labels) for axis in grid.axes)
    return (await build_xy_grid(cells, x, y[0] if y else None, out, ffmpeg=ffmpeg)).path


def _has_result(job: Job) -> bool:
    return job.record.status in (JobStatus.DELIVERING, JobStatus.DONE) and bool(job.record.output_files)


def _add_notes(embed: discord.Embed, fitted: _Fitted, limit: int) -> None:
    if fitted.shrunk:
        text = f"Shrunk to fit Discord's {_mb(limit)} limit:\n" + "\n".join(fitted.shrunk)
        embed.add_field(name="Resized", value=excerpt(text, FIELD_VALUE), inline=False)
    if fitted.missing:
        embed.add_field(name="Not uploaded", value=excerpt("\n".join(fitted.missing), FIELD_VALUE), inline=False)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


# ---- extra messages and refusals ---------------------------------------------------------------------


async def _put_extras(
    manager: JobManager, message: LiveMessage, jobs: Sequence[Job], chunks: list[list[Upload]]
) -> list[int]:
    """Edit the extra messages a previous attempt stored, post the missing ones; store each id at once."""
    known = list(jobs[0].record.extra_message_ids)
    ids: list[int] = []
    for index, chunk in enumerate(chunks):
        text = f"More results ({index + 2}/{len(chunks) + 1}) of the message above."
        old = known[index] if index < len(known) else None
        nonce = f"dx{jobs[0].job_id[:NONCE_ID_LENGTH]}{index}"  # Discord takes nonces up to 25 characters
        put = functools.partial(message.put_extra, old, text, chunk, nonce=nonce)
        new = await with_retries(put, tries=DELIVERY_TRIES, what="Posting more results")
        ids.append(new)
        if new != old:
            for job in jobs:
                await manager.attach_extra_messages(job, ids)
    return ids


async def _refused(
    delivery: Delivery, message: LiveMessage, jobs: Sequence[Job], pending: Sequence[Job], exc: discord.HTTPException
) -> None:
    """Discord will not take the result: say so where the job is shown, and keep the files on disk."""
    names = ", ".join(f"`{Path(name).name}`" for job in pending for name in job.record.output_files) or "none"
    reason = (
        f"Discord refused the result ({exc.status}: {exc.text or 'no reason given'}). "
        f"The files are kept on the bot's disk: {names}"
    )
    paths = ", ".join(name for job in pending for name in job.record.output_files)
    log.error("Result of %d job(s) refused by Discord (%s); the files are at %s", len(pending), exc, paths)
    for job in pending:
        await delivery.jobs.undeliverable(job, reason)
    snaps = [job.snapshot() for job in jobs]
    embed = job_embed(snaps[0]) if len(snaps) == 1 else batch_embed(snaps)
    with contextlib.suppress(discord.HTTPException, *TRANSIENT_ERRORS):
        await message.show(MessageContent(embed, delivery.controls.retry(pending[0].record), ()))
