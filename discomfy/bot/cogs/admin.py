"""/interrupt and /queue: an admin's hands on the GPUs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.embeds import QueueRow, ServerLine, duration, queue_embed
from discomfy.bot.errors import NotAdminError, error_embed, report_error, send_ephemeral
from discomfy.bot.limits import CHOICE_TEXT, MAX_CHOICES
from discomfy.bot.panels import PANEL_TIMEOUT, PrivatePanel
from discomfy.bot.permissions import admin_only
from discomfy.comfy import ComfyError, PromptStatus
from discomfy.ids import short_id
from discomfy.store import JobStatus

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot
    from discomfy.comfy import PoolServer, QueueEntry, QueueState, SystemStats
    from discomfy.job import Job

QueueReport = tuple[list["QueueRow"], list["ServerLine"]]

log = logging.getLogger(__name__)


def build_queue_rows(state: QueueState, jobs: Iterable[Job], *, now: float) -> list[QueueRow]:
    """Merge ComfyUI's queue with the bot's unfinished jobs: running first, then waiting in order."""
    by_prompt = {job.record.prompt_id: job for job in jobs if job.record.prompt_id}
    rows = [_row("running", None, e, by_prompt.pop(e.prompt_id, None), now) for e in state.running]
    rows += [
        _row("waiting", position, e, by_prompt.pop(e.prompt_id, None), now)
        for position, e in enumerate(state.pending, start=1)
    ]
    for job in by_prompt.values():  # ours but not (or no longer) in ComfyUI's queue
        status = job.record.status
        state_name = {JobStatus.CREATED: "submitting", JobStatus.DELIVERING: "uploading"}.get(status, "finishing")
        rows.append(_row(state_name, None, None, job, now))
    return rows


def _row(state: str, position: int | None, entry: QueueEntry | None, job: Job | None, now: float) -> QueueRow:
    if job is None:
        assert entry is not None
        return QueueRow(state, position, entry.prompt_id, client_id=entry.client_id, node_count=entry.node_count)
    record = job.record
    return QueueRow(
        state=state,
        position=position,
        prompt_id=record.prompt_id,
        job_id=record.job_id,
        owner_id=record.owner_id,
        workflow=job.spec.title if job.spec else record.workflow,
        age=max(0.0, now - record.created_at),
    )


async def refuse_non_admin(bot: DiscomfyBot, interaction: discord.Interaction[Any]) -> bool:
    """Component callbacks re-check admin: the message may have been forwarded, or admins reconfigured."""
    if interaction.user in bot.admins:
        return True
    log.info("Admin component refused for %s", interaction.user.id)
    await send_ephemeral(interaction, embed=error_embed(NotAdminError()))
    return False


class AdminCog(commands.Cog, name="Admin"):
    """Stop the running job and manage the queue; admins only, checked by the bot on every call."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot

    @app_commands.command(name="interrupt")
    @app_commands.describe(
        job="Only stop this job if it is the one running: a job id or ComfyUI prompt id (the first characters do)"
    )
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def interrupt(self, interaction: discord.Interaction[DiscomfyBot], job: str | None = None) -> None:
        """Stop the job ComfyUI is running right now."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if job is None:
            stopped = [p for p in await asyncio.gather(*(s.service.interrupt() for s in self._reachable())) if p]
            text = " ".join(map(self._stopped_text, stopped)) or "Nothing was running, so nothing was stopped."
        else:
            text = await self._interrupt_one(job.strip().lower())
        log.info("/interrupt by %s: %s", interaction.user.id, text)
        await interaction.followup.send(embed=discord.Embed(description=text), ephemeral=True)

    def _reachable(self) -> list[PoolServer]:
        """The servers to ask: every one when there is one (its error is the answer), else the connected ones."""
        pool = self.bot.comfy
        return list(pool) if not pool.multiple else [server for server in pool if server.connected]

    async def _interrupt_one(self, wanted: str) -> str:
        job = self._find_job(wanted)
        servers = (
            [s for s in self.bot.comfy if s is self.bot.comfy.get(job.record.server)] if job else self._reachable()
        )
        prompt_id, state, server = None, None, None
        for server in servers:
            state = await server.service.queue()
            entries = (*state.running, *state.pending)
            prompt_id = job.record.prompt_id if job else _match([(e.prompt_id, e.prompt_id) for e in entries], wanted)
            if prompt_id is not None:
                break
        if prompt_id is None or state is None or server is None:
            return f"No single job or prompt matches `{wanted}` (see /queue), so nothing was stopped."
        stopped = await server.service.interrupt(prompt_id)
        if stopped:
            return self._stopped_text(stopped)
        position = state.position(prompt_id)
        where = f"it is waiting at #{position} in the queue" if position else "it is not running"
        hint = " Use /queue to cancel a waiting job." if position else ""
        return f"`{wanted}` was not stopped: {where}.{hint}"

    def _find_job(self, wanted: str) -> Job | None:
        jobs = {job.job_id: job for job in self.bot.jobs.active()}
        pairs = [(job.job_id, job.job_id) for job in jobs.values()]
        pairs += [(job.record.prompt_id, job.job_id) for job in jobs.values() if job.record.prompt_id]
        found = _match(pairs, wanted)
        return jobs[found] if found else None

    def _stopped_text(self, prompt_id: str) -> str:
        job = next((j for j in self.bot.jobs.active() if j.record.prompt_id == prompt_id), None)
        if job is None:
            return f"Stopped prompt `{short_id(prompt_id)}`. It was not started by this bot (another ComfyUI client)."
        record = job.record
        title = job.spec.title if job.spec else record.workflow
        ran = f", after {duration(time.time() - record.started_at)} of running" if record.started_at else ""
        return (
            f"Stopped job `{short_id(record.job_id)}` ({title}, requested by <@{record.owner_id}>{ran}). "
            "Its message will show it as interrupted."
        )

    @interrupt.autocomplete("job")
    async def _job_choices(
        self, interaction: discord.Interaction[DiscomfyBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.user not in self.bot.admins:  # autocomplete does not run the command's checks
            return []
        choices = []
        for job in self.bot.jobs.active():
            snap = job.snapshot()
            if current.lower() in job.job_id or current.lower() in (job.record.prompt_id or ""):
                name = f"{short_id(job.job_id)} · {snap.workflow_title} · {snap.status.value}"
                choices.append(app_commands.Choice(name=name[:CHOICE_TEXT], value=job.job_id))
        return choices[:MAX_CHOICES]

    @app_commands.command(name="queue")
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def queue(self, interaction: discord.Interaction[DiscomfyBot]) -> None:
        """Show what ComfyUI runs and what waits; cancel waiting bot jobs."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        rows, servers = await self.queue_report()
        view = QueueView(self, rows, interaction)
        await interaction.followup.send(embed=queue_embed(rows, servers=servers), view=view, ephemeral=True)

    async def queue_report(self) -> QueueReport:
        """Every server's queue (running first, then waiting) with the bot's jobs there, then the bot's own queue."""
        pool, now, active, queued = self.bot.comfy, time.time(), self.bot.jobs.active(), self._bot_queue()
        rows: list[QueueRow] = []
        lines: list[ServerLine] = []
        for server, (state, stats) in zip(pool, await asyncio.gather(*map(self._server_state, pool)), strict=True):
            if state is None:
                lines.append(ServerLine(server.name, connected=False, drained=server.drained))
                continue
            there = [
                j
                for j in active
                if pool.get(j.record.server) is server and j.record.status is not JobStatus.WAITING and j not in queued
            ]
            found = build_queue_rows(state, there, now=now)
            rows += [replace(row, server=server.name) for row in found] if pool.multiple else found
            lines.append(
                ServerLine(
                    server.name,
                    connected=server.connected,
                    drained=server.drained,
                    running=len(state.running),
                    waiting=len(state.pending),
                    ours=sum(row.ours for row in found),
                    device=_device(stats),
                )
            )
        rows += [_row("in the bot's queue", place, None, job, now) for place, job in enumerate(queued, 1)]
        return rows, lines

    async def _server_state(self, server: PoolServer) -> tuple[QueueState | None, SystemStats | None]:
        """One server's queue and GPU; with several servers, one that does not answer is shown as not connected."""
        try:
            state = await server.service.queue()
        except ComfyError:
            if not self.bot.comfy.multiple:
                raise
            return None, None
        try:
            return state, await server.service.system_stats()
        except ComfyError:
            return state, None

    def _bot_queue(self) -> list[Job]:
        return self.bot.jobs.scheduler.waiting()

    def waiting_jobs(self) -> list[Job]:
        """The bot's jobs still waiting, in the bot's own queue or in ComfyUI's (not running, not finished)."""
        return self._bot_queue() + [
            job
            for job in self.bot.jobs.active()
            if job.record.status is JobStatus.QUEUED
            and job.handle is not None
            and job.handle.status is PromptStatus.QUEUED
        ]

    async def cancel_waiting(self, job_ids: Iterable[str]) -> int:
        """Delete these bot jobs from ComfyUI's queue if they still wait there; returns how many were cancelled."""
        waiting = {job.job_id: job for job in self.waiting_jobs()}
        cancelled = 0
        for job_id in job_ids:
            job = waiting.get(job_id)
            if job is not None and await self.bot.jobs.cancel(job):
                cancelled += 1
                log.info("Job %s cancelled from /queue", short_id(job_id))
        return cancelled


