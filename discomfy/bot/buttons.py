"""Persistent buttons: DynamicItems whose whole state is their custom_id plus the job store, so a restart loses none.

custom_id scheme: ``discomfy:<action>:<job_id>[:<arg>]`` (job_id is a uuid4 hex, so at most 60 characters):

- ``discomfy:cancel:<job_id>``          cancel the job, or its whole batch when it belongs to one (owner or admin)
- ``discomfy:reroll:<job_id>[:batch]``  same parameters, fresh seed; ``:batch`` re-rolls every job of the batch
- ``discomfy:vary:<job_id>``            `limits.variations` new jobs with fresh random seeds, shown as a batch
- ``discomfy:edit:<job_id>``            a modal to edit the prompt (and negative), then the same seed again
- ``discomfy:upscale:<job_id>:<n>``     run `workflows.upscale` on the n-th image file of the result
- ``discomfy:info:<job_id>``            an ephemeral embed with everything about the job (or batch)
- ``discomfy:delete:<job_id>``          delete the result message(s) (owner or admin)
- ``discomfy:retry:<job_id>``           submit a failed or lost job's stored graph again

The controls of a /sweep result (``resweep``, ``cell``) are in sweep_buttons.py; controls.py builds the views.

Variations use fresh random seeds rather than the record's seed + 1...: neighbouring seeds give no more similar
images than random ones, and a /batch sweep already used seed + 1... (its variations would repeat its siblings).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import discord

from discomfy.bot.embeds import info_embed
from discomfy.bot.errors import ActionRefusedError, report_error
from discomfy.bot.limits import TEXT_INPUT
from discomfy.bot.presenter import Admission
from discomfy.ids import short_id
from discomfy.job import InputImage, JobRequest
from discomfy.media import STILL_IMAGE_SUFFIXES
from discomfy.workflows import ParamType, WorkflowSpec, sweep_seeds

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot
    from discomfy.store import JobRecord

    Interaction = discord.Interaction[DiscomfyBot]

log = logging.getLogger(__name__)

PREFIX = "discomfy"
BATCH = "batch"
MODAL_TIMEOUT = 15 * 60.0  # an interaction token lives 15 minutes; the modal cannot outlive it
JOB_ID = r"(?P<job_id>[0-9a-f]{32})"


def custom_id(action: str, job_id: str, arg: str | None = None) -> str:
    """`discomfy:<action>:<job_id>[:<arg>]`, the one format every button here uses."""
    return f"{PREFIX}:{action}:{job_id}" + (f":{arg}" if arg is not None else "")


def image_files(paths: Sequence[str]) -> list[str]:
    """The result files that are still images (what Upscale can take), in delivery order."""
    return [p for p in paths if Path(p).suffix.lower() in STILL_IMAGE_SUFFIXES]


# ---- helpers shared by the buttons ---------------------------------------------------------------


async def job_record(bot: DiscomfyBot, job_id: str) -> JobRecord:
    """The job a button names, from the store (its whole state after a restart)."""
    record = await bot.jobs.store.get(job_id)
    if record is None:
        raise ActionRefusedError("This job is no longer in the bot's records, so this button cannot do anything.")
    return record


async def _batch_records(bot: DiscomfyBot, record: JobRecord) -> list[JobRecord]:
    """The jobs a message shows together: the record's batch, or the record alone."""
    return [job.record for job in await bot.jobs.batch_of(record)]


def _require_owner_or_admin(interaction: Interaction, record: JobRecord, what: str) -> None:
    if interaction.user.id != record.owner_id and interaction.user not in interaction.client.admins:
        raise ActionRefusedError(f"Only <@{record.owner_id}>, who asked for this, or a DisComfy admin can {what}.")


