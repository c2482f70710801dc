"""/generate and /batch: slash-command options in, jobs out, shown live by the presenter."""

from __future__ import annotations

import logging
import shlex
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.embeds import excerpt
from discomfy.bot.limits import CHOICE_TEXT, MAX_CHOICES, STRING_OPTION
from discomfy.bot.presenter import Admission
from discomfy.job import InputImage, JobRequest
from discomfy.media import INPUT_IMAGE_SUFFIXES, sniff_input_image
from discomfy.policy import PolicyError
from discomfy.quota import LimitError
from discomfy.workflows import ParamSpec, ParamType, WorkflowSpec, build_workflow, sweep_seeds
from discomfy.workflows.errors import InvalidParameterError, UnknownParameterError, WorkflowError
from discomfy.workflows.seeds import check_seed

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot

    Interaction = discord.Interaction[DiscomfyBot]

log = logging.getLogger(__name__)

COUNT_MAX = 25  # the option's hard cap; limits.max_count and limits.max_batch are checked as well
SIZES: dict[str, tuple[int, int]] = {
    "square": (1024, 1024),
    "portrait": (832, 1216),
    "landscape": (1216, 832),
}
SIZE_CHOICES = [app_commands.Choice(name=f"{name} {w}x{h}", value=name) for name, (w, h) in SIZES.items()]
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"})
# option name -> the workflow parameter names it may set, first match wins (Flux calls its CFG "guidance")
OPTION_PARAMETERS: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "negative": ("negative",),
    "width": ("width",),
    "height": ("height",),
    "steps": ("steps",),
    "cfg": ("cfg", "guidance"),
}

DESCRIPTIONS: dict[str, str] = {
    "prompt": "What to make",
    "workflow": "Which workflow to run (default: the server's default)",
    "negative": "What to leave out",
    "size": "A size preset; width and height override it",
    "width": "Width in pixels",
    "height": "Height in pixels",
    "steps": "Sampling steps",
    "cfg": "How closely to follow the prompt (CFG, or guidance for Flux)",
    "seed": "Seed to reproduce a result (0 to 18446744073709551615); a sweep starts here",
    "image": "An image to start from (only for workflows that take one)",
    "settings": "More of the workflow's parameters, e.g. denoise=0.6 sampler=euler",
}


@dataclass(frozen=True, slots=True)
class _Ask:
    """What the user typed, before it is checked against the workflow."""

    prompt: str
    workflow: str | None
    options: dict[str, Any]
    size: str | None
    seed: str | None
    image: discord.Attachment | None
    settings: str | None = None


