"""Pure presentation: job snapshots and errors in, discord.Embed out. No I/O, easy to test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from discomfy.bot.limits import EMBED_DESCRIPTION, EMBED_TOTAL, FIELD_NAME, FIELD_VALUE
from discomfy.ids import short_id
from discomfy.progress import progress_bar
from discomfy.store import JobStatus
from discomfy.sweep.axes import SEED, format_value

if TYPE_CHECKING:
    from discomfy.comfy import WorkflowRejectedError
    from discomfy.job import JobSnapshot
    from discomfy.store import JobRecord, Stats
    from discomfy.sweep.axes import Grid
    from discomfy.workflows import WorkflowSpec

COLOURS = {
    JobStatus.WAITING: discord.Colour.blurple(),
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
LINES_MARGIN = 1200  # what a batch embed needs besides its lines: workflow, requester, notes added on delivery
MAX_LINE_FIELDS = 20  # of Discord's 25 fields per embed: the rest are the batch's others and the notes


def duration(seconds: float) -> str:
    """`0:07`, `12:40`, `1:02:03`."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def excerpt(text: object, limit: int = 300) -> str:
    """`text` cut to `limit` characters, the cut marked with …; empty when there is no room at all."""
    text = str(text or "").strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if limit > 0 else ""


def job_title(snap: JobSnapshot) -> str:
    match snap.status:
        case JobStatus.CREATED:
            return "Submitting…"
        case JobStatus.QUEUED if snap.position:
            return f"Queued · #{snap.position} of {snap.queue_total or snap.position}"
        case JobStatus.QUEUED | JobStatus.WAITING:
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
    if snap.error and snap.status.is_unsuccessful:
        embed.add_field(name="Why", value=excerpt(snap.error, 1000), inline=False)
    embed.add_field(name="Workflow", value=snap.workflow_title)
    embed.add_field(name="Requested by", value=f"<@{snap.owner_id}>")
    if snap.seed is not None:
        embed.add_field(name="Seed", value=f"`{snap.seed}`")
    if snap.status is JobStatus.DONE:
        params = " · ".join(f"{k} {snap.params[k]}" for k in SHOWN_PARAMS if snap.params.get(k) not in (None, ""))
        if params:
            embed.add_field(name="Parameters", value=excerpt(params, 1000), inline=False)
    label = "Took" if snap.status is JobStatus.DONE else "Elapsed"
    embed.add_field(name=label, value=duration(snap.elapsed))
    if snap.server:
        embed.add_field(name="Server", value=excerpt(snap.server, FIELD_VALUE))
    if snap.cache and snap.status is JobStatus.DONE:
        embed.add_field(name="Cache", value=excerpt(snap.cache, FIELD_VALUE), inline=False)
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    elif preview:
        embed.set_image(url=f"attachment://{PREVIEW_NAME}")
    embed.set_footer(
        text=f"job {short_id(snap.job_id)}" + (f" · prompt {short_id(snap.prompt_id)}" if snap.prompt_id else "")
    )
    return embed


def batch_embed(
    snaps: Sequence[JobSnapshot], *, image_name: str | None = None, grid: Grid | None = None
) -> discord.Embed:
    """One embed tracking a seed sweep (a line per seed), or the cells of an X/Y `grid` (a line per cell)."""
    first = snaps[0]
    done = sum(s.status is JobStatus.DONE for s in snaps)
    failed = sum(s.status.is_unsuccessful for s in snaps)
    finished = done + failed == len(snaps)
    colour = discord.Colour.green() if finished and not failed else COLOURS[_batch_status(snaps)]
    noun = f"Sweep of {len(snaps)} · {' × '.join(a.name for a in grid.axes)}" if grid else f"Batch of {len(snaps)}"
    title = f"{noun} · {done} done" + (f", {failed} failed" if failed else "")
    embed = discord.Embed(title=title, colour=colour)
    if first.params.get("prompt"):
        embed.description = f">>> {excerpt(first.params['prompt'], 900)}"
    lines = [f"`{i + 1:>2}` {_cell_label(s, grid, i)} · {_batch_line(s)}" for i, s in enumerate(snaps)]
    _add_lines(embed, "Cells" if grid else "Seeds", lines)
    if grid is not None and first.seed is not None and all(axis.name != SEED for axis in grid.axes):
        embed.add_field(name="Seed", value=f"`{first.seed}`")  # every cell's: only the swept values differ
    embed.add_field(name="Workflow", value=first.workflow_title)
    embed.add_field(name="Requested by", value=f"<@{first.owner_id}>")
    embed.add_field(name="Elapsed", value=duration(max(s.elapsed for s in snaps)))
    servers = sorted({s.server for s in snaps if s.server})
    if servers:
        embed.add_field(name="Servers" if len(servers) > 1 else "Server", value=excerpt(", ".join(servers), 200))
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    embed.set_footer(text=f"batch {short_id(first.batch_id)}" if first.batch_id else "")
    return embed


