"""The buttons each stage of a job's message carries (messages.Controls): built from the persistent items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from discomfy.bot.buttons import (
    BATCH,
    CancelButton,
    DeleteButton,
    EditButton,
    InfoButton,
    RerollButton,
    RetryButton,
    UpscaleButton,
    VariationsButton,
    image_files,
)
from discomfy.bot.sweep_buttons import ResweepButton, cell_selects

if TYPE_CHECKING:
    from discomfy.store import JobRecord

MAX_UPSCALE_BUTTONS = 5  # one action row


class JobControls:
    """Builds the views of job messages from the buttons above; the presenter and delivery get it injected."""

    def queued(self, job_id: str) -> discord.ui.View:
        """A queued or running message: Cancel (the whole batch when the message shows several jobs)."""
        view = discord.ui.View(timeout=None)
        view.add_item(CancelButton(job_id))
        return view

    def result(self, record: JobRecord, *, upscale: bool, batch: bool = False) -> discord.ui.View:
        """A delivered result; a batch message gets Re-roll batch, Info and Delete."""
        view = discord.ui.View(timeout=None)
        if batch:
            view.add_item(RerollButton(record.job_id, BATCH, label="Re-roll batch"))
            view.add_item(InfoButton(record.job_id))
            view.add_item(DeleteButton(record.job_id))
            return view
        view.add_item(RerollButton(record.job_id, row=0))
        view.add_item(VariationsButton(record.job_id, row=0))
        if "prompt" in record.params:
            view.add_item(EditButton(record.job_id, row=0))
        view.add_item(InfoButton(record.job_id, row=0))
        view.add_item(DeleteButton(record.job_id, row=0))
        if upscale:
            images = image_files(record.output_files)[:MAX_UPSCALE_BUTTONS]
            for index in range(len(images)):
                label = "Upscale" if len(images) == 1 else f"Upscale {index + 1}"
                view.add_item(UpscaleButton(record.job_id, str(index), label=label, row=1))
        return view

    def retry(self, record: JobRecord) -> discord.ui.View:
        """A failed, cancelled or lost job: Retry and Info."""
        view = discord.ui.View(timeout=None)
        view.add_item(RetryButton(record.job_id))
        view.add_item(InfoButton(record.job_id))
        return view

    def sweep(self, record: JobRecord, cells: Sequence[str]) -> discord.ui.View:
        """A delivered sweep: Re-run with new seeds, Info, Delete, and a select of its cells (`cells`: their labels)."""
        view = discord.ui.View(timeout=None)
        view.add_item(ResweepButton(record.job_id, row=0))
        view.add_item(InfoButton(record.job_id, row=0))
        view.add_item(DeleteButton(record.job_id, row=0))
        for select in cell_selects(record.job_id, cells):
            view.add_item(select)
        return view
