"""Builders for real Discord gateway payloads, and the one helper that injects them.

The dictionaries have the shape Discord sends in ``INTERACTION_CREATE`` (API v10), so discord.py's
own ``ConnectionState.parse_interaction_create`` turns them into ``discord.Interaction`` objects and
routes them: type 2 and 4 to the ``CommandTree``, type 3 to the ``ViewStore`` (views and
``DynamicItem`` templates), type 5 to a registered modal.

The interaction token is not random: :func:`interaction_token` packs the interaction, channel,
guild and source message ids into it, so ``FakeDiscordAPI`` knows where the ``@original`` response
and the followups of an interaction live without being told.  A hand-written token still works; the
fake then falls back to its default channel (or use ``FakeDiscordAPI.register_interaction``).

Typical use::

    payload = payloads.slash_command("imagine", {"prompt": "a cat", "steps": 20})
    await payloads.dispatch_and_wait(bot, payload)
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

import discord
from discord.utils import time_snowflake

if TYPE_CHECKING:
    from typing_extensions import Unpack

Payload = dict[str, Any]

# Fixed, realistic snowflakes.  A modern application's bot user has the application's id.
APPLICATION_ID: int = 1_300_000_000_000_000_001
BOT_USER_ID: int = APPLICATION_ID
GUILD_ID: int = 1_300_000_000_000_000_100
CHANNEL_ID: int = 1_300_000_000_000_000_200
USER_ID: int = 1_300_000_000_000_000_300

#: ``attachment_size_limit`` in an unboosted guild (``Interaction.filesize_limit`` reads it).
DEFAULT_ATTACHMENT_SIZE_LIMIT: int = 10 * 1024 * 1024

#: What a freshly invited bot usually holds in a text channel (``app_permissions``).
DEFAULT_APP_PERMISSIONS: str = str(
    discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_external_emojis=True,
        use_application_commands=True,
    ).value
)

# Interaction types (Discord ``InteractionType``).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

# Application command option types.
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11

# Interaction contexts.
CONTEXT_GUILD, CONTEXT_BOT_DM, CONTEXT_PRIVATE_CHANNEL = 0, 1, 2

_TOKEN_PREFIX = "fake"
_counter = itertools.count()


def snowflake() -> int:
    """A fresh, unique snowflake whose timestamp is now (``discord.utils.snowflake_time`` works)."""
    # The low 22 bits hold worker/process/increment; a counter there keeps ids unique.
    return time_snowflake(datetime.now(UTC)) + (next(_counter) % (1 << 22))


def iso_now() -> str:
    """The current time as Discord writes timestamps."""
    return datetime.now(UTC).isoformat()


def interaction_token(interaction_id: int, channel_id: int, guild_id: int | None, message_id: int | None = None) -> str:
    """A token that FakeDiscordAPI can decode back into the interaction's ids."""
    return f"{_TOKEN_PREFIX}.{interaction_id}.{channel_id}.{guild_id or 0}.{message_id or 0}"


def parse_interaction_token(token: str) -> tuple[int, int, int | None, int | None] | None:
    """``(interaction_id, channel_id, guild_id, message_id)`` from :func:`interaction_token`."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _TOKEN_PREFIX or not all(p.isdigit() for p in parts[1:]):
        return None
    interaction_id, channel_id, guild_id, message_id = (int(p) for p in parts[1:])
    return interaction_id, channel_id, guild_id or None, message_id or None


# --- entities -----------------------------------------------------------------------------------


def user(
    user_id: int = USER_ID,
    *,
    username: str = "tester",
    global_name: str | None = None,
    bot: bool = False,
    avatar: str | None = None,
) -> Payload:
    """A ``User`` object."""
    data: Payload = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
    }
    if bot:
        data["bot"] = True
    return data


def bot_user(user_id: int = BOT_USER_ID, *, username: str = "DisComfy") -> Payload:
    """The bot's own user, as ``GET /users/@me`` returns it."""
    data = user(user_id, username=username, bot=True)
    data.update(verified=True, mfa_enabled=False, locale="en-US", email=None)
    return data


