"""Who may do what: DisComfy's admins (enforced by the bot, whatever Discord's settings say) and what the bot
itself needs in a channel to post results there."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from discomfy.bot.errors import MissingChannelPermissionsError, NotAdminError
from discomfy.config import DiscordSettings

#: What the bot needs in a channel: see it, answer, embed progress, attach results, read the messages it edits.
BOT_PERMISSION_NAMES = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "read_message_history": "Read Message History",
}
BOT_PERMISSIONS = discord.Permissions(**dict.fromkeys(BOT_PERMISSION_NAMES, True))


class Admins:
    """The configured admins: user ids, and members holding one of the configured roles."""

    def __init__(self, settings: DiscordSettings) -> None:
        self.user_ids = frozenset(settings.admin_user_ids)
        self.role_ids = frozenset(settings.admin_role_ids)

    def __contains__(self, user: object) -> bool:
        if not isinstance(user, discord.abc.User):
            return False
        if user.id in self.user_ids:
            return True
        return any(role.id in self.role_ids for role in getattr(user, "roles", ()))


def admin_only() -> Any:
    """An app-command check enforced by the bot itself, whatever Discord's permission settings say."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        if interaction.user not in interaction.client.admins:
            raise NotAdminError()
        return True

    return app_commands.check(predicate)


def require_channel_permissions(interaction: discord.Interaction[Any]) -> None:
    """Refuse before anything starts where a long job's result could not be posted (after the 15-minute token).

    Raises:
        MissingChannelPermissionsError: naming each missing permission.
    """
    if interaction.guild_id is None:
        return  # a DM: the interaction webhook is the only way in, and it is enough
    held = interaction.app_permissions
    missing = [label for name, label in BOT_PERMISSION_NAMES.items() if not getattr(held, name)]
    if missing:
        raise MissingChannelPermissionsError(
            "I can't post results in this channel: I'm missing "
            + ", ".join(missing)
            + ". Ask an admin to allow them for DisComfy here, or use another channel."
        )