def _batch_status(snaps: Sequence[JobSnapshot]) -> JobStatus:
    for status in (JobStatus.RUNNING, JobStatus.DELIVERING, JobStatus.QUEUED, JobStatus.WAITING, JobStatus.CREATED):
        if any(s.status is status for s in snaps):
            return status
    return JobStatus.FAILED


def _add_lines(embed: discord.Embed, name: str, lines: Sequence[str]) -> None:
    """The lines in as few fields as hold them, every line whole (users copy seeds), as many as the embed can take."""
    budget = EMBED_TOTAL - LINES_MARGIN - len(embed.title or "") - len(embed.description or "")
    shown = 0
    for index, chunk in enumerate(_whole_lines(lines, FIELD_VALUE)):
        budget -= len(chunk) + len(name) + len(" (more)")
        if budget < 0 or index >= MAX_LINE_FIELDS:
            embed.add_field(name="…", value=f"and {len(lines) - shown} more (Info lists every seed)", inline=False)
            return
        embed.add_field(name=name if index == 0 else f"{name} (more)", value=chunk, inline=False)
        shown += chunk.count("\n") + 1


def _cell_label(snap: JobSnapshot, grid: Grid | None, index: int) -> str:
    """`seed 12` in a batch; in a sweep, what its cell sets: `cfg 5 · sampler euler` (`· seed 12` on a seed axis)."""
    if grid is None or index >= grid.size:
        return f"seed `{snap.seed}`"
    values, _ = grid.cell(index)
    parts = [f"{name} {format_value(value)}" for name, value in values.items()]
    if any(axis.name == SEED for axis in grid.axes):
        parts.append(f"seed `{snap.seed}`")
    return " · ".join(parts)


def _batch_line(snap: JobSnapshot) -> str:
    if snap.status is JobStatus.DONE and snap.fully_cached:
        return "done, from ComfyUI's cache"
    if snap.status is JobStatus.RUNNING and snap.step is not None and snap.steps:
        return progress_bar(snap.step, snap.steps, width=8)
    if snap.status is JobStatus.QUEUED and snap.position:
        return f"queued #{snap.position}"
    if snap.status.is_unsuccessful:
        return f"{job_title(snap).lower()}: {excerpt(snap.error, 80)}"
    return job_title(snap).lower()


def _whole_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as will hold them, none cut in two."""
    chunks: list[str] = []
    for line in lines:
        line = excerpt(line, limit)
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


# ---- /queue, /history, /stats (admin and history cogs) -------------------------------------------

QUEUE_LABELS = {
    "running": "▶ running",
    "waiting": "⏳ waiting",
    "submitting": "… submitting",
    "in the bot's queue": "🕒 in the bot's queue",
}
HISTORY_ICONS = {
    JobStatus.WAITING: "⏳",
    JobStatus.CREATED: "…",
    JobStatus.QUEUED: "⏳",
    JobStatus.RUNNING: "▶",
    JobStatus.DELIVERING: "⬆",
    JobStatus.DONE: "✅",
    JobStatus.FAILED: "❌",
    JobStatus.CANCELLED: "⏹",
    JobStatus.LOST: "❓",
}
FAILURE_REASONS = {
    "execution_failed": "a node failed in ComfyUI",
    "rejected": "ComfyUI refused the workflow",
    "comfy_unavailable": "ComfyUI was unreachable",
    "unrunnable": "no server had the nodes or models it needs",
    "lost": "lost (ComfyUI restarted or forgot it)",
    "upload": "could not be posted to Discord",
    "unknown": "unknown",
}


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One line of /queue: a bot job, or a prompt another ComfyUI client queued (job_id None)."""

    state: str  # "running", "waiting", "submitting", "uploading", "finishing"
    position: int | None  # 1-based among ComfyUI's pending prompts
    prompt_id: str | None
    job_id: str | None = None
    owner_id: int | None = None
    workflow: str | None = None
    age: float | None = None  # seconds since the job was requested
    client_id: str | None = None
    node_count: int | None = None
    server: str | None = None  # named when there are several

    @property
    def ours(self) -> bool:
        return self.job_id is not None

    @property
    def cancellable(self) -> bool:
        return self.ours and self.state in ("waiting", "in the bot's queue")


@dataclass(frozen=True, slots=True)
class ServerLine:
    """One ComfyUI server in /queue: reachable or not, drained or not, what it runs and holds, its GPU."""

    name: str
    connected: bool
    drained: bool
    running: int = 0
    waiting: int = 0
    ours: int = 0
    device: str | None = None  # "NVIDIA RTX 4090 · 18.2 of 24.0 GB free"


