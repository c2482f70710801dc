"""The controls of a /sweep result: run the grid again with new seeds, and start a /generate from one of its cells.

Persistent like every job button (buttons.py): the custom_id names the sweep's first delivered job, the store
has the rest (the batch's cells and the grid's axes).

- ``discomfy:resweep:<job_id>``   the same grid again, with fresh seeds (a seed axis gets as many new ones)
- ``discomfy:cell:<job_id>:<n>``  a select of the cells (the n-th group of 25): that cell's exact values and seed
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

import discord

from discomfy.bot.buttons import JOB_ID, PREFIX, JobButton, custom_id, job_record, request_from
from discomfy.bot.embeds import excerpt
from discomfy.bot.errors import ActionRefusedError, report_error
from discomfy.bot.limits import CHOICE_TEXT, MAX_CHOICES
from discomfy.bot.presenter import Admission
from discomfy.sweep.axes import Grid

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot
    from discomfy.store import JobRecord

    Interaction = discord.Interaction[DiscomfyBot]

log = logging.getLogger(__name__)

MAX_CELL_SELECTS = 4  # action rows 1-4, under the buttons' row: 100 cells at most (limits.max_sweep_cells)


async def _grid(bot: DiscomfyBot, record: JobRecord) -> Grid:
    sweep = await bot.jobs.store.sweep(record.batch_id) if record.batch_id else None
    if sweep is None:
        raise ActionRefusedError("This sweep is no longer in the bot's records, so this cannot do anything.")
    return Grid.of(sweep)


class ResweepButton(JobButton, template=rf"{PREFIX}:resweep:{JOB_ID}"):
    """The same grid and values again with fresh seeds, owned by the clicker and counted against their limits."""

    action, label, emoji = "resweep", "Re-run with new seeds", "🎲"

    async def run(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        grid = await _grid(bot, record)
        spec = bot.workflows.get(record.workflow)
        await bot.presenter.start_jobs(interaction, Admission(request_from(record, spec), sweep=grid.with_new_seeds()))


class CellSelect(
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=rf"{PREFIX}:cell:{JOB_ID}:(?P<group>\d)",
):
    """Pick a cell of the sweep: a /generate with exactly its values and seed starts."""

    def __init__(
        self, job_id: str, group: int, options: Sequence[discord.SelectOption] = (), *, row: int | None = None
    ):
        select: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id=custom_id("cell", job_id, str(group)),
            placeholder="Use a cell: make it again on its own…",
            options=list(options),
        )
        super().__init__(select, row=row)
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job_id"], int(match["group"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._use(interaction)
        except Exception as exc:  # discord.py would only log it: the clicker gets told instead
            await report_error(interaction, exc, where=self.item.custom_id)

    async def _use(self, interaction: Interaction) -> None:
        bot = interaction.client
        record = await job_record(bot, self.job_id)
        chosen = self.item.values[0] if self.item.values else ""
        cells = [job.record for job in await bot.jobs.batch_of(record)]
        cell = next((c for c in cells if str(c.batch_index) == chosen), None)
        if cell is None:
            raise ActionRefusedError("That cell is not part of this sweep any more.")
        spec = bot.workflows.get(cell.workflow)
        await bot.presenter.start_jobs(interaction, Admission(request_from(cell, spec, seed=cell.seed)))


def cell_selects(job_id: str, cells: Sequence[str]) -> list[CellSelect]:
    """Selects of every cell (25 to a select), labelled `3. cfg 5 · seed 12`; the value is its batch index."""
    selects = []
    for group, start in enumerate(range(0, len(cells), MAX_CHOICES)):
        if group >= MAX_CELL_SELECTS:
            log.warning("Sweep %s has %d cells; only the first %d can be picked", job_id, len(cells), start)
            break
        options = [
            discord.SelectOption(label=excerpt(f"{index + 1}. {cells[index]}", CHOICE_TEXT), value=str(index))
            for index in range(start, min(start + MAX_CHOICES, len(cells)))
        ]
        selects.append(CellSelect(job_id, group, options, row=1 + group))
    return selects


SWEEP_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (ResweepButton, CellSelect)
