"""The typed values of the policy: where a request comes from, what one scope sets, what a member prefers, and
the rules that hold in a channel once everything is inherited."""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self, cast

log = logging.getLogger(__name__)


class Scope(enum.StrEnum):
    """Where a setting is made; a channel inherits, in this order, from its category, the server and config.yaml."""

    CHANNEL = "channel"
    CATEGORY = "category"
    GUILD = "guild"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a request comes from, as far as the rules care. A thread or forum post is its parent's place."""

    channel_id: int
    guild_id: int | None = None  # None: a DM (or a group DM)
    parent_id: int | None = None  # a thread's or forum post's channel
    category_id: int | None = None  # of the channel (of the parent, for a thread)
    nsfw: bool = False  # age-restricted (a thread: its parent)

    @property
    def is_dm(self) -> bool:
        return self.guild_id is None

    @property
    def settings_channel(self) -> int:
        """The channel whose settings hold here: threads and forum posts have none of their own."""
        return self.parent_id or self.channel_id

    def scopes(self) -> list[tuple[Scope, int]]:
        """The scopes whose settings hold here, nearest first (a DM has none: config.yaml alone)."""
        if self.guild_id is None:
            return []
        found = [(Scope.CHANNEL, self.settings_channel)]
        if self.category_id is not None:
            found.append((Scope.CATEGORY, self.category_id))
        return [*found, (Scope.GUILD, self.guild_id)]


#: The JSON type of every stored setting and preference (a hand-edited or older row is read leniently).
_KINDS: dict[str, type] = {
    "enabled": bool,
    "workflows": list,
    "default_workflow": str,
    "workflow": str,
    "width": int,
    "height": int,
    "steps": int,
    "negative": str,
    "spoiler": bool,
    "max_count": int,
}


class _Stored:
    """Frozen dataclasses of optional values kept as a JSON object: None means not set (inherited)."""

    __slots__ = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for item in fields(cls):  # type: ignore[arg-type]
            raw = data.get(item.name)
            if raw is None:
                continue
            kind = _KINDS[item.name]
            if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
                log.warning("Ignoring stored %s=%r: not a %s", item.name, raw, kind.__name__)
                continue
            values[item.name] = tuple(str(name) for name in cast(list[Any], raw)) if kind is list else raw
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for item in fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if value is not None:
                result[item.name] = list(value) if isinstance(value, tuple) else value
        return result


@dataclass(frozen=True, slots=True)
class ChannelSettings(_Stored):
    """What an admin set for one channel, category or the whole server; None: inherited."""

    enabled: bool | None = None  # whether the bot answers there at all
    workflows: tuple[str, ...] | None = None  # the allowed workflows; None: every one
    default_workflow: str | None = None
    width: int | None = None  # the default size, when the workflow has width and height
    height: int | None = None
    steps: int | None = None
    negative: str | None = None
    spoiler: bool | None = None  # results posted as spoilers
    max_count: int | None = None  # most images one request may make there


@dataclass(frozen=True, slots=True)
class Preferences(_Stored):
    """A member's personal defaults; they apply under the channel's rules, never around them."""

    workflow: str | None = None
    width: int | None = None
    height: int | None = None
    negative: str | None = None
    spoiler: bool | None = None


SETTING_NAMES: tuple[str, ...] = tuple(item.name for item in fields(ChannelSettings))


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """The settings that hold in one place once inherited; `sources` says where each one comes from."""

    place: Place
    enabled: bool = True
    workflows: tuple[str, ...] | None = None
    default_workflow: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    negative: str | None = None
    spoiler: bool = False
    max_count: int | None = None
    sources: Mapping[str, Scope] = field(default_factory=dict)

    def source(self, name: str) -> Scope | None:
        """Where the value of a setting comes from (None: nobody set it, the built-in default holds)."""
        return self.sources.get(name)