async def show_queue(cog: AdminCog, interaction: discord.Interaction[DiscomfyBot], note: str) -> None:
    """Edit the /queue message to show the queue as it is now, `note` on top; the interaction was deferred."""
    rows, servers = await cog.queue_report()
    view = QueueView(cog, rows, interaction)
    await interaction.edit_original_response(embed=queue_embed(rows, note=note, servers=servers), view=view)


class QueueView(PrivatePanel):
    """The /queue message's controls: cancel one waiting bot job, or clear them all after confirming."""

    def __init__(self, cog: AdminCog, rows: list[QueueRow], interaction: discord.Interaction[DiscomfyBot]) -> None:
        super().__init__(interaction, timeout=PANEL_TIMEOUT)
        self.cog = cog
        waiting = [row for row in rows if row.cancellable]
        if waiting:
            self.add_item(CancelJobSelect(waiting[:MAX_CHOICES]))
        self.clear_pending.disabled = not waiting

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await refuse_non_admin(self.cog.bot, interaction) and await super().interaction_check(interaction)

    async def refresh(self, interaction: discord.Interaction[DiscomfyBot], note: str) -> None:
        self.stop()
        await show_queue(self.cog, interaction, note)

    @discord.ui.button(label="Clear the bot's pending jobs", style=discord.ButtonStyle.danger, row=1)
    async def clear_pending(
        self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]
    ) -> None:
        count = len(self.cog.waiting_jobs())
        if not count:
            await interaction.response.defer()
            await self.refresh(interaction, "The bot has no waiting jobs to clear.")
            return
        self.stop()
        text = (
            f"Cancel all {count} waiting bot job(s)? The running job and other ComfyUI clients' prompts are left alone."
        )
        await interaction.response.edit_message(
            embed=discord.Embed(title="Clear the bot's pending jobs?", description=text, colour=discord.Colour.red()),
            view=ConfirmClearView(self.cog, interaction),
        )

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error, where="the /queue controls")


