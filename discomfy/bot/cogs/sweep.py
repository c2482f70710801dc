"""/sweep: an X/Y plot of one prompt over one or two parameters, as one message that follows every cell.

Values are read by `discomfy.sweep.axes` (lists, ranges, seeds by count) and checked against the workflow's
limits and choices before anything starts; the grid then goes through the one admission path, counted against
the user's limits like a /batch, and is delivered with its labelled X/Y grid image (delivery.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.cogs.generate import (
    check_prompt_length,
    chosen_workflow,
    command_request,
    parse_seed,
    parse_settings,
    settings_choices,
    workflow_choices,
    workflow_here,
)
from discomfy.bot.limits import CHOICE_TEXT, MAX_CHOICES, STRING_OPTION
from discomfy.bot.presenter import Admission
from discomfy.bot.sweep_buttons import SWEEP_ITEMS
from discomfy.sweep.axes import SEED, parse_grid, sweepable_names
from discomfy.workflows import ParamSpec, ParamType
from discomfy.workflows.errors import InvalidParameterError, UnknownParameterError

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot
    from discomfy.workflows import WorkflowSpec

    Interaction = discord.Interaction[DiscomfyBot]

log = logging.getLogger(__name__)

DESCRIPTIONS: dict[str, str] = {
    "prompt": "What to make",
    "x": "The parameter across (e.g. cfg, steps, sampler, or seed)",
    "x_values": "Its values: a list (3,5,7), a range (10..40 step 10), or for seed a count (4)",
    "y": "The parameter down (optional; another parameter, or seed)",
    "y_values": "Its values, written like x_values",
    "workflow": "Which workflow to run (default: the server's default)",
    "negative": "What to leave out",
    "seed": "The seed every cell shares, or where a seed axis given as a count starts",
    "settings": "The workflow's other parameters, e.g. denoise=0.6 sampler=euler",
}


class SweepCog(commands.Cog, name="Sweep"):
    """Turn /sweep's axes into one job per cell of an X/Y grid."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot

    @app_commands.command(name="sweep")
    @app_commands.describe(**DESCRIPTIONS)
    async def sweep(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, STRING_OPTION],
        x: app_commands.Range[str, 1, 64],
        x_values: app_commands.Range[str, 1, 400],
        y: app_commands.Range[str, 1, 64] | None = None,
        y_values: app_commands.Range[str, 1, 400] | None = None,
        workflow: str | None = None,
        negative: str | None = None,
        seed: str | None = None,
        settings: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Compare values of one or two parameters side by side: one image per cell, and a labelled grid."""
        bot = self.bot
        check_prompt_length(bot, prompt)
        if (y is None) != (y_values is None):
            missing = "y_values" if y_values is None else "y"
            message = f"Give both y and y_values, or neither (`{missing}` is missing)."
            raise InvalidParameterError(message, parameter=missing)
        spec, defaults = await workflow_here(bot, interaction, workflow)
        axes = (x, x_values), (y, y_values) if y is not None and y_values is not None else None
        grid = parse_grid(spec, axes[0], axes[1], seed=parse_seed(seed), cap=bot.config.limits.max_sweep_cells)
        values = _fixed_values(spec, prompt, negative, settings, swept={a.name for a in grid.axes})
        values = {**defaults({*values, *(a.name for a in grid.axes)}), **values}
        request = command_request(interaction, spec, values)
        log.info("Sweep of %d cell(s) of %s for %s", grid.size, spec.name, interaction.user.id)
        await bot.presenter.start_jobs(interaction, Admission(request, sweep=grid))

    @sweep.autocomplete("workflow")
    async def _workflow_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await workflow_choices(self.bot, interaction, current)

    @sweep.autocomplete("x")
    @sweep.autocomplete("y")
    async def _axis_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The chosen workflow's parameters a sweep can vary, with what each allows."""
        spec = await chosen_workflow(self.bot, interaction)
        if spec is None:
            return []
        choices = [app_commands.Choice(name="seed (a count, or a list of seeds)", value=SEED)]
        for name in sweepable_names(spec):
            param = spec.parameter(name)
            allowed = f"{name} ({param.describe_allowed()})" if param else name
            choices.append(app_commands.Choice(name=allowed[:CHOICE_TEXT], value=name))
        typed = current.strip().lower()
        return [c for c in choices if c.value.startswith(typed)][:MAX_CHOICES]

    @sweep.autocomplete("settings")
    async def _settings_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The chosen workflow's parameters every cell shares, with their defaults."""
        spec = await chosen_workflow(self.bot, interaction)
        return settings_choices(_settable(spec, taken=("prompt", "negative")), current) if spec else []


def _settable(spec: WorkflowSpec, *, taken: Iterable[str]) -> list[ParamSpec]:
    """What `settings` may set in a sweep: any parameter but an image and those with an option of their own."""
    return [p for p in spec.parameters if p.name not in taken and p.type is not ParamType.IMAGE]


def _fixed_values(
    spec: WorkflowSpec, prompt: str, negative: str | None, settings: str | None, *, swept: set[str]
) -> dict[str, Any]:
    """What every cell shares: the prompt, the negative prompt and `settings`, none of them a swept parameter."""
    values: dict[str, Any] = {"prompt": prompt}
    if negative is not None:
        values["negative"] = negative
    for name in values:
        if spec.parameter(name) is None:
            offered = ", ".join(spec.parameter_names) or "none"
            raise UnknownParameterError(
                f"The workflow {spec.title} (`{spec.name}`) has no `{name}` option. Its options are: {offered}.",
                parameter=name,
                allowed=offered,
            )
    free = [p.name for p in _settable(spec, taken=values)]
    settings_values = parse_settings(spec, settings, taken=values.keys(), allowed=free)
    both = swept & settings_values.keys()
    if both:
        name = sorted(both)[0]
        message = f"settings: `{name}` is swept by the grid; leave it out of settings."
        raise InvalidParameterError(message, parameter="settings")
    return {**values, **settings_values}


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(SweepCog(bot))
    bot.add_dynamic_items(*SWEEP_ITEMS)
