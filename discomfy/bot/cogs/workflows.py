"""/workflow add|list|remove|reload|show: an admin manages the bot's workflows from Discord, live, no restart.

The work (conversion, analysis, checks, files, reloading) is in discomfy/workflows/manage.py; this cog is the
command surface: it asks ComfyUI for its node list, calls the core, and answers privately. /generate's
`workflow` option is autocompleted from the live library, so a change shows up at once without a command sync.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.cogs.admin import refuse_non_admin
from discomfy.bot.embeds import excerpt
from discomfy.bot.errors import WorkflowsNotReloadedError, report_error
from discomfy.bot.limits import CHOICE_TEXT, EMBED_DESCRIPTION, FIELD_VALUE, MAX_CHOICES
from discomfy.bot.panels import PANEL_TIMEOUT, PrivatePanel
from discomfy.bot.permissions import admin_only
from discomfy.comfy import ComfyError
from discomfy.workflows.errors import WorkflowFileError, WorkflowLoadError
from discomfy.workflows.manage import (
    MAX_WORKFLOW_BYTES,
    Draft,
    add_workflow,
    draft_workflow,
    mapping_text,
    needs_node_list,
    reload_workflows,
    remove_workflow,
    server_fit,
)

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot
    from discomfy.comfy.object_info import ObjectInfo
    from discomfy.workflows import WorkflowSpec
    from discomfy.workflows.errors import WorkflowError

log = logging.getLogger(__name__)

_LISTED = 12  # parameters named in the add reply before "and N more"


@app_commands.default_permissions(manage_guild=True)
class WorkflowCog(commands.GroupCog, group_name="workflow", group_description="Manage the bot's workflows (admins)"):
    """Add, list, remove, reload and show workflows; admins only, checked by the bot on every call."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot
        self.changes = asyncio.Lock()  # one change of the folder at a time
        super().__init__()

    async def servers(self) -> dict[str, ObjectInfo]:
        """Each ComfyUI server the bot uses that answers, by name, with its node list (the first is the one
        `add` analyzes against); one server is labelled by its address.

        Raises:
            ComfyError: no server answered.
        """
        pool = self.bot.comfy
        lists: dict[str, ObjectInfo] = {}
        failure: ComfyError | None = None
        for server in pool:
            try:
                info = await server.service.object_info()
            except ComfyError as exc:
                failure = exc
                continue
            url = urlsplit(server.service.settings.url)
            lists[server.name if pool.multiple else f"ComfyUI at {url.hostname}:{url.port or 80}"] = info
        if not lists and failure is not None:
            raise failure
        return lists

    async def node_list(self) -> ObjectInfo:
        """The node list UI-format saves are converted with: the first server's that answers."""
        return next(iter((await self.servers()).values()))

    @app_commands.command(name="add")
    @app_commands.describe(
        file="The workflow JSON: saved from ComfyUI in either format (Save, or Export (API))",
        name="Its name in /generate (default: from the file name)",
        title="What /generate shows for it (you can change it after)",
        description="A line about what it does",
    )
    @admin_only()
    async def add(
        self,
        interaction: discord.Interaction[DiscomfyBot],
        file: discord.Attachment,
        name: str | None = None,
        title: str | None = None,
        description: str = "",
    ) -> None:
        """Add a workflow from a JSON file: converted, analyzed against ComfyUI, live at once."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if file.size > MAX_WORKFLOW_BYTES:
            raise WorkflowFileError(
                "is larger than 8 MB, too large for a workflow; nothing was written", file=file.filename
            )
        data = await file.read()
        (label, info), *_ = (await self.servers()).items()
        draft = await asyncio.to_thread(
            draft_workflow, data, filename=file.filename, name=name and name.strip(), info=info
        )
        async with self.changes:
            spec = await asyncio.to_thread(
                add_workflow, self.bot.workflows, draft, title=title, description=description, info=info
            )
        log.info("/workflow add %s by %s", spec.name, interaction.user.id)
        view = AddedView(self, draft, interaction, info)
        await interaction.followup.send(embed=added_embed(spec, draft, label), view=view, ephemeral=True)

    @app_commands.command(name="list")
    @admin_only()
    async def list_(self, interaction: discord.Interaction[DiscomfyBot]) -> None:
        """List the workflows and which ComfyUI servers can run each."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        fit = server_fit(self.bot.workflows, await self.servers())
        await interaction.followup.send(embed=list_embed(self.bot.workflows, fit), ephemeral=True)

    @app_commands.command(name="remove")
    @app_commands.describe(name="The workflow to remove (its JSON and YAML are deleted)")
    @admin_only()
    async def remove(self, interaction: discord.Interaction[DiscomfyBot], name: str) -> None:
        """Remove a workflow, after a confirmation."""
        spec = self.bot.workflows.get(name)
        files = f"`{spec.mapping_path.name}` and `{spec.graph_path.name}`"
        text = f"Remove **{spec.title}** (`{spec.name}`)? Its files {files} are deleted."
        embed = discord.Embed(title="Remove this workflow?", description=text, colour=discord.Colour.red())
        await interaction.response.send_message(
            embed=embed, view=ConfirmRemoveView(self, spec.name, interaction), ephemeral=True
        )

    @app_commands.command(name="reload")
    @admin_only()
    async def reload(self, interaction: discord.Interaction[DiscomfyBot]) -> None:
        """Load the workflows folder again after editing files by hand; a broken folder changes nothing."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = self.bot.workflows
        info = await self.node_list() if needs_node_list(library) else None
        async with self.changes:
            try:
                await asyncio.to_thread(reload_workflows, library, info)
            except WorkflowLoadError as exc:
                raise WorkflowsNotReloadedError(f"Nothing changed: the previous workflows stay live.\n{exc}") from exc
        log.info("/workflow reload by %s: %s", interaction.user.id, ", ".join(library.names))
        text = f"Reloaded {len(library)} workflow(s): " + ", ".join(f"`{n}`" for n in library.names)
        await interaction.followup.send(
            embed=discord.Embed(description=excerpt(text, EMBED_DESCRIPTION)), ephemeral=True
        )

    @app_commands.command(name="show")
    @app_commands.describe(name="The workflow whose mapping to show")
    @admin_only()
    async def show(self, interaction: discord.Interaction[DiscomfyBot], name: str) -> None:
        """Show a workflow's mapping (its YAML), privately."""
        spec = self.bot.workflows.get(name)
        text = await asyncio.to_thread(mapping_text, spec)
        body = excerpt(text, EMBED_DESCRIPTION - 20)
        embed = discord.Embed(title=f"{spec.title} (`{spec.name}`)", description=f"```yaml\n{body}\n```")
        upload = discord.File(io.BytesIO(text.encode("utf-8")), filename=spec.mapping_path.name)
        await interaction.response.send_message(embed=embed, file=upload, ephemeral=True)

    @remove.autocomplete("name")
    @show.autocomplete("name")
    async def _names(self, interaction: discord.Interaction[DiscomfyBot], current: str) -> list[Any]:
        """Workflow names for admins only (autocomplete does not run the command's checks)."""
        specs = self.bot.workflows.matching(current, MAX_CHOICES) if interaction.user in self.bot.admins else ()
        return [app_commands.Choice(name=f"{s.name} · {s.title}"[:CHOICE_TEXT], value=s.name) for s in specs]