class GenerateCog(commands.Cog, name="Generate"):
    """Turn slash-command options into ComfyUI jobs."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot

    @app_commands.command(name="generate")
    @app_commands.describe(**DESCRIPTIONS, count="How many images, each with its own seed (shown as a batch)")
    @app_commands.choices(size=SIZE_CHOICES)
    async def generate(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, STRING_OPTION],
        workflow: str | None = None,
        negative: str | None = None,
        size: app_commands.Choice[str] | None = None,
        width: app_commands.Range[int, 16, 8192] | None = None,
        height: app_commands.Range[int, 16, 8192] | None = None,
        steps: app_commands.Range[int, 1, 1000] | None = None,
        cfg: app_commands.Range[float, 0.0, 100.0] | None = None,
        seed: str | None = None,
        image: discord.Attachment | None = None,
        count: app_commands.Range[int, 1, COUNT_MAX] = 1,
        settings: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Generate an image (or a video) from a prompt with one of the server's workflows."""
        limit = self.bot.config.limits.max_count
        if count > limit:
            raise LimitError(f"You can ask for at most {limit} at once (you asked for {count}).")
        if count < 1:  # Discord enforces the option's minimum, a forged or stale payload may not
            raise InvalidParameterError(
                f"count must be a whole number from 1 to {limit} (got {count}).", parameter="count"
            )
        options = {"negative": negative, "width": width, "height": height, "steps": steps, "cfg": cfg}
        ask = _Ask(prompt, workflow, options, size.value if size else None, seed, image, settings)
        await self._start(interaction, ask, count)

    @app_commands.command(name="batch")
    @app_commands.describe(**DESCRIPTIONS, count="How many seeds to sweep (default: the server's default)")
    @app_commands.choices(size=SIZE_CHOICES)
    async def batch(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, STRING_OPTION],
        count: app_commands.Range[int, 2, COUNT_MAX] | None = None,
        seed: str | None = None,
        workflow: str | None = None,
        negative: str | None = None,
        size: app_commands.Choice[str] | None = None,
        width: app_commands.Range[int, 16, 8192] | None = None,
        height: app_commands.Range[int, 16, 8192] | None = None,
        steps: app_commands.Range[int, 1, 1000] | None = None,
        cfg: app_commands.Range[float, 0.0, 100.0] | None = None,
        image: discord.Attachment | None = None,
        settings: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Sweep N seeds of one prompt; the results come as one message with a contact sheet."""
        limits = self.bot.config.limits
        count = count if count is not None else limits.default_batch
        if not 2 <= count <= limits.max_batch:
            raise LimitError(f"A batch has at least 2 and at most {limits.max_batch} seeds (you asked for {count}).")
        options = {"negative": negative, "width": width, "height": height, "steps": steps, "cfg": cfg}
        ask = _Ask(prompt, workflow, options, size.value if size else None, seed, image, settings)
        await self._start(interaction, ask, count, sweep=True)

    @generate.autocomplete("settings")
    @batch.autocomplete("settings")
    async def _settings_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Offer the chosen workflow's parameters that have no option of their own, with their defaults."""
        spec = await chosen_workflow(self.bot, interaction)
        return settings_choices(settable_parameters(spec), current) if spec else []

    @generate.autocomplete("workflow")
    @batch.autocomplete("workflow")
    async def _workflow_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await workflow_choices(self.bot, interaction, current)

    async def _start(self, interaction: Interaction, ask: _Ask, count: int, *, sweep: bool = False) -> None:
        """Check every value at once (a refusal stays private), then hand the job(s) to the one admission path.

        What the user left open comes from their /preferences, else the channel's settings (under its rules:
        a personal default workflow that is not allowed here is passed over).
        """
        bot = self.bot
        spec, defaults = await workflow_here(bot, interaction, ask.workflow)
        values, slot = self._values(spec, ask)
        values = {**defaults(values.keys()), **values}
        seed = parse_seed(ask.seed)
        build_workflow(spec, values, seed=seed)  # every value checked before anything is uploaded or queued
        request = command_request(interaction, spec, values, seed=seed)
        seeds = tuple(sweep_seeds(count, base=seed)) if count > 1 or sweep else None
        image = ask.image
        fetch = None
        if image is not None and slot is not None:

            async def fetch() -> dict[str, InputImage]:
                return {slot: await _input_image(image)}

        await bot.presenter.start_jobs(interaction, Admission(request, seeds=seeds, fetch_images=fetch))

    def _values(self, spec: WorkflowSpec, ask: _Ask) -> tuple[dict[str, Any], str | None]:
        """The workflow's parameter values from the options; an option it does not have is an error."""
        check_prompt_length(self.bot, ask.prompt)
        given = {"prompt": ask.prompt, **{k: v for k, v in ask.options.items() if v is not None}}
        from_size: set[str] = set()
        if ask.size is not None:
            preset = dict(zip(("width", "height"), SIZES[ask.size], strict=True))
            from_size = preset.keys() - given.keys()
            given.update({key: preset[key] for key in from_size})
        values: dict[str, Any] = {}
        for option, value in given.items():
            name = next((p for p in OPTION_PARAMETERS[option] if spec.parameter(p) is not None), None)
            if name is None:
                raise _no_option(spec, "size" if option in from_size else option)
            values[name] = value
        values.update(parse_settings(spec, ask.settings, taken=values.keys()))
        slot = next((p.name for p in spec.parameters if p.type is ParamType.IMAGE), None)
        if ask.image is not None:
            if slot is None:
                raise _no_option(spec, "image")
            self._check_image(ask.image)
            values[slot] = ask.image.filename  # replaced by the uploaded file's name when submitting
        return values, slot

    def _check_image(self, attachment: discord.Attachment) -> None:
        """Type and size from the attachment's metadata, before a single byte is downloaded."""
        if not isinstance(attachment, discord.Attachment):  # the payload named a file it did not describe
            raise InvalidParameterError(
                "The attached file did not come through with the command; attach it again.", parameter="image"
            )
        content_type = (attachment.content_type or "").split(";")[0].strip().lower()
        if content_type not in IMAGE_TYPES and PurePath(attachment.filename).suffix.lower() not in INPUT_IMAGE_SUFFIXES:
            raise InvalidParameterError(
                f"`{attachment.filename}` is not an image ({content_type or 'unknown type'}); "
                "attach a PNG, JPEG or WebP.",
                parameter="image",
                allowed="an image",
            )
        limit = self.bot.config.limits.max_input_image_bytes
        if attachment.size > limit:
            raise LimitError(
                f"`{attachment.filename}` is {attachment.size / 2**20:.1f} MB; "
                f"images up to {self.bot.config.limits.max_input_image_mb:g} MB are accepted."
            )