def _values_for(spec: WorkflowSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values the workflow still takes (its YAML may have changed since)."""
    return {name: value for name, value in params.items() if spec.parameter(name) is not None}


def request_from(
    record: JobRecord,
    spec: WorkflowSpec,
    *,
    values: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> JobRequest:
    """A new request from a stored job: its workflow, values and channel (`start_jobs` makes the clicker its owner)."""
    return JobRequest(
        owner_id=record.owner_id,
        channel_id=record.channel_id,
        guild_id=record.guild_id,
        workflow=spec.name,
        values={**_values_for(spec, record.params), **(values or {})},
        seed=seed,
        server=record.server if spec.takes_images else None,  # its input images are there
    )


def _several(count: int) -> tuple[int | None, ...] | None:
    """One job (None), or a batch of `count` with distinct fresh seeds."""
    return None if count == 1 else tuple(sweep_seeds(count))


# ---- the buttons ---------------------------------------------------------------------------------


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{PREFIX}:(?P<action>[a-z]+):{JOB_ID}(?::(?P<arg>[a-z0-9]+))?",
):
    """Base of every button: builds itself from a custom_id and answers any error privately."""

    action: ClassVar[str]
    label: ClassVar[str]
    emoji: ClassVar[str | None] = None
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary

    def __init__(self, job_id: str, arg: str | None = None, *, label: str | None = None, row: int | None = None):
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label=label or self.label, emoji=self.emoji, style=self.style, custom_id=custom_id(self.action, job_id, arg)
        )
        super().__init__(button, row=row)
        self.job_id = job_id
        self.arg = arg

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job_id"], match.groupdict().get("arg"))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction)
        except Exception as exc:  # discord.py would only log it: the clicker gets told instead
            await report_error(interaction, exc, where=self.custom_id)

    async def run(self, interaction: Interaction) -> None:
        """What the button does; every concrete button defines it."""
        raise TypeError(f"{type(self).__name__} does not define run()")


class CancelButton(JobButton, template=rf"{PREFIX}:cancel:{JOB_ID}"):
    """Cancel a pending job, or every pending job of its batch; owner or admin only."""

    action, label, emoji, style = "cancel", "Cancel", "✖️", discord.ButtonStyle.danger

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        _require_owner_or_admin(interaction, record, "cancel it")
        await interaction.response.defer()  # the presenter shows the cancellation on the message itself
        cancelled = 0
        for member in await _batch_records(bot, record):
            job = bot.jobs.get(member.job_id)
            if job is not None and not job.finished and await bot.jobs.cancel(job):
                cancelled += 1
        log.info("%s cancelled %d job(s) of %s", interaction.user.id, cancelled, short_id(self.job_id))
        text = f"Cancelled {cancelled} job(s)." if cancelled else "Nothing to cancel: it has already finished."
        await interaction.followup.send(text, ephemeral=True)


class RerollButton(JobButton, template=rf"{PREFIX}:reroll:{JOB_ID}(?::(?P<arg>{BATCH}))?"):
    """The same parameters with a fresh seed; on a batch message, the whole batch again."""

    action, label, emoji = "reroll", "Re-roll", "🎲"

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        spec = bot.workflows.get(record.workflow)
        count = len(await _batch_records(bot, record)) if self.arg == BATCH else 1
        await bot.presenter.start_jobs(interaction, Admission(request_from(record, spec), seeds=_several(count)))


class VariationsButton(JobButton, template=rf"{PREFIX}:vary:{JOB_ID}"):
    """`limits.variations` jobs of the same parameters with fresh random seeds, delivered as a batch."""

    action, label, emoji = "vary", "Variations", "🔀"

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        spec = bot.workflows.get(record.workflow)
        seeds = _several(bot.config.limits.variations)
        await bot.presenter.start_jobs(interaction, Admission(request_from(record, spec), seeds=seeds))


class EditButton(JobButton, template=rf"{PREFIX}:edit:{JOB_ID}"):
    """Open a form with the prompt (and negative prompt) filled in; submitting reuses the seed."""

    action, label, emoji = "edit", "Edit & reuse seed", "✏️"

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        spec = bot.workflows.get(record.workflow)
        if spec.parameter("prompt") is None:
            raise ActionRefusedError(f"{spec.title} has no prompt to edit.")
        await interaction.response.send_modal(EditModal(record, spec, max_prompt=bot.config.limits.max_prompt_length))


class EditModal(discord.ui.Modal):
    """The Edit & reuse seed form; on submit, reads the job again from the store and queues the edit."""

    def __init__(self, record: JobRecord, spec: WorkflowSpec, *, max_prompt: int) -> None:
        super().__init__(title="Edit & reuse seed", timeout=MODAL_TIMEOUT)
        self.job_id = record.job_id
        self.prompt = _text_input(spec, "prompt", record.params.get("prompt"), max_prompt, required=True)
        self.add_item(discord.ui.Label(text="Prompt", component=self.prompt))
        self.negative: discord.ui.TextInput[Self] | None = None
        if spec.parameter("negative") is not None:
            self.negative = _text_input(spec, "negative", record.params.get("negative"), max_prompt, required=False)
            self.add_item(discord.ui.Label(text="Negative prompt", component=self.negative))

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        spec = bot.workflows.get(record.workflow)
        values = {"prompt": self.prompt.value}
        if self.negative is not None:
            values["negative"] = self.negative.value
        request = request_from(record, spec, values=values, seed=record.seed)
        await bot.presenter.start_jobs(interaction, Admission(request))

    # discord.py's Modal itself narrows BaseView.on_error to these two arguments; this matches Modal's.
    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # type: ignore[override]
        await report_error(interaction, error, where=f"{PREFIX}:edit form:{self.job_id}")


def _text_input(
    spec: WorkflowSpec, name: str, current: Any, max_prompt: int, *, required: bool
) -> discord.ui.TextInput[Any]:
    param = spec.parameter(name)
    limit = min(TEXT_INPUT, max_prompt, (param.max_length if param else None) or TEXT_INPUT)
    default = str(current)[:limit] if current else None
    return discord.ui.TextInput(
        style=discord.TextStyle.paragraph,
        custom_id=name,
        default=default,
        required=required,
        max_length=limit,
    )


class UpscaleButton(JobButton, template=rf"{PREFIX}:upscale:{JOB_ID}(?::(?P<arg>\d{{1,2}}))?"):
    """Run the configured upscale workflow on one image of this result, uploaded from the bot's disk."""

    action, label, emoji = "upscale", "Upscale", "🔍"

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        spec = bot.workflows.find(bot.config.workflows.upscale or "")
        if spec is None:
            raise ActionRefusedError("Upscaling is not set up on this bot (workflows.upscale in its config).")
        slot = next((p for p in spec.parameters if p.type is ParamType.IMAGE), None)
        if slot is None:
            raise ActionRefusedError(f"The upscale workflow {spec.title} takes no image, so it cannot upscale this.")
        images = image_files(record.output_files)
        index = int(self.arg or 0)
        if index >= len(images):
            raise ActionRefusedError("This result has no image to upscale.")
        path = Path(images[index])
        if not await asyncio.to_thread(path.is_file):
            raise ActionRefusedError(
                "The image file of this result is no longer on the bot's disk, so it cannot be upscaled. "
                "Use Edit & reuse seed to make it again."
            )
        texts = {
            p.name: record.params[p.name]
            for p in spec.parameters
            if p.type is ParamType.STR and p.name in record.params
        }
        request = JobRequest(
            owner_id=record.owner_id,
            channel_id=record.channel_id,
            guild_id=record.guild_id,
            workflow=spec.name,
            values={**texts, slot.name: path.name},
            seed=record.seed,
            images={slot.name: InputImage(await asyncio.to_thread(path.read_bytes), path.name)},
        )
        await bot.presenter.start_jobs(interaction, Admission(request))


class InfoButton(JobButton, template=rf"{PREFIX}:info:{JOB_ID}"):
    """Everything about the job (or its batch), privately: parameters, seeds, timings, ids."""

    action, label, emoji = "info", "Info", "ℹ️"

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        batch = await _batch_records(bot, record)
        embed = info_embed(record, bot.workflows.find(record.workflow), batch=batch)
        await interaction.response.send_message(embed=embed, ephemeral=True)


class DeleteButton(JobButton, template=rf"{PREFIX}:delete:{JOB_ID}"):
    """Delete the result: the clicked message and any other message of the same job(s); owner or admin only."""

    action, label, emoji, style = "delete", "Delete", "🗑️", discord.ButtonStyle.danger

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        _require_owner_or_admin(interaction, record, "delete it")
        await interaction.response.defer()
        message_ids = {mid for member in await _batch_records(bot, record) for mid in member.message_ids}
        if interaction.message is not None:
            message_ids.add(interaction.message.id)
        channel = bot.get_partial_messageable(interaction.channel_id or record.channel_id)
        for message_id in sorted(message_ids):
            try:
                await channel.get_partial_message(message_id).delete()
            except discord.NotFound:
                log.debug("Message %s of job %s was already gone", message_id, short_id(record.job_id))
        log.info("%s deleted the result of job %s", interaction.user.id, short_id(record.job_id))


class RetryButton(JobButton, template=rf"{PREFIX}:retry:{JOB_ID}"):
    """Submit a failed or lost job's exact graph again, owned by the clicker."""

    action, label, emoji, style = "retry", "Retry", "🔁", discord.ButtonStyle.primary

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        if not record.status.is_unsuccessful or not record.graph:
            raise ActionRefusedError("Only a failed, cancelled or lost job can be retried.")
        spec = bot.workflows.get(record.workflow)  # a removed workflow's graph would escape the channel's rules
        request = JobRequest(
            owner_id=record.owner_id,
            channel_id=record.channel_id,
            guild_id=record.guild_id,
            workflow=spec.name,
            values=record.params,
        )
        await bot.presenter.start_jobs(interaction, Admission(request, retry_of=record))


DYNAMIC_ITEMS: tuple[type[JobButton], ...] = (
    CancelButton,
    RerollButton,
    VariationsButton,
    EditButton,
    UpscaleButton,
    InfoButton,
    DeleteButton,
    RetryButton,
)


async def setup(bot: DiscomfyBot) -> None:
    """Loaded as an extension: old messages' buttons keep working after a restart."""
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
