"""Writing to Discord: what one message shows, the one message that follows a job, and retries of writes.

A job's message is edited through the interaction webhook while its token is fresh (under 14 minutes), then
through the channel (`PATCH /channels/{id}/messages/{mid}`), so long video jobs keep updating. A 429 is waited
out by discord.py; 5xx and dropped connections are retried here; a deleted message (404, code 10008) is
replaced by a new one in the channel, whose id is passed to `on_moved` so the store follows.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiohttp
import discord

from discomfy.bot.limits import MAX_ATTACHMENTS, TOKEN_LIFETIME
from discomfy.retry import Backoff, retry

if TYPE_CHECKING:
    from discomfy.store import JobRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_MARGIN = timedelta(minutes=1)  # stop using the webhook a minute early: a slow request must still land
TRANSIENT_ERRORS = (discord.DiscordServerError, aiohttp.ClientError, ConnectionError, TimeoutError)
EDIT_TRIES = 4  # 1 + 2 + 4 s of backoff on top of discord.py's own retries
DELIVERY_TRIES = 7  # about two minutes: a result is worth waiting for
WRITE_BACKOFF = Backoff(first=1.0, cap=64.0)
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
SPOILER_PREFIX = "SPOILER_"  # Discord's marker for an attachment shown blurred


@dataclass(frozen=True, slots=True)
class Upload:
    """One attachment: a file on disk (streamed by discord.py) or a few bytes held in memory (a preview)."""

    filename: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    size: int = 0

    def to_file(self) -> discord.File:
        """A fresh discord.File: discord.py closes the one it sent, so every attempt needs its own."""
        if self.path is not None:
            return discord.File(self.path, filename=self.filename)
        return discord.File(io.BytesIO(self.data or b""), filename=self.filename)


@dataclass(frozen=True, slots=True)
class MessageContent:
    """What one message shows. `upload` False: the message already carries exactly `uploads`, keep them."""

    embed: discord.Embed
    view: discord.ui.View | None
    uploads: tuple[Upload, ...] = ()
    upload: bool = True


def as_spoilers(uploads: Sequence[Upload]) -> list[Upload]:
    """The same files named `SPOILER_...`, which Discord blurs until clicked. Never point an embed at them: an
    embed's image is shown unblurred."""
    return [
        u if u.filename.startswith(SPOILER_PREFIX) else replace(u, filename=SPOILER_PREFIX + u.filename)
        for u in uploads
    ]


def unique_names(uploads: Sequence[Upload]) -> list[Upload]:
    """Attachment names must differ within a message (the embed points at one by name)."""
    seen: set[str] = set()
    result = []
    for upload in uploads:
        name, path, number = upload.filename, Path(upload.filename), 2
        while name.lower() in seen:
            name, number = f"{path.stem}_{number}{path.suffix}", number + 1
        seen.add(name.lower())
        result.append(replace(upload, filename=name))
    return result


def pack(uploads: Sequence[Upload], limit: int) -> list[list[Upload]]:
    """Messages of at most 10 files and at most `limit` bytes each, in order; always at least one."""
    chunks: list[list[Upload]] = [[]]
    total = 0
    for upload in uploads:
        chunk = chunks[-1]
        if chunk and (len(chunk) >= MAX_ATTACHMENTS or total + upload.size > limit):
            chunks.append([])
            total = 0
        chunks[-1].append(upload)
        total += upload.size
    return chunks


class Controls(Protocol):
    """The buttons a job's message carries at each stage (provided by the buttons module)."""

    def queued(self, job_id: str) -> discord.ui.View: ...

    def result(self, record: JobRecord, *, upscale: bool, batch: bool = False) -> discord.ui.View: ...

    def retry(self, record: JobRecord) -> discord.ui.View: ...

    def sweep(self, record: JobRecord, cells: Sequence[str]) -> discord.ui.View: ...


async def with_retries(action: Callable[[], Awaitable[T]], *, tries: int, what: str) -> T:
    """A write to Discord, again after a 5xx or a dropped connection (429s are waited out by discord.py)."""
    return await retry(action, retry_on=TRANSIENT_ERRORS, tries=tries, backoff=WRITE_BACKOFF, what=what, logger=log)


def is_transient(exc: discord.HTTPException) -> bool:
    """Worth writing again later: Discord's own trouble or a rate limit that outlasted discord.py's retries."""
    return isinstance(exc, discord.DiscordServerError) or exc.status == 429


class LiveMessage:
    """The one message that shows a job or a batch, edited however it can still be reached."""

    def __init__(
        self,
        client: discord.Client,
        *,
        channel_id: int,
        message_id: int | None,
        interaction: discord.Interaction[Any] | None = None,
        on_moved: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.channel_id = channel_id
        self.message_id = message_id
        self.interaction = interaction
        self.on_moved = on_moved

    @property
    def via_webhook(self) -> bool:
        """True while the interaction token can still be used."""
        interaction = self.interaction
        lifetime = TOKEN_LIFETIME - TOKEN_MARGIN
        return interaction is not None and discord.utils.utcnow() < interaction.created_at + lifetime

    async def show(self, content: MessageContent) -> int:
        """Put `content` on the message (posting a new one if it is gone); returns the message id.

        Raises:
            discord.HTTPException: Discord refused the edit for good (403, 400, ...), or kept failing (5xx).
        """
        if self.via_webhook:
            try:
                return await self._edit_webhook(content)
            except discord.HTTPException as exc:
                if exc.code == UNKNOWN_MESSAGE:
                    return await self._replace(content)
                if exc.status != 401 and exc.code not in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK):
                    raise
                log.info(
                    "Interaction token of message %s no longer works; editing through the channel", self.message_id
                )
                self.interaction = None
        if self.message_id is None:
            return await self._replace(content)
        try:
            message = await self._channel().get_partial_message(self.message_id).edit(**_edit_fields(content))
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MESSAGE:
                raise
            return await self._replace(content)
        return message.id

    async def put_extra(self, message_id: int | None, text: str, uploads: Sequence[Upload], *, nonce: str) -> int:
        """Edit (or post, if None or gone) one extra message of files below the main one; returns its id."""
        channel = self._channel()
        if message_id is not None:
            files = [u.to_file() for u in uploads]
            try:
                return (await channel.get_partial_message(message_id).edit(content=text, attachments=files)).id
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE:
                    raise
        message = await channel.send(text, files=[u.to_file() for u in uploads], nonce=nonce)
        return message.id

    async def _edit_webhook(self, content: MessageContent) -> int:
        assert self.interaction is not None
        message = await self.interaction.edit_original_response(**_edit_fields(content))
        self.message_id = message.id
        return message.id

    async def _replace(self, content: MessageContent) -> int:
        """Post the content as a new message (the old one was deleted, or never known)."""
        old = self.message_id
        extra: dict[str, Any] = {"view": content.view} if content.view is not None else {}
        if old is not None:
            extra["nonce"] = f"dr{old}"  # Discord drops a second post with the same nonce
        message = await self._channel().send(embed=content.embed, files=[u.to_file() for u in content.uploads], **extra)
        self.message_id, self.interaction = message.id, None
        log.info("Message %s replaced by %s in channel %s", old, message.id, self.channel_id)
        if self.on_moved is not None:
            await self.on_moved(message.id)
        return message.id

    def _channel(self) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(self.channel_id)


def _edit_fields(content: MessageContent) -> dict[str, Any]:
    fields: dict[str, Any] = {"embed": content.embed, "view": content.view}
    if content.upload:
        fields["attachments"] = [u.to_file() for u in content.uploads]
    return fields