def member(
    user_id: int = USER_ID,
    *,
    roles: Iterable[int] = (),
    permissions: str | None = None,
    nick: str | None = None,
    username: str = "tester",
    user_data: Payload | None = None,
) -> Payload:
    """A guild ``Member``.  ``permissions`` (total, in the channel) is what interactions carry."""
    data: Payload = {
        "user": user_data if user_data is not None else user(user_id, username=username),
        "roles": [str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "banner": None,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if permissions is not None:
        data["permissions"] = permissions
    return data


def role(
    role_id: int,
    *,
    name: str = "role",
    permissions: str | int = "0",
    position: int = 1,
    managed: bool = False,
) -> Payload:
    """A ``Role``.  The ``@everyone`` role has the guild's id."""
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }


def text_channel(
    channel_id: int = CHANNEL_ID,
    *,
    guild_id: int = GUILD_ID,
    name: str = "general",
    position: int = 0,
    permissions: str | None = None,
    nsfw: bool = False,
    parent_id: int | None = None,
    channel_type: int = 0,
) -> Payload:
    """A guild text channel (type 0); ``permissions``: the invoking user's, as sent."""
    data: Payload = {
        "id": str(channel_id),
        "type": channel_type,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "topic": None,
        "nsfw": nsfw,
        "parent_id": str(parent_id) if parent_id is not None else None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if permissions is not None:
        data["permissions"] = permissions
    return data


def category_channel(
    channel_id: int, *, guild_id: int = GUILD_ID, name: str = "category", position: int = 0
) -> Payload:
    """A guild category (type 4); channels name it as their ``parent_id``."""
    return text_channel(channel_id, guild_id=guild_id, name=name, position=position, channel_type=4)


def forum_channel(
    channel_id: int, *, guild_id: int = GUILD_ID, name: str = "forum", nsfw: bool = False, parent_id: int | None = None
) -> Payload:
    """A forum channel (type 15): its posts are threads whose ``parent_id`` is the forum."""
    data = text_channel(channel_id, guild_id=guild_id, name=name, nsfw=nsfw, parent_id=parent_id, channel_type=15)
    data.update(available_tags=[], default_reaction_emoji=None, default_sort_order=None, default_forum_layout=0)
    return data


def thread_channel(
    thread_id: int,
    *,
    parent_id: int,
    guild_id: int = GUILD_ID,
    name: str = "thread",
    owner_id: int = USER_ID,
    channel_type: int = 11,
    permissions: str | None = None,
) -> Payload:
    """A thread (type 11 public, 12 private) or a forum post (a type 11 thread of a forum), as interactions carry
    it: Discord sends its ``parent_id`` but not the parent's age restriction nor its category."""
    data: Payload = {
        "id": str(thread_id),
        "type": channel_type,
        "guild_id": str(guild_id),
        "name": name,
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": iso_now(),
            "locked": False,
        },
    }
    if permissions is not None:
        data["permissions"] = permissions
    return data


def dm_channel(channel_id: int, *, recipient: Payload) -> Payload:
    """A DM channel (type 1) with one recipient."""
    return {
        "id": str(channel_id),
        "type": 1,
        "last_message_id": None,
        "flags": 0,
        "recipients": [recipient],
    }


def guild(
    guild_id: int = GUILD_ID,
    *,
    name: str = "Test Guild",
    channels: Sequence[Payload] | None = None,
    roles: Sequence[Payload] = (),
    members: Sequence[Payload] = (),
    owner_id: int = USER_ID,
    bot_user_id: int = BOT_USER_ID,
    bot_roles: Iterable[int] = (),
) -> Payload:
    """A ``GUILD_CREATE`` payload: the guild with its roles, channels and members.

    ``@everyone`` (id == guild id) and the bot's own member are always added.  ``member_count``
    equals the members listed, so discord.py considers the guild chunked and never asks the gateway
    for more.
    """
    all_roles = [role(guild_id, name="@everyone", permissions=DEFAULT_APP_PERMISSIONS, position=0)]
    all_roles.extend(roles)
    chans = list(channels) if channels is not None else [text_channel(guild_id=guild_id)]
    all_members = [
        member(bot_user_id, roles=bot_roles, user_data=bot_user(bot_user_id)),
        *(m for m in members if int(m["user"]["id"]) != bot_user_id),
    ]
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": all_roles,
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "unavailable": False,
        "large": False,
        "member_count": len(all_members),
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "channels": chans,
        "threads": [],
        "members": all_members,
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def guild_create(bot: discord.Client, payload: Payload) -> discord.Guild:
    """Feed a ``GUILD_CREATE`` payload (see :func:`guild`) through the bot's connection state.

    Needed only when a test relies on the cache: role objects (``Member.get_role``,
    ``app_commands.checks.has_role``), ``guild.me``, or ``guild.get_channel``.  Interactions parse
    without it: discord.py builds a partial guild and channel from the payload itself.
    """
    bot._connection.parse_guild_create(payload)  # type: ignore[arg-type]
    found = bot.get_guild(int(payload["id"]))
    if found is None:
        raise AssertionError(f"guild {payload['id']} did not reach the cache")
    return found


def attachment(
    *,
    filename: str = "image.png",
    size: int = 0,
    content_type: str | None = None,
    url: str | None = None,
    attachment_id: int | None = None,
    width: int | None = None,
    height: int | None = None,
    description: str | None = None,
    ephemeral: bool = False,
) -> Payload:
    """An ``Attachment``.  ``FakeDiscordAPI.add_attachment`` builds one whose ``url`` it serves."""
    attachment_id = attachment_id if attachment_id is not None else snowflake()
    url = url or f"http://127.0.0.1:9/attachments/{attachment_id}/{filename}"
    data: Payload = {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "flags": 0,
    }
    if content_type is not None:
        data["content_type"] = content_type
    if width is not None and height is not None:
        data["width"] = width
        data["height"] = height
    if description is not None:
        data["description"] = description
    if ephemeral:
        data["ephemeral"] = True
    return data


def button(custom_id: str, *, label: str = "Button", style: int = 1, disabled: bool = False) -> Payload:
    """A button component (type 2)."""
    return {
        "type": 2,
        "style": style,
        "label": label,
        "custom_id": custom_id,
        "disabled": disabled,
    }


def string_select(custom_id: str, values: Sequence[str], *, max_values: int = 1) -> Payload:
    """A string select (type 3) offering ``values``."""
    return {
        "type": 3,
        "custom_id": custom_id,
        "options": [{"label": v, "value": v} for v in values],
        "min_values": 1,
        "max_values": max_values,
        "disabled": False,
    }


def action_row(*components: Payload) -> Payload:
    """An action row (type 1)."""
    return {"type": 1, "components": list(components)}


def message(
    *,
    message_id: int | None = None,
    channel_id: int = CHANNEL_ID,
    guild_id: int | None = GUILD_ID,
    content: str = "",
    author: Payload | None = None,
    embeds: Sequence[Payload] = (),
    components: Sequence[Payload] = (),
    attachments: Sequence[Payload] = (),
    flags: int = 0,
    message_type: int = 0,
    application_id: int | None = APPLICATION_ID,
    webhook_id: int | None = None,
) -> Payload:
    """A ``Message`` object, as Discord returns it and as interactions embed it."""
    data: Payload = {
        "id": str(message_id if message_id is not None else snowflake()),
        "channel_id": str(channel_id),
        "type": message_type,
        "content": content,
        "author": author if author is not None else bot_user(),
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "pinned": False,
        "flags": flags,
        "reactions": [],
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if application_id is not None:
        data["application_id"] = str(application_id)
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    return data


# --- interactions -------------------------------------------------------------------------------


class InteractionContext(TypedDict, total=False):
    """Keyword arguments every interaction builder accepts.

    ``guild_id=None`` makes a DM interaction (``user`` instead of ``member``, a DM channel,
    ``context`` 1).  ``channel``/``user_data`` replace the generated objects wholesale.
    """

    user_id: int
    username: str
    guild_id: int | None
    channel_id: int
    roles: Iterable[int]
    permissions: str
    app_permissions: str
    locale: str
    guild_locale: str
    attachment_size_limit: int
    application_id: int
    interaction_id: int
    token: str
    channel: Payload
    user_data: Payload


def _interaction(
    interaction_type: int,
    data: Payload | None,
    *,
    message_payload: Payload | None = None,
    user_id: int = USER_ID,
    username: str = "tester",
    guild_id: int | None = GUILD_ID,
    channel_id: int = CHANNEL_ID,
    roles: Iterable[int] = (),
    permissions: str = "0",
    app_permissions: str = DEFAULT_APP_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
    application_id: int = APPLICATION_ID,
    interaction_id: int | None = None,
    token: str | None = None,
    channel: Payload | None = None,
    user_data: Payload | None = None,
) -> Payload:
    interaction_id = interaction_id if interaction_id is not None else snowflake()
    source_message_id = int(message_payload["id"]) if message_payload is not None else None
    the_user = user_data if user_data is not None else user(user_id, username=username)
    payload: Payload = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": interaction_type,
        "token": token or interaction_token(interaction_id, channel_id, guild_id, source_message_id),
        "version": 1,
        "locale": locale,
        "app_permissions": app_permissions,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": attachment_size_limit,
        "channel_id": str(channel_id),
    }
    if data is not None:
        payload["data"] = data
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild"] = {"id": str(guild_id), "locale": guild_locale, "features": []}
        payload["guild_locale"] = guild_locale
        payload["channel"] = (
            channel if channel is not None else text_channel(channel_id, guild_id=guild_id, permissions=permissions)
        )
        payload["member"] = member(user_id, roles=roles, permissions=permissions, user_data=the_user)
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        payload["context"] = CONTEXT_GUILD
    else:
        payload["channel"] = channel if channel is not None else dm_channel(channel_id, recipient=the_user)
        payload["user"] = the_user
        payload["authorizing_integration_owners"] = {"0": "0"}
        payload["context"] = CONTEXT_BOT_DM
    if message_payload is not None:
        payload["message"] = message_payload
    return payload


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, Mapping):
        if "filename" in value and "url" in value:
            return ATTACHMENT
        if "username" in value:
            return USER
        if "type" in value and "name" in value:
            return CHANNEL
    return STRING