def server_line(line: ServerLine) -> str:
    state = "connected" if line.connected else "**not connected**"
    if line.drained:
        state += " · drained (nothing new goes there)"
    work = f"{line.running} running, {line.waiting} waiting ({line.ours} ours)" if line.connected else ""
    parts = [f"**{line.name}**", state, work, line.device or ""]
    return " · ".join(part for part in parts if part)


def queue_embed(
    rows: Sequence[QueueRow], *, note: str | None = None, servers: Sequence[ServerLine] = ()
) -> discord.Embed:
    """What ComfyUI runs and what waits, the bot's jobs and other clients' prompts alike, and each server."""
    running = sum(r.state == "running" for r in rows)
    waiting = sum(r.state == "waiting" for r in rows)
    ours = sum(r.ours for r in rows)
    title = f"Queue · {running} running, {waiting} waiting"
    colour = discord.Colour.gold() if running else discord.Colour.blurple()
    embed = discord.Embed(title=title, colour=colour)
    lines = [_queue_line(row) for row in rows] or ["Nothing is running or waiting."]
    text = "\n".join(lines)
    if note:
        text = f"{note}\n\n{text}"
    embed.description = excerpt(text, EMBED_DESCRIPTION)
    if servers:
        listing = "\n".join(server_line(line) for line in servers)
        embed.add_field(name="Servers" if len(servers) > 1 else "Server", value=excerpt(listing, FIELD_VALUE))
    foreign = len(rows) - ours
    footer = f"{ours} bot job(s), {foreign} prompt(s) from other ComfyUI clients"
    if any(r.cancellable for r in rows):
        footer += " · pick a waiting bot job below to cancel it"
    embed.set_footer(text=footer)
    return embed


def _queue_line(row: QueueRow) -> str:
    place = f"`#{row.position}`" if row.position is not None else "`  `"
    label = QUEUE_LABELS.get(row.state, row.state) + (f" on {row.server}" if row.server else "")
    if row.ours:
        age = f" · {duration(row.age)} old" if row.age is not None else ""
        job = short_id(row.job_id)
        return f"{place} {label} · job `{job}` · {row.workflow or '?'} · <@{row.owner_id}>{age}"
    nodes = f", {row.node_count} nodes" if row.node_count else ""
    client = f" `{short_id(row.client_id)}`" if row.client_id else ""
    prompt = short_id(row.prompt_id) if row.prompt_id else "?"
    return f"{place} {label} · prompt `{prompt}` · not ours (another ComfyUI client{client}{nodes})"


def jump_url(record: JobRecord) -> str | None:
    """The link to the message that shows a job, if it has one."""
    if record.message_id is None:
        return None
    return f"https://discord.com/channels/{record.guild_id or '@me'}/{record.channel_id}/{record.message_id}"


def history_embed(records: Sequence[JobRecord], *, owner_id: int, page: int, pages: int, total: int) -> discord.Embed:
    """One page of a member's jobs, newest first: prompt excerpt, seed, status, age and a jump link."""
    embed = discord.Embed(title="Job history", colour=discord.Colour.blurple())
    embed.description = f"Jobs of <@{owner_id}> · {total} in all" if total else f"<@{owner_id}> has no jobs yet."
    for record in records:
        icon = HISTORY_ICONS.get(record.status, "")
        name = f"{icon} {record.status.value} · {record.workflow}"
        prompt = excerpt(record.params.get("prompt") or "(no prompt)", 200).replace("\n", " ")
        details = [f"seed `{record.seed}`", f"<t:{int(record.created_at)}:R>"]
        link = jump_url(record)
        if link:
            details.append(f"[jump to message]({link})")
        if record.error and record.status is not JobStatus.DONE:
            details.append(excerpt(record.error, 120))
        value = f"> {prompt}\n" + " · ".join(details)
        embed.add_field(name=excerpt(name, FIELD_NAME), value=excerpt(value, FIELD_VALUE), inline=False)
    embed.set_footer(text=f"page {page} of {max(pages, 1)}")
    return embed


