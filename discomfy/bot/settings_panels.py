"""The private panels of /settings channel|server and /preferences: selects save at once, a form takes text and
numbers; after every change the panel is drawn again from what is stored."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord

from discomfy.bot.cogs.generate import SIZES
from discomfy.bot.embeds import excerpt
from discomfy.bot.errors import NotAdminError, report_error, send_ephemeral
from discomfy.bot.limits import CHOICE_TEXT, MAX_CHOICES, TEXT_INPUT
from discomfy.bot.panels import PrivatePanel
from discomfy.policy import ChannelRules, ChannelSettings, Preferences, Scope, SettingError
from discomfy.workflows import WorkflowSpec

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot

NOT_SET = "-"  # the option that leaves a setting to the scope above (or forgets a preference)
SIZE_LABEL = "Size: WIDTHxHEIGHT or square/portrait/landscape"
_SIZE_RE = re.compile(r"\s*(\d{2,5})\s*[x×*,]\s*(\d{2,5})\s*")
_FROM = {
    Scope.CHANNEL: "this channel",
    Scope.CATEGORY: "the category",
    Scope.GUILD: "the server",
    Scope.CONFIG: "the bot's config",
}
Changes = dict[str, Any]


# ---- reading what admins and members type -------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int] | None:
    """`1024x768`, or a preset name (`square`, `portrait`, `landscape`); empty: not set.

    Raises:
        SettingError: anything else.
    """
    text = text.strip().lower()
    if not text:
        return None
    if text in SIZES:
        return SIZES[text]
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        presets = ", ".join(SIZES)
        raise SettingError(f"Size `{excerpt(text, 40)}` is not WIDTHxHEIGHT (e.g. 1024x768) nor one of: {presets}.")
    return int(match[1]), int(match[2])


def parse_number(text: str, name: str) -> int | None:
    """A whole number, or None for an empty field.

    Raises:
        SettingError: not a whole number.
    """
    text = text.strip()
    if not text:
        return None
    if not text.isdecimal():
        raise SettingError(f"{name} must be a whole number (got `{excerpt(text, 40)}`), or empty to inherit it.")
    return int(text)


# ---- how settings read ---------------------------------------------------------------------------------


def _size(width: int | None, height: int | None) -> str | None:
    return f"{width}x{height}" if width is not None and height is not None else None


def describe(values: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(label, value in words or None when not set) for every setting, in the panels' order."""
    workflows = values.get("workflows")
    on_off = {True: "on", False: "off", None: None}
    return [
        ("Bot answers", {True: "yes", False: "no, switched off", None: None}[values.get("enabled")]),
        ("Allowed workflows", ", ".join(f"`{name}`" for name in workflows) if workflows is not None else None),
        ("Default workflow", f"`{values['default_workflow']}`" if values.get("default_workflow") else None),
        ("Size", _size(values.get("width"), values.get("height"))),
        ("Steps", str(values["steps"]) if values.get("steps") is not None else None),
        ("Negative prompt", excerpt(values["negative"], 200) if values.get("negative") else None),
        ("Spoilers", on_off[values.get("spoiler")]),
        ("Max count", str(values["max_count"]) if values.get("max_count") is not None else None),
    ]


def scope_embed(settings: ChannelSettings, *, label: str) -> discord.Embed:
    """What one scope sets itself; the rest is inherited."""
    embed = discord.Embed(title=f"Settings of {label}", colour=discord.Colour.blurple())
    embed.description = "What is not set here is inherited: channel ← category ← server ← the bot's config."
    for name, value in describe(settings.to_json()):
        embed.add_field(name=name, value=value or "*inherited*")
    return embed