def _build_options(
    options: Mapping[str, Any],
    option_types: Mapping[str, int],
    resolved: Payload,
    guild_id: int | None,
) -> list[Payload]:
    """Typed option objects; attachment, user and channel payloads also land in ``resolved``."""
    built: list[Payload] = []
    for name, value in options.items():
        kind = option_types.get(name) or _option_type(value)
        if isinstance(value, Mapping):
            snowflake_id = str(value["id"])
            if kind == ATTACHMENT:
                resolved.setdefault("attachments", {})[snowflake_id] = dict(value)
            elif kind == USER:
                resolved.setdefault("users", {})[snowflake_id] = dict(value)
                if guild_id is not None:
                    partial = member(int(snowflake_id), permissions="0")
                    del partial["user"]
                    resolved.setdefault("members", {})[snowflake_id] = partial
            elif kind == CHANNEL:
                resolved.setdefault("channels", {})[snowflake_id] = dict(value)
            elif kind == ROLE:
                resolved.setdefault("roles", {})[snowflake_id] = dict(value)
            built.append({"name": name, "type": kind, "value": snowflake_id})
        else:
            built.append({"name": name, "type": kind, "value": value})
    return built


def _command_data(
    name: str,
    options: list[Payload],
    *,
    group: str | None,
    subcommand: str | None,
    resolved: Payload,
    command_id: int | None,
    command_guild_id: int | None,
) -> Payload:
    if group is not None and subcommand is None:
        raise ValueError("a subcommand group needs a subcommand")
    if subcommand is not None:
        options = [{"name": subcommand, "type": SUB_COMMAND, "options": options}]
    if group is not None:
        options = [{"name": group, "type": SUB_COMMAND_GROUP, "options": options}]
    data: Payload = {
        "id": str(command_id if command_id is not None else _stable_command_id(name)),
        "name": name,
        "type": 1,
        "options": options,
    }
    if resolved:
        data["resolved"] = resolved
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return data


