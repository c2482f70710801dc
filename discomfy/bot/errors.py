"""The one way errors reach a user: a short plain reason from one table keyed by exception type, privately.

Commands, buttons and modals all answer through `report_error`. The wording lives here, not at raise sites:
DisComfy's own errors carry a message written for users (they are refusals with a reason), anything else is
told as a plain sentence and logged with its traceback, keyed by the interaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from discomfy.bot.embeds import excerpt
from discomfy.bot.limits import EMBED_DESCRIPTION
from discomfy.comfy import ComfyConnectionError, ComfyHTTPError
from discomfy.errors import DiscomfyError
from discomfy.policy import BlockedPromptError
from discomfy.store.errors import StoreError

log = logging.getLogger(__name__)

# ---- refusals: the Discord layer's own errors, each with its message for the user --------------------


class DiscordLoginError(DiscomfyError):
    """Discord refused DISCORD_TOKEN."""

    def __init__(self) -> None:
        super().__init__(
            "Discord refused DISCORD_TOKEN (was it reset?). Copy a new one from the Developer Portal "
            "(your application > Bot > Reset Token) into .env, then start again."
        )


class DiscordUnreachableError(DiscomfyError):
    """Discord's API or gateway cannot be reached from this machine."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"Cannot reach Discord ({cause}). Check this machine's network and DNS, then start again.")


class ActionRefusedError(DiscomfyError):
    """A button the clicker may not use here, or that has nothing to act on; the message says why."""


class NotAdminError(app_commands.CheckFailure):
    """The caller is not one of the configured admins."""

    def __init__(self) -> None:
        super().__init__("Only DisComfy admins can do that (configured in discord.admin_role_ids / admin_user_ids).")


class MissingChannelPermissionsError(DiscomfyError):
    """The bot could answer the command but could not keep the job's message up to date in this channel."""


class WorkflowsNotReloadedError(DiscomfyError):
    """/workflow reload found problems: the message lists them all and says the previous set stays live."""


class OthersHistoryError(app_commands.CheckFailure):
    """A member who is not an admin asked for someone else's history."""

    def __init__(self) -> None:
        super().__init__("Only DisComfy admins can look at another member's history. Leave `user` empty to see yours.")


#: Raised by discord.py when a command's options do not match what the bot registered: a client with a stale
#: copy of the command (they are cached), never a bug of ours.
STALE_COMMAND_ERRORS: tuple[type[Exception], ...] = (
    app_commands.TransformerError,
    app_commands.CommandSignatureMismatch,
    app_commands.CommandNotFound,
)
UNEXPECTED = "Something went wrong on our side. It has been logged."

Wording = Callable[[Any], str]

#: What a user reads for each kind of error; the first matching type wins, so specific types come first.
MESSAGES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Wording], ...] = (
    (
        ComfyConnectionError,
        lambda _: "ComfyUI is not reachable right now, so nothing was started. Please try again later.",
    ),
    (
        ComfyHTTPError,
        lambda error: (
            f"ComfyUI answered with an error (HTTP {error.status}), so nothing was started. "
            "An admin can find the details in the bot's log."
        ),
    ),
    (
        StoreError,
        lambda _: (
            "The bot could not save your job right now (its database is busy or full), so nothing was "
            "started. Try again in a minute."
        ),
    ),
    (app_commands.CommandOnCooldown, lambda error: f"Slow down a little: try again in {error.retry_after:.0f} s."),
    (
        STALE_COMMAND_ERRORS,
        lambda _: (
            "Discord sent this command in an older shape than the bot now has (an option or choice "
            "changed). Reload Discord (Ctrl+R), pick the options again and retry."
        ),
    ),
    (app_commands.CheckFailure, lambda error: str(error) or "You are not allowed to use this command."),
    (BlockedPromptError, lambda error: error.private_message),  # the log gets str(): never the prompt's words
    (DiscomfyError, str),  # ours: refusals whose message was written for the user
)
#: Errors that are refusals or the world's trouble, not bugs: logged at INFO without a traceback.
EXPECTED: tuple[type[BaseException], ...] = (
    DiscomfyError,
    app_commands.CheckFailure,
    app_commands.CommandOnCooldown,
    *STALE_COMMAND_ERRORS,
)


def user_message(error: BaseException) -> str:
    """What to tell a user about `error`, in plain words."""
    for types, wording in MESSAGES:
        if isinstance(error, types):
            return wording(error)
    return UNEXPECTED


def error_embed(error: BaseException, *, reference: str | None = None) -> discord.Embed:
    """A red "Sorry" with the reason; `reference` (in the footer) lets an admin find the log line."""
    text = excerpt(user_message(error), EMBED_DESCRIPTION)
    embed = discord.Embed(title="Sorry", description=text, colour=discord.Colour.red())
    if reference:
        embed.set_footer(text=reference)
    return embed


async def send_ephemeral(interaction: discord.Interaction[Any], **kwargs: Any) -> None:
    """Answer privately, whether or not the interaction was already responded to."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(ephemeral=True, **kwargs)
    except discord.HTTPException as exc:
        log.warning("Could not answer interaction %s: %s", interaction.id, exc)


async def report_error(interaction: discord.Interaction[Any], error: BaseException, *, where: str) -> None:
    """Expected errors (refusals, limits, ComfyUI's reasons) at INFO; anything else logged with its traceback."""
    if isinstance(error, EXPECTED):
        log.info("%s refused for %s: %s", where, interaction.user.id, error)
        reference = None
    else:
        log.error("Error in %s (interaction %s)", where, interaction.id, exc_info=error)
        reference = f"{where} · interaction {interaction.id}"
    await send_ephemeral(interaction, embed=error_embed(error, reference=reference))