class CancelJobSelect(discord.ui.Select["QueueView"]):
    """Pick one waiting bot job to delete from ComfyUI's queue."""

    def __init__(self, rows: list[QueueRow]) -> None:
        options = [
            discord.SelectOption(
                label=f"#{row.position} · job {short_id(row.job_id)}"[:CHOICE_TEXT],
                value=row.job_id or "",
                description=f"{row.workflow} · requested by user {row.owner_id}"[:CHOICE_TEXT],
            )
            for row in rows
        ]
        super().__init__(placeholder="Cancel a waiting bot job…", options=options, row=0)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        assert self.view is not None
        await interaction.response.defer()
        job_id = self.values[0]
        if await self.view.cog.cancel_waiting([job_id]):
            note = f"Cancelled job `{short_id(job_id)}`."
        else:
            note = f"Job `{short_id(job_id)}` was no longer waiting (it started or finished), so it was not cancelled."
        await self.view.refresh(interaction, note)


class ConfirmClearView(PrivatePanel):
    """Yes/No before cancelling every waiting bot job."""

    def __init__(self, cog: AdminCog, interaction: discord.Interaction[DiscomfyBot]) -> None:
        super().__init__(interaction, timeout=PANEL_TIMEOUT)
        self.cog = cog

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await refuse_non_admin(self.cog.bot, interaction) and await super().interaction_check(interaction)

    @discord.ui.button(label="Yes, cancel them", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        self.stop()
        cancelled = await self.cog.cancel_waiting([job.job_id for job in self.cog.waiting_jobs()])
        log.info("/queue clear by %s: %d job(s) cancelled", interaction.user.id, cancelled)
        await show_queue(self.cog, interaction, f"Cancelled {cancelled} waiting bot job(s).")

    @discord.ui.button(label="No, keep them", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        self.stop()
        await show_queue(self.cog, interaction, "Nothing was cancelled.")

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error, where="the /queue confirmation")


def _device(stats: SystemStats | None) -> str | None:
    """`NVIDIA RTX 4090 · 18.2 of 24.0 GB free`, from the first device /system_stats lists."""
    if stats is None or not stats.devices:
        return None
    free, total = stats.vram[0] if stats.vram else (None, None)
    if free is None or total is None:
        return stats.devices[0]
    return f"{stats.devices[0]} · {free / 2**30:.1f} of {total / 2**30:.1f} GB free"


def _match(pairs: Iterable[tuple[str, str]], wanted: str) -> str | None:
    """The value whose key equals `wanted` or, failing that, the only value whose key starts with it."""
    pairs = list(pairs)
    exact = {value for key, value in pairs if key.lower() == wanted}
    found = exact or {value for key, value in pairs if wanted and key.lower().startswith(wanted)}
    return found.pop() if len(found) == 1 else None


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(AdminCog(bot))