def _stable_command_id(name: str) -> int:
    return APPLICATION_ID + 1000 + sum(ord(c) * (i + 1) for i, c in enumerate(name))


def slash_command(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    group: str | None = None,
    subcommand: str | None = None,
    option_types: Mapping[str, int] | None = None,
    resolved: Payload | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    **context: Unpack[InteractionContext],
) -> Payload:
    """An application command (type 2) invocation of ``/name [group] [subcommand] options...``.

    Option types are inferred: ``bool`` 5, ``int`` 4, ``float`` 10, ``str`` 3, an :func:`attachment`
    payload 11, a :func:`user` payload 6, a channel payload 7 (those three are also put in
    ``data.resolved``).  ``option_types`` overrides the inference, e.g. ``{"who": USER}`` with a
    snowflake string value.  ``command_guild_id`` marks a guild command (``data.guild_id``), which
    the tree looks up among its guild commands.
    """
    resolved_data: Payload = dict(resolved or {})
    built = _build_options(options or {}, option_types or {}, resolved_data, context.get("guild_id", GUILD_ID))
    data = _command_data(
        name,
        built,
        group=group,
        subcommand=subcommand,
        resolved=resolved_data,
        command_id=command_id,
        command_guild_id=command_guild_id,
    )
    return _interaction(APPLICATION_COMMAND, data, **context)