def added_embed(spec: WorkflowSpec, draft: Draft, server: str) -> discord.Embed:
    """What /workflow add found: parameters, seeds, outputs, and what the server lacks."""
    embed = discord.Embed(
        title=f"Added {spec.title} (`{spec.name}`)",
        description=excerpt(spec.description or "Live for /generate now. Set a title and description below.", 400),
        colour=discord.Colour.green() if not draft.missing else discord.Colour.orange(),
    )
    params = [f"`{p.name}` {p.type.value}" for p in spec.parameters]
    shown = ", ".join(params[:_LISTED]) + (f" and {len(params) - _LISTED} more" if len(params) > _LISTED else "")
    embed.add_field(name="Parameters", value=excerpt(shown or "none", FIELD_VALUE), inline=False)
    if spec.parameter("prompt") is None:
        no_prompt = (
            "No text input was found for `prompt`, which /generate, /batch and /sweep ask for: map one in "
            f"`{spec.name}.yaml` (a text input's node and input), then /workflow reload."
        )
        embed.add_field(name="Prompt", value=no_prompt, inline=False)
    seeds = ", ".join(f"`{ref}`" for ref in spec.seed_inputs) or "none: every job is the same"
    embed.add_field(name="Seeds", value=excerpt(seeds, FIELD_VALUE), inline=False)
    embed.add_field(
        name="Outputs", value=excerpt(", ".join(f"node `{n}`" for n in spec.outputs) or "none", FIELD_VALUE)
    )
    embed.add_field(name=f"On {server}", value=excerpt(_fit_text(draft.missing), FIELD_VALUE), inline=False)
    return embed


