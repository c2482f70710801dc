"""Pure presentation: job snapshots and errors in, discord.Embed out. No I/O, easy to test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from discomfy.comfy import ComfyConnectionError, ComfyError, WorkflowRejectedError
from discomfy.errors import DiscomfyError, LimitError, WorkflowError
from discomfy.progress import progress_bar
from discomfy.store import JobStatus

if TYPE_CHECKING:
    from discomfy.jobs import JobSnapshot

COLOURS = {
    JobStatus.CREATED: discord.Colour.light_grey(),
    JobStatus.QUEUED: discord.Colour.blurple(),
    JobStatus.RUNNING: discord.Colour.gold(),
    JobStatus.DELIVERING: discord.Colour.gold(),
    JobStatus.DONE: discord.Colour.green(),
    JobStatus.FAILED: discord.Colour.red(),
    JobStatus.CANCELLED: discord.Colour.dark_grey(),
    JobStatus.LOST: discord.Colour.orange(),
}
SHOWN_PARAMS = ("negative", "width", "height", "steps", "cfg", "sampler", "scheduler", "denoise", "length", "fps")
PREVIEW_NAME = "preview.jpg"


def duration(seconds: float) -> str:
    """`0:07`, `12:40`, `1:02:03`."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def excerpt(text: object, limit: int = 300) -> str:
    text = str(text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def job_title(snap: JobSnapshot) -> str:
    match snap.status:
        case JobStatus.CREATED:
            return "Submitting…"
        case JobStatus.QUEUED if snap.position:
            return f"Queued · #{snap.position} of {snap.queue_total or snap.position}"
        case JobStatus.QUEUED:
            return "Queued"
        case JobStatus.RUNNING:
            return f"Running · {snap.node}" if snap.node else "Running"
        case JobStatus.DELIVERING:
            return "Uploading results…"
        case JobStatus.DONE:
            return "Done"
        case JobStatus.CANCELLED:
            return "Cancelled" if "interrupt" not in (snap.error or "") else "Interrupted"
        case JobStatus.LOST:
            return "Lost"
        case _:
            return "Failed"


def job_embed(snap: JobSnapshot, *, preview: bool = False, image_name: str | None = None) -> discord.Embed:
    """The one embed of a job, whatever its state."""
    embed = discord.Embed(title=job_title(snap), colour=COLOURS[snap.status])
    embed.description = f">>> {excerpt(snap.params.get('prompt'), 900)}" if snap.params.get("prompt") else None
    if snap.status is JobStatus.RUNNING and snap.step is not None and snap.steps:
        eta = f" · about {duration(snap.eta)} left" if snap.eta is not None else ""
        embed.add_field(name="Progress", value=f"`{progress_bar(snap.step, snap.steps)}`{eta}", inline=False)
    if snap.error and snap.status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.LOST):
        embed.add_field(name="Why", value=excerpt(snap.error, 1000), inline=False)
    embed.add_field(name="Workflow", value=snap.workflow_title)
    embed.add_field(name="Requested by", value=f"<@{snap.owner_id}>")
    embed.add_field(name="Seed", value=f"`{snap.seed}`")
    if snap.status is JobStatus.DONE:
        params = " · ".join(f"{k} {snap.params[k]}" for k in SHOWN_PARAMS if snap.params.get(k) not in (None, ""))
        if params:
            embed.add_field(name="Parameters", value=excerpt(params, 1000), inline=False)
    label = "Took" if snap.status is JobStatus.DONE else "Elapsed"
    embed.add_field(name=label, value=duration(snap.elapsed))
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    elif preview:
        embed.set_image(url=f"attachment://{PREVIEW_NAME}")
    embed.set_footer(text=f"job {snap.job_id[:8]}" + (f" · prompt {snap.prompt_id[:8]}" if snap.prompt_id else ""))
    return embed


def batch_embed(snaps: Sequence[JobSnapshot], *, image_name: str | None = None) -> discord.Embed:
    """One embed tracking a seed sweep: a line per seed."""
    first = snaps[0]
    done = sum(s.status is JobStatus.DONE for s in snaps)
    failed = sum(s.status in (JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED) for s in snaps)
    finished = done + failed == len(snaps)
    colour = discord.Colour.green() if finished and not failed else COLOURS[_batch_status(snaps)]
    title = f"Batch of {len(snaps)} · {done} done" + (f", {failed} failed" if failed else "")
    embed = discord.Embed(title=title, colour=colour)
    if first.params.get("prompt"):
        embed.description = f">>> {excerpt(first.params['prompt'], 900)}"
    lines = [f"`{i + 1:>2}` seed `{s.seed}` · {_batch_line(s)}" for i, s in enumerate(snaps)]
    embed.add_field(name="Seeds", value=excerpt("\n".join(lines), 1024), inline=False)
    embed.add_field(name="Workflow", value=first.workflow_title)
    embed.add_field(name="Requested by", value=f"<@{first.owner_id}>")
    embed.add_field(name="Elapsed", value=duration(max(s.elapsed for s in snaps)))
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    embed.set_footer(text=f"batch {first.batch_id[:8]}" if first.batch_id else "")
    return embed


def _batch_status(snaps: Sequence[JobSnapshot]) -> JobStatus:
    for status in (JobStatus.RUNNING, JobStatus.DELIVERING, JobStatus.QUEUED, JobStatus.CREATED):
        if any(s.status is status for s in snaps):
            return status
    return JobStatus.FAILED


def _batch_line(snap: JobSnapshot) -> str:
    if snap.status is JobStatus.RUNNING and snap.step is not None and snap.steps:
        return progress_bar(snap.step, snap.steps, width=8)
    if snap.status is JobStatus.QUEUED and snap.position:
        return f"queued #{snap.position}"
    if snap.status in (JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED):
        return f"{job_title(snap).lower()}: {excerpt(snap.error, 80)}"
    return job_title(snap).lower()


def error_message(error: BaseException) -> str:
    """What to tell a user about an error, in plain words; the table of known errors."""
    if isinstance(error, ComfyConnectionError):
        return "ComfyUI is not reachable right now, so nothing was started. Please try again later."
    if isinstance(error, WorkflowRejectedError):
        return str(error)
    if isinstance(error, WorkflowError | LimitError):
        return str(error)
    if isinstance(error, ComfyError | DiscomfyError):
        return str(error)
    if isinstance(error, discord.app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, discord.app_commands.CheckFailure):
        return str(error) or "You are not allowed to use this command."
    return "Something went wrong on our side. It has been logged."


def error_embed(error: BaseException, *, reference: str | None = None) -> discord.Embed:
    embed = discord.Embed(title="Sorry", description=excerpt(error_message(error), 4000), colour=discord.Colour.red())
    if reference:
        embed.set_footer(text=reference)
    return embed