def autocomplete(
    name: str,
    focused_option: str,
    value: str,
    other_options: Mapping[str, Any] | None = None,
    *,
    group: str | None = None,
    subcommand: str | None = None,
    option_types: Mapping[str, int] | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    **context: Unpack[InteractionContext],
) -> Payload:
    """An autocomplete request (type 4): the user is typing ``value`` into ``focused_option``.

    The focused value is always the raw text typed so far; its option type defaults to string.
    """
    types = dict(option_types or {})
    resolved_data: Payload = {}
    built = _build_options(other_options or {}, types, resolved_data, context.get("guild_id", GUILD_ID))
    built.append(
        {
            "name": focused_option,
            "type": types.get(focused_option, STRING),
            "value": value,
            "focused": True,
        }
    )
    data = _command_data(
        name,
        built,
        group=group,
        subcommand=subcommand,
        resolved=resolved_data,
        command_id=command_id,
        command_guild_id=command_guild_id,
    )
    return _interaction(AUTOCOMPLETE, data, **context)


def _component_message(
    message_payload: Payload | None,
    message_id: int | None,
    component: Payload,
    context: InteractionContext,
) -> Payload:
    if message_payload is not None:
        return message_payload
    guild_id = context.get("guild_id", GUILD_ID)
    return message(
        message_id=message_id,
        channel_id=context.get("channel_id", CHANNEL_ID),
        guild_id=guild_id,
        components=[action_row(component)],
        application_id=context.get("application_id", APPLICATION_ID),
    )