def list_embed(workflows: Any, fit: Mapping[str, Mapping[str, tuple[WorkflowError, ...]]]) -> discord.Embed:
    """Every workflow with the servers that can run it, and what the others lack."""
    lines = []
    for spec in workflows:
        verdicts = [
            f"✓ {label}" if not problems else f"✗ {label}: {_fit_text(problems)}"
            for label, problems in fit.get(spec.name, {}).items()
        ]
        lines.append(f"**{spec.title}** (`{spec.name}`)\n" + "\n".join(f"  {v}" for v in verdicts))
    text = "\n".join(lines) or "No workflows are loaded. Add one with /workflow add."
    return discord.Embed(title="Workflows", description=excerpt(text, EMBED_DESCRIPTION))


def _fit_text(problems: tuple[WorkflowError, ...]) -> str:
    if not problems:
        return "can run it"
    first = problems[0].message
    return excerpt(first, 300) + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


class AddedView(PrivatePanel):
    """Under /workflow add's reply: set the new workflow's title and description."""

    def __init__(
        self, cog: WorkflowCog, draft: Draft, interaction: discord.Interaction[DiscomfyBot], info: ObjectInfo
    ) -> None:
        super().__init__(interaction, timeout=PANEL_TIMEOUT)
        self.cog, self.draft, self.info = cog, draft, info

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await refuse_non_admin(self.cog.bot, interaction) and await super().interaction_check(interaction)

    @discord.ui.button(label="Set title and description", style=discord.ButtonStyle.primary)
    async def describe(self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]) -> None:
        spec = self.cog.bot.workflows.get(self.draft.name)
        await interaction.response.send_modal(DescribeModal(self, spec))

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error, where="the /workflow add controls")


class DescribeModal(discord.ui.Modal):
    """Title and description of an added workflow; written into its mapping, live at once."""

    def __init__(self, view: AddedView, spec: WorkflowSpec) -> None:
        super().__init__(title="Workflow title and description")
        self.view = view
        self.title_input: discord.ui.TextInput[DescribeModal] = discord.ui.TextInput(
            custom_id="title", default=spec.title[:100], max_length=100, required=True
        )
        self.description_input: discord.ui.TextInput[DescribeModal] = discord.ui.TextInput(
            custom_id="description", default=spec.description[:100] or None, max_length=100, required=False
        )
        self.add_item(discord.ui.Label(text="Title", component=self.title_input))
        self.add_item(discord.ui.Label(text="Description", component=self.description_input))

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        view = self.view
        if not await refuse_non_admin(view.cog.bot, interaction):
            return
        await interaction.response.defer(ephemeral=True)
        async with view.cog.changes:
            spec = await asyncio.to_thread(
                add_workflow,
                view.cog.bot.workflows,
                view.draft,
                title=self.title_input.value.strip(),
                description=self.description_input.value.strip(),
                info=view.info,
                replace=True,
            )
        log.info("/workflow add %s: titled %r by %s", spec.name, spec.title, interaction.user.id)
        server = next(iter(await view.cog.servers()))
        await interaction.edit_original_response(embed=added_embed(spec, view.draft, server), view=view)

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # type: ignore[override]
        await report_error(interaction, error, where="the workflow title form")


class ConfirmRemoveView(PrivatePanel):
    """Yes/No before a workflow's files are deleted."""

    def __init__(self, cog: WorkflowCog, name: str, interaction: discord.Interaction[DiscomfyBot]) -> None:
        super().__init__(interaction, timeout=PANEL_TIMEOUT)
        self.cog, self.name = cog, name

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await refuse_non_admin(self.cog.bot, interaction) and await super().interaction_check(interaction)

    @discord.ui.button(label="Yes, remove it", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]) -> None:
        self.stop()
        library = self.cog.bot.workflows
        async with self.cog.changes:
            spec = await asyncio.to_thread(remove_workflow, library, self.name)
        log.info("/workflow remove %s by %s", spec.name, interaction.user.id)
        text = f"Removed **{spec.title}** (`{spec.name}`). {len(library)} workflow(s) remain."
        await interaction.response.edit_message(embed=discord.Embed(description=text), view=None)

    @discord.ui.button(label="No, keep it", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(embed=discord.Embed(description="Nothing was removed."), view=None)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error, where="the /workflow remove confirmation")


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(WorkflowCog(bot))