async def _input_image(attachment: discord.Attachment) -> InputImage:
    """The attachment's bytes, if they really are an image, under a name of the bot's choosing.

    Its name and claimed type prove nothing: ComfyUI would serve an SVG or HTML file from its own origin.

    Raises:
        InvalidParameterError: the download failed, or the bytes are not an image LoadImage reads.
    """
    data = await _download(attachment)
    kind = sniff_input_image(data)
    if kind is None:
        raise InvalidParameterError(
            f"`{attachment.filename}` is not an image ComfyUI can read: its content is not PNG, JPEG, WebP, GIF, "
            "BMP or TIFF, whatever its name says. Attach the picture itself.",
            parameter="image",
            allowed="an image",
        )
    return InputImage(data, f"discomfy-{uuid.uuid4().hex[:12]}{kind.extension}")


async def _download(attachment: discord.Attachment) -> bytes:
    """The attachment's bytes from Discord's CDN; a failed download is the user's to retry, not a crash."""
    try:
        return await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
        log.info("Could not download attachment %s: %s", attachment.filename, exc)
        raise InvalidParameterError(
            f"Could not download `{attachment.filename}` from Discord ({_reason(exc)}), so nothing was started. "
            "Attach it again and retry.",
            parameter="image",
        ) from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"{exc.status}: {exc.text}" if exc.text else str(exc.status)
    return "the connection failed" if isinstance(exc, aiohttp.ClientError) else "it took too long"


def settable_parameters(spec: WorkflowSpec) -> list[ParamSpec]:
    """The workflow's parameters without an option of their own, which `settings` reaches."""
    own = {name for names in OPTION_PARAMETERS.values() for name in names}
    return [p for p in spec.parameters if p.name not in own and p.type is not ParamType.IMAGE]


def parse_settings(
    spec: WorkflowSpec, text: str | None, *, taken: Iterable[str], allowed: Iterable[str] | None = None
) -> dict[str, str]:
    """`denoise=0.6 sampler=euler` (quotes allowed) into parameter values; build_workflow checks each value.

    `allowed`: the parameters settings may set (default: those without an option of their own).
    """
    if not text or not text.strip():
        return {}
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InvalidParameterError(f"settings: {exc} (close the quote).", parameter="settings") from None
    allowed = set(allowed) if allowed is not None else {p.name for p in settable_parameters(spec)}
    taken = set(taken)
    offered = ", ".join(sorted(allowed)) or "none"
    values: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep or not name:
            raise InvalidParameterError(
                f"settings: `{token}` is not name=value (for example denoise=0.6).", parameter="settings"
            )
        if name in taken:
            raise InvalidParameterError(f"settings: set `{name}` with its own option.", parameter="settings")
        if name not in allowed:
            raise UnknownParameterError(
                f"The workflow {spec.title} (`{spec.name}`) has no setting `{name}`. Its settings are: {offered}.",
                parameter=name,
                allowed=offered,
            )
        values[name] = value
    return values


