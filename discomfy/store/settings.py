"""What admins and members set from Discord, in the job store's file: settings per channel, category or server,
each server's prompt blocklist, and every member's personal defaults.

The values are JSON objects the policy package reads (`discomfy.policy`); this module only keeps them, so a new
setting needs no migration.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from discomfy.store.database import JobStore
from discomfy.store.errors import StoreError

log = logging.getLogger(__name__)

SCOPES = ("channel", "category", "guild")


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """One rule of a server's prompt blocklist: a word or phrase, or a regular expression."""

    guild_id: int
    pattern: str
    regex: bool
    whole_word: bool
    added_by: int | None = None
    added_at: float = 0.0


class SettingsStore:
    """Settings, blocklists and preferences in the job store's SQLite file (and under its one lock)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    # ---- settings of a channel, a category or a server ------------------------------------------

    async def scope_settings(self, scope: str, scope_id: int) -> dict[str, Any]:
        """What is set at one scope ({} when nothing is)."""
        _check_scope(scope)
        sql = "SELECT settings FROM scope_settings WHERE scope = ? AND scope_id = ?"
        async with self.store.reading() as db, db.execute(sql, (scope, scope_id)) as cursor:
            row = await cursor.fetchone()
        return {} if row is None else _object(row["settings"])

    async def set_scope_settings(
        self, scope: str, scope_id: int, values: Mapping[str, Any], *, guild_id: int | None, by: int | None
    ) -> None:
        """Replace what is set at one scope; an empty mapping removes the row (everything inherited again)."""
        _check_scope(scope)
        async with self.store.writing() as db:
            if not values:
                await db.execute("DELETE FROM scope_settings WHERE scope = ? AND scope_id = ?", (scope, scope_id))
                return
            await db.execute(
                "INSERT INTO scope_settings (scope, scope_id, guild_id, settings, updated_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, scope_id) DO UPDATE SET"
                " settings = excluded.settings, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (scope, scope_id, guild_id, _dump(values), by, time.time()),
            )

    # ---- blocklists ------------------------------------------------------------------------------

    async def blocklist(self, guild_id: int | None) -> list[BlockEntry]:
        """One server's rules, oldest first; None: every server's (what a DM is checked against)."""
        sql = "SELECT guild_id, pattern, regex, whole_word, added_by, added_at FROM blocklist"
        params: tuple[Any, ...] = ()
        if guild_id is not None:
            sql += " WHERE guild_id = ?"
            params = (guild_id,)
        async with self.store.reading() as db, db.execute(sql + " ORDER BY added_at, rowid", params) as cursor:
            rows = await cursor.fetchall()
        return [
            BlockEntry(
                guild_id=int(row["guild_id"]),
                pattern=str(row["pattern"]),
                regex=bool(row["regex"]),
                whole_word=bool(row["whole_word"]),
                added_by=row["added_by"],
                added_at=float(row["added_at"]),
            )
            for row in rows
        ]

    async def add_block(self, entry: BlockEntry) -> bool:
        """Add a rule; False when the server already has it (its whole-word choice is updated)."""
        async with self.store.writing() as db:
            async with db.execute(
                "SELECT 1 FROM blocklist WHERE guild_id = ? AND pattern = ? AND regex = ?",
                (entry.guild_id, entry.pattern, entry.regex),
            ) as cursor:
                known = await cursor.fetchone() is not None
            await db.execute(
                "INSERT INTO blocklist (guild_id, pattern, regex, whole_word, added_by, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, pattern, regex) DO UPDATE SET"
                " whole_word = excluded.whole_word",
                (entry.guild_id, entry.pattern, entry.regex, entry.whole_word, entry.added_by, time.time()),
            )
        return not known

    async def remove_block(self, guild_id: int, pattern: str) -> int:
        """Remove the server's rules with exactly this pattern (word and regex alike); how many went."""
        async with self.store.writing() as db:
            cursor = await db.execute("DELETE FROM blocklist WHERE guild_id = ? AND pattern = ?", (guild_id, pattern))
            return cursor.rowcount

    # ---- a member's personal defaults -------------------------------------------------------------

    async def preferences(self, user_id: int) -> dict[str, Any]:
        """A member's defaults ({} when none are set)."""
        sql = "SELECT preferences FROM user_preferences WHERE user_id = ?"
        async with self.store.reading() as db, db.execute(sql, (user_id,)) as cursor:
            row = await cursor.fetchone()
        return {} if row is None else _object(row["preferences"])

    async def set_preferences(self, user_id: int, values: Mapping[str, Any]) -> None:
        """Replace a member's defaults; an empty mapping forgets them."""
        async with self.store.writing() as db:
            if not values:
                await db.execute("DELETE FROM user_preferences WHERE user_id = ?", (user_id,))
                return
            await db.execute(
                "INSERT INTO user_preferences (user_id, preferences, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET"
                " preferences = excluded.preferences, updated_at = excluded.updated_at",
                (user_id, _dump(values), time.time()),
            )


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise StoreError(f"unknown settings scope {scope!r} (known: {', '.join(SCOPES)})")


def _dump(values: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(values), separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"settings cannot be stored as JSON: {exc}") from exc


def _object(text: str) -> dict[str, Any]:
    """A stored JSON object; anything else (a hand edit gone wrong) reads as nothing set, with a log line."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        log.warning("Ignoring stored settings that are not a JSON object: %.80s", text)
        return {}
    return value