def rules_embed(rules: ChannelRules, *, label: str, blocklist_rules: int) -> discord.Embed:
    """The settings that hold in a channel, each with where it comes from."""
    embed = discord.Embed(title=f"Settings in effect in {label}", colour=discord.Colour.blurple())
    values = {name: getattr(rules, name) for name in rules.sources}
    defaults = {
        "Bot answers": "yes",
        "Allowed workflows": "all",
        "Default workflow": "the first allowed",
        "Size": "the workflow's",
        "Steps": "the workflow's",
        "Negative prompt": "the workflow's",
        "Spoilers": "off",
        "Max count": "the bot's limits",
    }
    sources = {label: rules.sources.get(name) for label, name in zip(defaults, _FIELDS, strict=True)}
    for name, value in describe(values):
        source = sources[name]
        where = f" · from {_FROM[source]}" if source is not None else ""
        embed.add_field(name=name, value=f"{value or defaults[name]}{where}")
    if rules.place.nsfw:
        embed.add_field(name="Age-restricted", value="yes: nsfw workflows run here")
    embed.set_footer(text=f"Prompt blocklist: {blocklist_rules} rule(s) (/settings blocklist list)")
    return embed


_FIELDS = ("enabled", "workflows", "default_workflow", "width", "steps", "negative", "spoiler", "max_count")


def preferences_embed(preferences: Preferences) -> discord.Embed:
    embed = discord.Embed(title="Your preferences", colour=discord.Colour.blurple())
    embed.description = (
        "Used when you leave an option out, under each channel's rules: a channel that does not allow your "
        "workflow uses its own default, and a channel's spoiler setting always holds."
    )
    embed.add_field(name="Workflow", value=f"`{preferences.workflow}`" if preferences.workflow else "*not set*")
    embed.add_field(name="Size", value=_size(preferences.width, preferences.height) or "*not set*")
    embed.add_field(name="Spoilers", value="on" if preferences.spoiler else "*not set*")
    embed.add_field(
        name="Negative prompt", value=excerpt(preferences.negative, 200) if preferences.negative else "*not set*"
    )
    return embed


# ---- the controls -------------------------------------------------------------------------------------


def _options(choices: Iterable[tuple[str, str]], chosen: Iterable[str]) -> list[discord.SelectOption]:
    picked = set(chosen)
    return [
        discord.SelectOption(label=excerpt(label, CHOICE_TEXT), value=value, default=value in picked)
        for label, value in choices
    ]