def stats_embed(stats: Stats, *, days: int) -> discord.Embed:
    """The /stats summary: jobs per day, medians per workflow, failures by reason, busiest users."""
    title = f"Stats · last {days} day{'s' if days != 1 else ''} · {stats.total_jobs} job(s)"
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    if not stats.total_jobs:
        embed.description = "No jobs in this period."
        return embed
    per_day = "\n".join(f"{day}  {count:>5}" for day, count in stats.jobs_per_day[-31:])
    embed.add_field(name="Jobs per day (UTC)", value=f"```\n{per_day}\n```", inline=False)
    workflows = [
        f"**{w.name}** · {w.jobs} job(s) · median wait {_seconds(w.median_queue_wait)}"
        f" · median run {_seconds(w.median_run_time)}" + (f" · {w.failures} failed" if w.failures else "")
        for w in stats.per_workflow
    ]
    embed.add_field(name="Per workflow", value=excerpt("\n".join(workflows), FIELD_VALUE), inline=False)
    reasons = [f"{FAILURE_REASONS.get(kind, kind)}: {count}" for kind, count in stats.failures_by_reason]
    embed.add_field(name="Failures by reason", value=excerpt("\n".join(reasons) or "None", FIELD_VALUE), inline=False)
    users = [f"<@{owner}> · {count} job(s)" for owner, count in stats.busiest_users]
    embed.add_field(name="Busiest users", value=excerpt("\n".join(users), FIELD_VALUE), inline=False)
    return embed


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 60 else duration(value)


# ---- job details (the Info button, discomfy/bot/buttons.py) ---------------------------------------------

INFO_TEXT_PARAMS = ("prompt", "negative")


def info_embed(record: JobRecord, spec: WorkflowSpec | None, *, batch: Sequence[JobRecord] = ()) -> discord.Embed:
    """Everything about one job (and the seeds of its batch): parameters, timings and ids."""
    embed = discord.Embed(title=f"Job details · {record.status.value}", colour=COLOURS[record.status])
    if record.params.get("prompt"):
        embed.description = f">>> {excerpt(record.params['prompt'], 1800)}"
    if record.params.get("negative"):
        embed.add_field(name="Negative prompt", value=excerpt(record.params["negative"], FIELD_VALUE), inline=False)
    others = [f"{k}: {v}" for k, v in record.params.items() if k not in INFO_TEXT_PARAMS and v not in (None, "")]
    if others:
        embed.add_field(name="Parameters", value=f"```\n{excerpt(chr(10).join(others), 1000)}\n```", inline=False)
    embed.add_field(name="Workflow", value=f"{spec.title} (`{record.workflow}`)" if spec else f"`{record.workflow}`")
    embed.add_field(name="Requested by", value=f"<@{record.owner_id}>")
    several = len(batch) > 1
    embed.add_field(name="Seeds" if several else "Seed", value=_info_seeds(record, batch), inline=not several)
    embed.add_field(name="Queued wait", value=_info_span(record.queued_at, record.started_at))
    embed.add_field(name="Run time", value=_info_span(record.started_at, record.finished_at))
    embed.add_field(name="Total", value=_info_span(record.created_at, record.finished_at))
    if record.error:
        embed.add_field(name="Error", value=excerpt(record.error, FIELD_VALUE), inline=False)
    ids = [f"job `{record.job_id}`", f"prompt_id `{record.prompt_id or '—'}`"]
    if record.batch_id:
        ids.append(f"batch `{record.batch_id}` (#{(record.batch_index or 0) + 1} of {len(batch) or '?'})")
    embed.add_field(name="Ids", value="\n".join(ids), inline=False)
    return embed


def _info_seeds(record: JobRecord, batch: Sequence[JobRecord]) -> str:
    if len(batch) <= 1:
        return f"`{record.seed}`"
    lines = [f"`{(r.batch_index or 0) + 1:>2}` `{r.seed}`" + (" ◀" if r.job_id == record.job_id else "") for r in batch]
    return excerpt("\n".join(lines), FIELD_VALUE)


def _info_span(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "—"
    return _seconds(max(0.0, end - start))


# ---- /generate and /batch (generate cog) ---------------------------------------------------------


def rejected_embed(error: WorkflowRejectedError, *, workflow: str) -> discord.Embed:
    """ComfyUI refused a workflow when it was submitted: every node at fault and why, in plain words."""
    embed = discord.Embed(title="ComfyUI refused the workflow", colour=discord.Colour.red())
    reason = error.message.rstrip(".") + (f" ({error.details})" if error.details else "")
    embed.description = excerpt(f"{reason}. Nothing was queued.", EMBED_DESCRIPTION)
    budget = EMBED_TOTAL - 1000 - len(embed.description)  # Discord refuses larger embeds; room for the rest
    shown = 0
    for node_error in error.node_errors[:20]:
        where = f"Node {node_error.node_id}" + (f" ({node_error.class_type})" if node_error.class_type else "")
        value = excerpt(node_error.describe(), min(FIELD_VALUE, max(0, budget - len(where))))
        if budget - len(where) - len(value) < 0 or not value:
            break
        budget -= len(where) + len(value)
        embed.add_field(name=excerpt(where, FIELD_NAME), value=value, inline=False)
        shown += 1
    if shown < len(error.node_errors):
        embed.add_field(name="…", value=f"and {len(error.node_errors) - shown} more problem(s)", inline=False)
    embed.set_footer(text=f"workflow {workflow}")
    return embed