def button_click(
    custom_id: str,
    message_id: int | None = None,
    *,
    message: Payload | None = None,
    **context: Unpack[InteractionContext],
) -> Payload:
    """A button click (type 3, component_type 2).

    ``message`` is the message carrying the button, e.g. ``fake.messages[mid]`` from the fake's
    store.  Without it a bot message with one action row holding this button is generated (a
    ``DynamicItem`` is only dispatched when its ``custom_id`` is found on the message).
    """
    msg = _component_message(message, message_id, button(custom_id), context)
    data = {"custom_id": custom_id, "component_type": 2}
    return _interaction(MESSAGE_COMPONENT, data, message_payload=msg, **context)


def select(
    custom_id: str,
    values: Sequence[str],
    *,
    message_id: int | None = None,
    message: Payload | None = None,
    component_type: int = 3,
    resolved: Payload | None = None,
    **context: Unpack[InteractionContext],
) -> Payload:
    """A select menu choice (type 3).  ``component_type`` 3 is a string select; 5-8 are
    user/role/mentionable/channel selects, whose ``resolved`` data the caller supplies."""
    component = string_select(custom_id, values, max_values=max(1, len(values)))
    component["type"] = component_type
    msg = _component_message(message, message_id, component, context)
    data: Payload = {
        "custom_id": custom_id,
        "component_type": component_type,
        "values": list(values),
    }
    if resolved:
        data["resolved"] = resolved
    return _interaction(MESSAGE_COMPONENT, data, message_payload=msg, **context)


def modal_submit(
    custom_id: str,
    fields: Mapping[str, str],
    *,
    message: Payload | None = None,
    label_wrapped: bool = False,
    **context: Unpack[InteractionContext],
) -> Payload:
    """A modal submission (type 5) of text inputs ``{input custom_id: value}``.

    By default every input sits in its own action row (type 1); ``label_wrapped=True`` sends the
    newer label (type 18) wrapping instead.  The modal must have been sent by the bot (its
    ``custom_id`` registered by ``response.send_modal``) or the ViewStore discards the submission.
    """
    components: list[Payload] = []
    for index, (input_id, value) in enumerate(fields.items()):
        text_input = {"type": 4, "id": index * 2 + 2, "custom_id": input_id, "value": value}
        if label_wrapped:
            components.append({"type": 18, "id": index * 2 + 1, "component": text_input})
        else:
            components.append({"type": 1, "id": index * 2 + 1, "components": [text_input]})
    data = {"custom_id": custom_id, "components": components}
    return _interaction(MODAL_SUBMIT, data, message_payload=message, **context)


# --- injection ----------------------------------------------------------------------------------


def dispatch(bot: discord.Client, payload: Payload) -> list[asyncio.Task[Any]]:
    """Inject one ``INTERACTION_CREATE`` payload as the gateway would; return the tasks it started.

    ``parse_interaction_create`` is synchronous: it builds the ``Interaction`` and schedules the
    command tree invoker, view/dynamic-item/modal callbacks and ``on_interaction`` listeners as
    tasks.  Those tasks are the ones returned.  The bot must be logged in (the interaction takes the
    HTTP session from ``bot.http``).
    """
    before = asyncio.all_tasks()
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    return [task for task in asyncio.all_tasks() if task not in before]


async def wait_for_tasks(
    tasks: Sequence[asyncio.Task[Any]],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - the error names the handlers still running
) -> None:
    """Wait for ``tasks``; re-raise the first exception any of them ended with."""
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    if pending:
        names = ", ".join(t.get_name() for t in pending)
        raise TimeoutError(f"interaction handlers still running after {timeout}s: {names}")
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def dispatch_and_wait(
    bot: discord.Client,
    payload: Payload,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - passed on to wait_for_tasks
) -> None:
    """:func:`dispatch` and wait until the handlers it started have finished.

    Work the handlers hand off to tasks of their own is not awaited; use
    ``FakeDiscordAPI.wait_for`` for that.
    """
    await wait_for_tasks(dispatch(bot, payload), timeout=timeout)