def _workflow_choices(specs: Sequence[WorkflowSpec], first: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    room = MAX_CHOICES - (1 if first else 0)
    named = [(f"{spec.title} ({spec.name})" + (" · age-restricted" if spec.nsfw else ""), spec.name) for spec in specs]
    return ([first] if first else []) + named[:room]


class _Select(discord.ui.Select["SettingsPanel"]):
    """A select whose choice becomes changes to save."""

    def __init__(self, to_changes: Callable[[list[str]], Changes], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.to_changes = to_changes

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        assert self.view is not None
        await self.view.save(interaction, self.to_changes(self.values))


class _Button(discord.ui.Button["SettingsPanel"]):
    def __init__(self, action: Callable[[discord.Interaction[Any]], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.action = action

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await self.action(interaction)


def _default_workflow(
    specs: Sequence[WorkflowSpec], name: str, current: str | None, unset: str, *, row: int
) -> _Select:
    """A select of one workflow (or none: `unset`) for setting `name`."""
    choices = _workflow_choices(specs, (unset, NOT_SET))
    return _Select(
        lambda values: {name: None if values[0] == NOT_SET else values[0]},
        placeholder=unset,
        options=_options(choices, [current or NOT_SET]),
        row=row,
    )


def _one(mapping: Mapping[str, Any], name: str) -> Callable[[list[str]], Changes]:
    """A single-choice select: its value, looked up in `mapping`, sets setting `name`."""
    return lambda values: {name: mapping[values[0]] if values else None}


class SettingsPanel(PrivatePanel):
    """A private panel only its opener uses; `save` stores a change and draws the panel again."""

    def __init__(self, bot: DiscomfyBot, interaction: discord.Interaction[Any]) -> None:
        super().__init__(interaction)
        self.bot = bot
        self.opener_id = interaction.user.id

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.user.id != self.opener_id:
            await send_ephemeral(interaction, content="This panel is someone else's: open your own.")
            return False
        return await super().interaction_check(interaction)

    async def save(self, interaction: discord.Interaction[Any], changes: Changes) -> None:
        await self.store(interaction, changes)
        await interaction.response.edit_message(embed=await self.draw(), view=self)

    async def store(self, interaction: discord.Interaction[Any], changes: Changes) -> None:
        raise TypeError(f"{type(self).__name__} does not define store()")

    async def draw(self) -> discord.Embed:
        """Rebuild the controls from what is stored; returns the embed to show with them."""
        raise TypeError(f"{type(self).__name__} does not define draw()")

    def add_buttons(self, form: Callable[[discord.Interaction[Any]], Any], label: str, *, reset: str, row: int) -> None:
        """The last row: the button that opens the panel's form, and the one that clears everything."""
        self.add_item(_Button(form, label=label, row=row))
        reset_all = lambda interaction: self.save(interaction, {"reset": True})  # noqa: E731
        self.add_item(_Button(reset_all, label=reset, style=discord.ButtonStyle.danger, row=row))

    async def open_form(self, interaction: discord.Interaction[Any], form: _Form) -> None:
        await interaction.response.send_modal(form)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error, where="a settings panel")


class _Form(discord.ui.Modal):
    """The text and numbers of a panel; on submit they become changes the panel saves."""

    def __init__(
        self,
        panel: SettingsPanel,
        title: str,
        fields: Mapping[str, tuple[str, str | None, bool]],
        to_changes: Callable[[dict[str, str]], Changes],
    ) -> None:
        super().__init__(title=title, timeout=panel.timeout)
        self.panel = panel
        self.to_changes = to_changes
        self.inputs: dict[str, discord.ui.TextInput[Any]] = {}
        for name, (label, current, long) in fields.items():
            text_input: discord.ui.TextInput[Any] = discord.ui.TextInput(
                custom_id=name,
                style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                default=current[:TEXT_INPUT] if current else None,
                required=False,
                max_length=TEXT_INPUT if long else 40,
            )
            self.inputs[name] = text_input
            self.add_item(discord.ui.Label(text=label, component=text_input))

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        values = {name: text_input.value for name, text_input in self.inputs.items()}
        await self.panel.save(interaction, self.to_changes(values))

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # type: ignore[override]
        await report_error(interaction, error, where="a settings form")


class ScopePanel(SettingsPanel):
    """/settings channel and /settings server: what one channel, category or the server sets (admins)."""

    def __init__(
        self, bot: DiscomfyBot, interaction: discord.Interaction[Any], *, scope: Scope, scope_id: int, label: str
    ) -> None:
        super().__init__(bot, interaction)
        self.scope = scope
        self.scope_id = scope_id
        self.label = label
        self.guild_id = interaction.guild_id
        self.settings = ChannelSettings()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.user not in self.bot.admins:  # admins may have been reconfigured since it was opened
            await send_ephemeral(interaction, content=str(NotAdminError()))
            return False
        return await super().interaction_check(interaction)

    async def store(self, interaction: discord.Interaction[Any], changes: Changes) -> None:
        if changes.get("reset"):
            await self.bot.policy.set_settings(
                self.scope, self.scope_id, ChannelSettings(), guild_id=self.guild_id, by=interaction.user.id
            )
            return
        await self.bot.policy.update_settings(
            self.scope, self.scope_id, guild_id=self.guild_id, by=interaction.user.id, **changes
        )

    async def draw(self) -> discord.Embed:
        settings = self.settings = await self.bot.policy.settings_at(self.scope, self.scope_id)
        specs = list(self.bot.workflows)
        self.clear_items()
        allowed = _workflow_choices(specs)
        self.add_item(
            _Select(
                lambda values: {"workflows": tuple(values) or None},
                placeholder="Allowed workflows (none picked: inherited)",
                options=_options(allowed, settings.workflows or ()),
                min_values=0,
                max_values=len(allowed),
                row=0,
            )
        )
        self.add_item(
            _default_workflow(
                specs, "default_workflow", settings.default_workflow, "Default workflow: inherited", row=1
            )
        )
        tri = {NOT_SET: None, "on": True, "off": False}
        spoilers = [("Spoilers: inherited", NOT_SET), ("Post results as spoilers", "on"), ("No spoilers", "off")]
        self.add_item(_Select(_one(tri, "spoiler"), options=_options(spoilers, [_tri_value(settings.spoiler)]), row=2))
        answers = [("Bot answers: inherited", NOT_SET), ("Bot answers here", "on"), ("Bot switched off here", "off")]
        self.add_item(_Select(_one(tri, "enabled"), options=_options(answers, [_tri_value(settings.enabled)]), row=3))
        self.add_buttons(
            self._open_defaults, "Size, steps, negative, max count…", reset="Reset (inherit everything)", row=4
        )
        return scope_embed(settings, label=self.label)

    async def _open_defaults(self, interaction: discord.Interaction[Any]) -> None:
        settings = self.settings
        fields = {
            "size": (SIZE_LABEL, _size(settings.width, settings.height), False),
            "steps": ("Steps", _text(settings.steps), False),
            "negative": ("Negative prompt", settings.negative, True),
            "max_count": ("Max images per request", _text(settings.max_count), False),
        }
        await self.open_form(interaction, _Form(self, "Defaults and limits (empty: inherit)", fields, _scope_changes))


def _size_and_negative(values: dict[str, str]) -> Changes:
    """The fields both forms have: a size (or none) and a negative prompt (empty: none)."""
    size = parse_size(values["size"])
    return {
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "negative": values["negative"].strip() or None,
    }


def _scope_changes(values: dict[str, str]) -> Changes:
    return {
        **_size_and_negative(values),
        "steps": parse_number(values["steps"], "Steps"),
        "max_count": parse_number(values["max_count"], "Max images per request"),
    }


def _tri_value(value: bool | None) -> str:
    return NOT_SET if value is None else ("on" if value else "off")


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


class PreferencesPanel(SettingsPanel):
    """/preferences: a member's own defaults."""

    preferences = Preferences()  # as last drawn

    async def store(self, interaction: discord.Interaction[Any], changes: Changes) -> None:
        policy = self.bot.policy
        if changes.get("reset"):
            await policy.update_preferences(self.opener_id, **dict.fromkeys(Preferences.__dataclass_fields__))
            return
        await policy.update_preferences(self.opener_id, **changes)

    async def draw(self) -> discord.Embed:
        preferences = await self.bot.policy.preferences(self.opener_id)
        self.clear_items()
        specs = list(self.bot.workflows)
        self.add_item(
            _default_workflow(specs, "workflow", preferences.workflow, "No default workflow of my own", row=0)
        )
        spoilers = [("Post my results normally", NOT_SET), ("Post my results as spoilers", "on")]
        chosen = "on" if preferences.spoiler else NOT_SET
        self.add_item(
            _Select(_one({NOT_SET: None, "on": True}, "spoiler"), options=_options(spoilers, [chosen]), row=1)
        )
        self.add_buttons(self._open_form, "Size and negative prompt…", reset="Forget my preferences", row=2)
        self.preferences = preferences
        return preferences_embed(preferences)

    async def _open_form(self, interaction: discord.Interaction[Any]) -> None:
        preferences = self.preferences
        fields = {
            "size": (SIZE_LABEL, _size(preferences.width, preferences.height), False),
            "negative": ("Negative prompt", preferences.negative, True),
        }
        await self.open_form(interaction, _Form(self, "Your defaults (empty: not set)", fields, _size_and_negative))