def _no_option(spec: WorkflowSpec, option: str) -> UnknownParameterError:
    offered = ", ".join(spec.parameter_names) or "none"
    return UnknownParameterError(
        f"The workflow {spec.title} (`{spec.name}`) has no `{option}` option. Its options are: {offered}.",
        parameter=option,
        allowed=offered,
    )


def parse_seed(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        value: int | str = int(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        value = text  # check_seed names the bad value
    return check_seed(value)


async def workflow_here(
    bot: DiscomfyBot, interaction: Interaction, name: str | None
) -> tuple[WorkflowSpec, Callable[[Collection[str]], dict[str, Any]]]:
    """The workflow a command names, else the one this user (/preferences) and channel default to under the
    channel's rules; with what fills the parameters the user left open (given the names they did set).

    Raises:
        WorkflowError, PolicyError: no such workflow, or none may run here.
    """
    rules = await bot.rules_here(interaction)
    preferences = await bot.policy.preferences(interaction.user.id)
    spec = bot.policy.choose_workflow(rules, preferences, name)
    return spec, lambda given: bot.policy.defaults(spec, rules, preferences, given=given)


def command_request(
    interaction: Interaction, spec: WorkflowSpec, values: dict[str, Any], *, seed: int | None = None
) -> JobRequest:
    """A request of the command's user in its channel (`start_jobs` adds the message once deferred)."""
    return JobRequest(
        owner_id=interaction.user.id,
        channel_id=interaction.channel_id or 0,
        guild_id=interaction.guild_id,
        workflow=spec.name,
        values=values,
        seed=seed,
    )


def check_prompt_length(bot: DiscomfyBot, prompt: str) -> None:
    """Refuse a prompt over `limits.max_prompt_length`; raises LimitError."""
    limit = bot.config.limits.max_prompt_length
    if len(prompt) > limit:
        raise LimitError(f"Your prompt has {len(prompt)} characters; at most {limit} are allowed here.")


async def chosen_workflow(bot: DiscomfyBot, interaction: Interaction) -> WorkflowSpec | None:
    """The workflow an autocompleting command has chosen so far, else the one it would run here; None for one
    that may not run here (an age-restricted workflow's options are not shown outside its channels)."""
    try:
        spec, _defaults = await workflow_here(bot, interaction, interaction.namespace.workflow or None)
    except (WorkflowError, PolicyError):
        return None
    allowed = {other.name for other in bot.policy.usable_workflows(await bot.rules_here(interaction))}
    return spec if spec.name in allowed else None


def settings_choices(params: Iterable[ParamSpec], current: str) -> list[app_commands.Choice[str]]:
    """`current` plus one more `name=default` of `params` not yet named, with what each allows."""
    written = current.rstrip()
    named = {token.split("=", 1)[0] for token in written.split()}
    choices = []
    for param in params:
        if param.name in named:
            continue
        value = f"{written} {param.name}={param.default}".strip()
        label = f"{value}  ({param.describe_allowed()})"
        if len(value) <= CHOICE_TEXT:
            choices.append(app_commands.Choice(name=label[:CHOICE_TEXT], value=value))
    return choices[:MAX_CHOICES]


async def workflow_choices(bot: DiscomfyBot, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The workflows matching what was typed so far that may run in this channel (allowed there, and
    age-restricted ones only where that fits), with their titles and descriptions."""
    rules = await bot.rules_here(interaction)
    if not rules.enabled:
        return []
    usable = {spec.name for spec in bot.policy.usable_workflows(rules)}
    matching = [spec for spec in bot.workflows.matching(current, limit=len(bot.workflows)) if spec.name in usable]
    return [app_commands.Choice(name=_choice_name(spec), value=spec.name) for spec in matching[:MAX_CHOICES]]


def _choice_name(spec: WorkflowSpec) -> str:
    text = f"{spec.title} — {spec.description}" if spec.description else spec.title
    return excerpt(text, CHOICE_TEXT)


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(GenerateCog(bot))
