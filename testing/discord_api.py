"""A loopback fake of the Discord REST API that discord.py's real HTTP code talks to.

discord.py builds every REST URL, including interaction callbacks and interaction webhooks
(``webhook/async_.py``), as ``Route.BASE + path`` when the ``Route`` is constructed
(``http.py``: ``Route.__init__``).  Pointing ``discord.http.Route.BASE`` at this server therefore
sends the bot's whole REST traffic here; attachments are downloaded from the absolute ``url`` in
their payload (``Attachment.read`` -> ``HTTPClient.get_from_cdn``), which this fake also serves.

The server records every request (:attr:`FakeDiscordAPI.requests`), keeps a message store so edits
and deletes behave, answers like Discord (status codes, error codes, rate-limit headers), and can
inject 429 and 5xx answers (:meth:`FakeDiscordAPI.fail_next`).

Usage (the ``fake_discord`` fixture in ``tests/conftest.py`` does this)::

    async with FakeDiscordAPI() as fake:
        with fake.patched():
            async with MyBot() as bot:
                await bot.login("test-token")  # GET /users/@me, GET /oauth2/applications/@me,
                #                                then setup_hook (and whatever it syncs)
                await payloads.dispatch_and_wait(bot, payloads.slash_command("ping"))
                assert fake.calls("POST", r"/callback$")[0].json["type"] == 5
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import math
import mimetypes
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self, TypeVar

import discord
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from testing import payloads
from testing.payloads import Payload

if TYPE_CHECKING:
    from types import TracebackType

    import pytest

T = TypeVar("T")

API_PREFIX = "/api/v10"

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15

# Interaction callback types.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE = (
    1,
    4,
    5,
    6,
    7,
)
AUTOCOMPLETE_RESULT, MODAL = 8, 9

_DEFAULT_ERRORS: dict[int, Payload] = {
    400: {"code": 50035, "message": "Invalid Form Body"},
    401: {"code": 0, "message": "401: Unauthorized"},
    403: {"code": 50013, "message": "Missing Permissions"},
    404: {"code": 10008, "message": "Unknown Message"},
    413: {"code": 40005, "message": "Request entity too large"},
    500: {"code": 0, "message": "500: Internal Server Error"},
    503: {
        "code": 0,
        "message": ("upstream connect error or disconnect/reset before headers. reset reason: overflow"),
    },
}
_TEXT_ERRORS: dict[int, str] = {
    502: "<html><head><title>502 Bad Gateway</title></head></html>",
    504: "<html><head><title>504 Gateway Time-out</title></head></html>",
}

UNKNOWN_MESSAGE: Payload = {"code": 10008, "message": "Unknown Message"}
UNKNOWN_WEBHOOK: Payload = {"code": 10015, "message": "Unknown Webhook"}
UNKNOWN_CHANNEL: Payload = {"code": 10003, "message": "Unknown Channel"}
UNKNOWN_INTERACTION: Payload = {"code": 10062, "message": "Unknown interaction"}
UNKNOWN_COMMAND: Payload = {"code": 10063, "message": "Unknown application command"}
ALREADY_ACKNOWLEDGED: Payload = {
    "code": 40060,
    "message": "Interaction has already been acknowledged.",
}
INVALID_WEBHOOK_TOKEN: Payload = {"code": 50027, "message": "Invalid Webhook Token"}
EMPTY_MESSAGE: Payload = {"code": 50006, "message": "Cannot send an empty message"}
TOO_LARGE: Payload = {"code": 40005, "message": "Request entity too large"}


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedFile:
    """One file part of a multipart request.  ``size`` and ``sha256`` are counted while streaming;
    ``data`` holds the bytes only when ``size <= FakeDiscordAPI.keep_file_bytes``."""

    #: The multipart field name, e.g. ``files[0]``.
    name: str
    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes | None


@dataclass
class RecordedRequest:
    """One request as the fake received and answered it."""

    method: str
    #: The path below the API base (``/interactions/1/tok/callback``); CDN paths are absolute
    #: (``/attachments/...``).  Percent-escapes are decoded.
    path: str
    query: dict[str, str]
    #: Case-insensitive (``CIMultiDict``).
    headers: Mapping[str, str]
    #: The JSON body, or the ``payload_json`` part of a multipart body; ``None`` without a body.
    json: Any
    files: list[RecordedFile] = field(default_factory=list)
    #: Other multipart form fields (not files, not ``payload_json``).
    form: dict[str, str] = field(default_factory=dict)
    status: int = 0
    #: The JSON the fake answered with (``None`` for 204 and non-JSON answers).
    response: Any = None
    #: True when the answer came from :meth:`FakeDiscordAPI.fail_next`.
    injected: bool = False
    #: True when no route matched (answered 404).
    unhandled: bool = False
    #: Set when the fake itself failed on the request (answered 400 so discord.py does not retry).
    fake_error: str | None = None
    received_at: float = 0.0

    @property
    def multipart(self) -> bool:
        return bool(self.files) or bool(self.form)


@dataclass
class FakeInteraction:
    """What the fake knows about one interaction, keyed by its token."""

    token: str
    interaction_id: int
    channel_id: int
    guild_id: int | None
    #: The message a component or modal interaction came from.
    source_message_id: int | None
    callback_type: int | None = None
    callback_data: Any = None
    original_message_id: int | None = None
    expired: bool = False

    @property
    def autocomplete_choices(self) -> list[Payload] | None:
        if self.callback_type != AUTOCOMPLETE_RESULT or not isinstance(self.callback_data, dict):
            return None
        return list(self.callback_data.get("choices", []))


@dataclass
class Fault:
    """An injected failure: the next ``remaining`` requests it matches are answered ``status`` (see ``fail_next``)."""

    status: int
    retry_after: float | None = None
    remaining: int = 1
    #: ``None`` matches any method.
    method: str | None = None
    #: Searched in the recorded path; the default matches every path.
    pattern: re.Pattern[str] = field(default_factory=lambda: re.compile(""))
    body: Any = None
    is_global: bool = False


@dataclass
class Reply:
    """The fake's answer to one request, before it becomes an aiohttp response."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str | None = None


class _HTTPError(Exception):
    def __init__(self, status: int, body: Payload) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _invalid_form(path: str, code: str, message: str) -> _HTTPError:
    """A Discord-style 400 Invalid Form Body with a nested ``errors`` tree for ``path`` (dotted)."""
    errors: Payload = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path.split(".")):
        errors = {key: errors}
    return _HTTPError(400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"})


# --- the fake -------------------------------------------------------------------------------------


_Handler = Callable[["FakeDiscordAPI", RecordedRequest, re.Match[str]], Reply]
_ROUTES: list[tuple[str, re.Pattern[str], str]] = []


def _route(method: str, pattern: str) -> Callable[[_Handler], _Handler]:
    def register(func: _Handler) -> _Handler:
        _ROUTES.append((method, re.compile(pattern), func.__name__))
        return func

    return register


_COMMANDS = r"/applications/(?P<app>\d+)(?:/guilds/(?P<guild>\d+))?/commands"
_WEBHOOK = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
_WEBHOOK_MESSAGE = _WEBHOOK + r"/messages/(?P<mid>@original|\d+)"
_CHANNEL_MESSAGE = r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)"


class FakeDiscordAPI:
    """The fake Discord REST API.  See the module docstring for the overall picture.

    Start it with ``async with FakeDiscordAPI() as fake`` (it listens on 127.0.0.1, free port) and
    point discord.py at it with ``fake.patched()`` or ``fake.install(monkeypatch)``.
    """

    def __init__(
        self,
        *,
        application_id: int = payloads.APPLICATION_ID,
        bot_user_id: int | None = None,
        bot_name: str = "DisComfy",
        owner_id: int = payloads.USER_ID,
        guild_id: int = payloads.GUILD_ID,
        token: str | None = None,
        upload_limit: int | None = payloads.DEFAULT_ATTACHMENT_SIZE_LIMIT,
        keep_file_bytes: int = 1024 * 1024,
    ) -> None:
        self.application_id = application_id
        self.bot_user = payloads.bot_user(bot_user_id if bot_user_id is not None else application_id, username=bot_name)
        self.owner_id = owner_id
        #: Guild assumed for channels the fake was not told about.
        self.guild_id = guild_id
        #: When set, only ``Authorization: Bot <token>`` is accepted on bot routes (else 401).
        self.token = token
        #: Largest accepted file part in bytes (413, code 40005, above it); ``None``: no limit.
        self.upload_limit = upload_limit
        #: Keep the bytes of uploaded files up to this size (for assertions and CDN downloads).
        self.keep_file_bytes = keep_file_bytes

        self.requests: list[RecordedRequest] = []
        #: What GET /gateway/bot recommends: Discord's shard count for the bot's guilds (1 below ~1000 guilds).
        self.recommended_shards = 1
        #: The message store: id -> message payload, as Discord would return it.
        self.messages: dict[int, Payload] = {}
        #: Ids of messages that were deleted (by the bot or by :meth:`delete_message`).
        self.deleted_messages: set[int] = set()
        self.channels: dict[int, Payload] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        #: Registered application commands: guild id (``None`` = global) -> command payloads.
        self.commands: dict[int | None, list[Payload]] = {}

        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._faults: list[Fault] = []
        self._blobs: dict[int, tuple[bytes, str]] = {}
        self._changed = asyncio.Event()
        self._server: TestServer | None = None
        self.url = ""

        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.app = app

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return f"{self.url}{API_PREFIX}"

    @property
    def cdn_base(self) -> str:
        """The value for ``discord.asset.Asset.BASE`` (avatars, icons: answered 404)."""
        return f"{self.url}/cdn"

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point discord.py's REST and asset URLs here for the rest of the test."""
        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        monkeypatch.setattr(discord.asset.Asset, "BASE", self.cdn_base)

    @contextlib.contextmanager
    def patched(self) -> Iterator[Self]:
        """Like :meth:`install`, as a context manager (for use outside pytest)."""
        old_route, old_asset = discord.http.Route.BASE, discord.asset.Asset.BASE
        discord.http.Route.BASE = self.api_base
        discord.asset.Asset.BASE = self.cdn_base
        try:
            yield self
        finally:
            discord.http.Route.BASE = old_route
            discord.asset.Asset.BASE = old_asset

    # --- test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        path_pattern: str,
        status: int,
        *,
        retry_after: float | None = None,
        times: int = 1,
        body: Any = None,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them.

        ``method`` ``None`` or ``"*"`` matches any method; ``path_pattern`` is a regex searched in
        the recorded path.  429 answers carry Discord's body ``{"message", "retry_after",
        "global"}`` and headers (``Retry-After``, ``X-RateLimit-*``, ``Via``); ``retry_after``
        defaults to 1.0 there.  Other statuses get Discord's usual error body unless ``body`` is
        given.  A failed request has no side effect on the store.

        How discord.py reacts (2.7.1): 429 is slept out and retried by both ``HTTPClient.request``
        and the webhook adapter; 500/502/504 are retried after ``1 + 2 * try`` seconds by both;
        503 is retried by the webhook adapter but raised at once (``DiscordServerError``) by
        ``HTTPClient``.  Five attempts in all.
        """
        self._faults.append(
            Fault(
                method=None if method in (None, "*") else method.upper(),
                pattern=re.compile(path_pattern),
                status=status,
                retry_after=retry_after,
                remaining=times,
                body=body,
                is_global=is_global,
            )
        )

    @property
    def pending_faults(self) -> int:
        """How many injected failures have not been used yet."""
        return sum(f.remaining for f in self._faults)

    def delete_message(self, channel_id: int, message_id: int) -> None:
        """Simulate a user (or moderator) deleting a message: later edits get 404, code 10008."""
        msg = self.messages.get(message_id)
        if msg is None or int(msg["channel_id"]) != channel_id:
            raise KeyError(f"no message {message_id} in channel {channel_id}")
        del self.messages[message_id]
        self.deleted_messages.add(message_id)

    def add_message(self, message: Payload) -> Payload:
        """Put an existing message in the store (e.g. one from before a restart)."""
        self.messages[int(message["id"])] = message
        return message

    def add_channel(self, channel: Payload) -> Payload:
        """Make ``GET /channels/{id}`` return ``channel`` (else a text channel is made up)."""
        self.channels[int(channel["id"])] = channel
        return channel

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> Payload:
        """Serve ``data`` as a user's attachment; returns the attachment payload to put in an
        interaction (``payloads.slash_command(..., {"image": fake.add_attachment(...)})``)."""
        attachment_id = payloads.snowflake()
        content_type = content_type or _guess_type(filename)
        if width is None or height is None:
            width, height = _image_size(data) or (None, None)
        self._blobs[attachment_id] = (data, content_type)
        return payloads.attachment(
            attachment_id=attachment_id,
            filename=filename,
            size=len(data),
            content_type=content_type,
            url=f"{self.url}/attachments/{attachment_id}/{filename}",
            width=width,
            height=height,
        )

    def register_interaction(self, payload: Payload) -> FakeInteraction:
        """Tell the fake about an interaction whose token was not made by ``payloads``."""
        message = payload.get("message")
        inter = FakeInteraction(
            token=payload["token"],
            interaction_id=int(payload["id"]),
            channel_id=int(payload.get("channel_id") or payload["channel"]["id"]),
            guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None,
            source_message_id=int(message["id"]) if message else None,
        )
        self.interactions[inter.token] = inter
        if message and int(message["id"]) not in self.messages:
            self.add_message(message)
        return inter

    def interaction(self, token_or_payload: str | Payload) -> FakeInteraction:
        """The fake's view of an interaction (by token or by its payload)."""
        token = token_or_payload if isinstance(token_or_payload, str) else token_or_payload["token"]
        return self.interactions[token]

    def expire_interaction(self, token_or_payload: str | Payload) -> None:
        """From now on the interaction's callback answers 404 (10062, the 3 s deadline passed) and
        its webhook 401 (50027, the 15 min token expired)."""
        token = token_or_payload if isinstance(token_or_payload, str) else token_or_payload["token"]
        self._interaction_for(token).expired = True

    def command_id(self, name: str, guild_id: int | None = None, command_type: int = 1) -> int:
        """The id the fake gave a synced command."""
        return self._command_ids[(guild_id, command_type, name)]

    # --- assertions -----------------------------------------------------------------------------

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, oldest first, whose method equals ``method`` (``None``/``"*"``: any)
        and whose path matches ``path_regex`` (``re.search``)."""
        pattern = re.compile(path_regex) if path_regex is not None else None
        wanted = None if method in (None, "*") else method.upper()
        return [
            r
            for r in self.requests
            if (wanted is None or r.method == wanted) and (pattern is None or pattern.search(r.path) is not None)
        ]

    @property
    def unhandled(self) -> list[RecordedRequest]:
        """Requests the fake could not serve: no route matched (an endpoint it does not implement,
        answered 404) or it failed on them (``fake_error``, answered 400)."""
        return [r for r in self.requests if r.unhandled or r.fake_error is not None]

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109 - the error lists the requests seen so far
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked after every answered request).

        Returns the truthy value; on timeout raises ``TimeoutError`` listing the requests seen."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = predicate()
                    if result:
                        return result
                    await changed.wait()
        except TimeoutError:
            seen = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self.requests)
            raise TimeoutError(f"condition not met within {timeout}s; requests so far:\n{seen}") from None

    # --- request handling -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        in_api = path.startswith(API_PREFIX + "/") or path == API_PREFIX
        record = RecordedRequest(
            method=request.method,
            path=path[len(API_PREFIX) :] if in_api else path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            json=None,
            received_at=time.monotonic(),
        )
        try:
            await self._read_body(request, record)
            reply = self.dispatch(record, in_api=in_api)
        except _HTTPError as exc:
            reply = Reply(exc.status, exc.body)
        except Exception as exc:  # a bug in the fake or a body it cannot read: fail fast
            # 400 rather than 500, which discord.py would retry for ~25 s.
            record.fake_error = repr(exc)
            reply = Reply(400, {"code": 0, "message": f"FakeDiscordAPI could not handle this: {exc!r}"})
        record.status = reply.status
        if reply.raw is None and reply.status != 204 and reply.body is not None:
            # A snapshot: the store keeps changing the live message dictionaries.
            record.response = json.loads(json.dumps(reply.body))
        self.requests.append(record)
        self._changed.set()
        self._changed = asyncio.Event()
        return self._to_response(reply, record)

    async def _read_body(self, request: web.Request, record: RecordedRequest) -> None:
        if not request.body_exists:
            return
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if isinstance(part, BodyPartReader):
                    await self._read_part(part, record)
            return
        raw = await request.read()
        if raw:
            try:
                record.json = json.loads(raw)
            except ValueError:
                record.form["_raw"] = raw.decode("utf-8", "replace")

    async def _read_part(self, part: BodyPartReader, record: RecordedRequest) -> None:
        name = part.name or ""
        if part.filename is None:
            text = await part.text()
            if name == "payload_json":
                record.json = json.loads(text)
            else:
                record.form[name] = text
            return
        digest = hashlib.sha256()
        size = 0
        kept = io.BytesIO()
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
            digest.update(chunk)
            if size <= self.keep_file_bytes:
                kept.write(chunk)
        record.files.append(
            RecordedFile(
                name=name,
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                size=size,
                sha256=digest.hexdigest(),
                data=kept.getvalue() if size <= self.keep_file_bytes else None,
            )
        )

    def dispatch(self, record: RecordedRequest, *, in_api: bool) -> Reply:
        """Answer one recorded request: an injected fault, else the route's handler, else 404.

        The hook for a stricter fake: a subclass may answer some requests itself (set ``record.injected`` when it
        refuses one) and hand the rest to ``super().dispatch``. ``in_api`` is False for CDN paths.
        """
        fault = self._take_fault(record)
        if fault is not None:
            record.injected = True
            return self.fault_reply(fault)
        if not in_api:
            if record.method == "GET" and record.path.startswith("/attachments/"):
                return self._cdn(record)
            record.unhandled = True
            return Reply(404, {"code": 0, "message": "404: Not Found"})
        for method, pattern, handler_name in _ROUTES:
            if method != record.method:
                continue
            match = pattern.fullmatch(record.path)
            if match is not None:
                self._check_upload_limit(record)
                handler: _Handler = getattr(type(self), handler_name)
                return handler(self, record, match)
        record.unhandled = True
        return Reply(404, {"code": 0, "message": "404: Not Found"})

    def _take_fault(self, record: RecordedRequest) -> Fault | None:
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            if fault.method is not None and fault.method != record.method:
                continue
            if fault.pattern.search(record.path) is None:
                continue
            fault.remaining -= 1
            return fault
        return None

    def fault_reply(self, fault: Fault) -> Reply:
        """Discord's answer for ``fault``: a 429 with its body and rate-limit headers, or the status's usual error."""
        if fault.status == 429:
            retry_after = fault.retry_after if fault.retry_after is not None else 1.0
            headers = {
                "Retry-After": str(max(1, math.ceil(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Scope": "global" if fault.is_global else "user",
                "Via": "1.1 google",
            }
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            body = fault.body or {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": fault.is_global,
            }
            return Reply(429, body, headers)
        if fault.body is not None:
            return Reply(fault.status, fault.body)
        if fault.status in _TEXT_ERRORS:
            return Reply(fault.status, raw=_TEXT_ERRORS[fault.status].encode(), content_type="text/html")
        body = _DEFAULT_ERRORS.get(fault.status, {"code": 0, "message": f"{fault.status}: Error"})
        return Reply(fault.status, body)

    def _to_response(self, reply: Reply, record: RecordedRequest) -> web.StreamResponse:
        headers = {"Via": "1.1 google", **self._ratelimit_headers(record), **reply.headers}
        if reply.raw is not None:
            return web.Response(
                status=reply.status,
                body=reply.raw,
                headers=headers,
                content_type=reply.content_type or "application/octet-stream",
            )
        if reply.status == 204 or reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        # Exactly "application/json": discord.py's json_or_text compares the header verbatim.
        headers["Content-Type"] = "application/json"
        return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)

    @staticmethod
    def _ratelimit_headers(record: RecordedRequest) -> dict[str, str]:
        if record.path.startswith("/attachments/") or record.path.startswith("/cdn/"):
            return {}
        template = re.sub(r"\d{5,}", "{id}", record.path.split("/messages/")[0])
        bucket = hashlib.md5(f"{record.method} {template}".encode()).hexdigest()
        # Generous on purpose: real buckets are ~5 per 5 s, but a pre-emptive 1 s wait on a
        # busy bucket would make tests slow and timing-dependent.
        return {
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
        }

    def _check_upload_limit(self, record: RecordedRequest) -> None:
        if self.upload_limit is None:
            return
        for recorded in record.files:
            if recorded.size > self.upload_limit:
                raise _HTTPError(413, TOO_LARGE)

    def _check_bot_auth(self, record: RecordedRequest) -> None:
        if self.token is None:
            return
        if record.headers.get("Authorization") != f"Bot {self.token}":
            raise _HTTPError(401, _DEFAULT_ERRORS[401])

    # --- users, application, commands -----------------------------------------------------------

    @_route("GET", r"/users/@me")
    def _get_me(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        return Reply(200, self.bot_user)

    @_route("GET", r"/gateway/bot")
    def _get_gateway_bot(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return Reply(
            200, {"url": "wss://gateway.invalid", "shards": self.recommended_shards, "session_start_limit": limit}
        )

    @_route("GET", r"/oauth2/applications/@me")
    def _get_application(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        return Reply(
            200,
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": payloads.user(self.owner_id, username="owner"),
                "team": None,
                "bot": self.bot_user,
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": 1,
                "integration_types_config": {"0": {}},
            },
        )

    def _check_app(self, match: re.Match[str]) -> None:
        if int(match["app"]) != self.application_id:
            raise _HTTPError(404, {"code": 10002, "message": "Unknown Application"})

    @staticmethod
    def _guild_of(match: re.Match[str]) -> int | None:
        return int(match["guild"]) if match["guild"] else None

    def _store_command(self, guild_id: int | None, body: Payload) -> Payload:
        name = body.get("name", "")
        command_type = int(body.get("type", 1))
        if command_type == 1 and not re.fullmatch(r"[-_\w]{1,32}", name, re.UNICODE):
            raise _invalid_form("name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if command_type == 1 and not 1 <= len(body.get("description", "")) <= 100:
            raise _invalid_form("description", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long")
        key = (guild_id, command_type, name)
        command_id = self._command_ids.setdefault(key, payloads.snowflake())
        command = {
            "type": command_type,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **body,
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(payloads.snowflake()),
        }
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    @_route("GET", _COMMANDS)
    def _list_commands(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._check_app(match)
        return Reply(200, self.commands.get(self._guild_of(match), []))

    @_route("PUT", _COMMANDS)
    def _put_commands(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._check_app(match)
        guild_id = self._guild_of(match)
        stored = [self._store_command(guild_id, body) for body in record.json or []]
        self.commands[guild_id] = stored
        return Reply(200, stored)

    @_route("POST", _COMMANDS)
    def _post_command(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._check_app(match)
        guild_id = self._guild_of(match)
        command = self._store_command(guild_id, record.json or {})
        existing = self.commands.setdefault(guild_id, [])
        existing[:] = [c for c in existing if c["id"] != command["id"]] + [command]
        return Reply(201, command)

    def _find_command(self, match: re.Match[str]) -> tuple[list[Payload], Payload]:
        commands = self.commands.get(self._guild_of(match), [])
        for command in commands:
            if command["id"] == match["cmd"]:
                return commands, command
        raise _HTTPError(404, UNKNOWN_COMMAND)

    @_route("GET", _COMMANDS + r"/(?P<cmd>\d+)")
    def _get_command(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._check_app(match)
        return Reply(200, self._find_command(match)[1])

    @_route("PATCH", _COMMANDS + r"/(?P<cmd>\d+)")
    def _patch_command(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._check_app(match)
        _commands, command = self._find_command(match)
        command.update(record.json or {})
        return Reply(200, command)

    @_route("DELETE", _COMMANDS + r"/(?P<cmd>\d+)")
    def _delete_command(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._check_app(match)
        commands, command = self._find_command(match)
        commands.remove(command)
        return Reply(204)

    # --- interactions ---------------------------------------------------------------------------

    def _interaction_for(self, token: str, interaction_id: int | None = None) -> FakeInteraction:
        inter = self.interactions.get(token)
        if inter is not None:
            return inter
        decoded = payloads.parse_interaction_token(token)
        if decoded is not None:
            iid, channel_id, guild_id, message_id = decoded
        else:
            iid, channel_id, guild_id, message_id = (
                interaction_id or 0,
                payloads.CHANNEL_ID,
                self.guild_id,
                None,
            )
        inter = FakeInteraction(
            token=token,
            interaction_id=iid,
            channel_id=channel_id,
            guild_id=guild_id,
            source_message_id=message_id,
        )
        self.interactions[token] = inter
        return inter

    def _source_message(self, inter: FakeInteraction) -> Payload:
        """The message a component interaction came from; a stub if the test never stored it."""
        if inter.source_message_id is None:
            raise _invalid_form("type", "INTERACTION_TYPE_INVALID", "Not a component interaction")
        if inter.source_message_id in self.deleted_messages:
            raise _HTTPError(404, UNKNOWN_MESSAGE)
        msg = self.messages.get(inter.source_message_id)
        if msg is None:
            msg = self.add_message(
                payloads.message(
                    message_id=inter.source_message_id,
                    channel_id=inter.channel_id,
                    guild_id=inter.guild_id,
                    author=self.bot_user,
                    application_id=self.application_id,
                )
            )
        return msg

    @_route("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback")
    def _callback(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        inter = self._interaction_for(match["token"], int(match["iid"]))
        if inter.expired or inter.interaction_id != int(match["iid"]):
            raise _HTTPError(404, UNKNOWN_INTERACTION)
        if inter.callback_type is not None:
            raise _HTTPError(400, ALREADY_ACKNOWLEDGED)
        body = record.json or {}
        callback_type = int(body.get("type", 0))
        data = body.get("data") or {}
        resource: Payload = {"type": callback_type}
        loading = False
        message: Payload | None = None
        if callback_type == CHANNEL_MESSAGE:
            message = self._new_message(inter.channel_id, inter.guild_id, data, record, inter=inter)
            inter.original_message_id = int(message["id"])
            resource["message"] = message
        elif callback_type == DEFERRED_CHANNEL_MESSAGE:
            message = self._new_message(
                inter.channel_id,
                inter.guild_id,
                {"flags": (int(data.get("flags", 0)) & FLAG_EPHEMERAL) | FLAG_LOADING},
                record,
                inter=inter,
                allow_empty=True,
            )
            inter.original_message_id = int(message["id"])
            loading = True
        elif callback_type == DEFERRED_UPDATE_MESSAGE:
            message = self._source_message(inter)
            inter.original_message_id = int(message["id"])
        elif callback_type == UPDATE_MESSAGE:
            message = self._source_message(inter)
            self._edit_message(message, data, record)
            inter.original_message_id = int(message["id"])
            resource["message"] = message
        elif callback_type == AUTOCOMPLETE_RESULT:
            self._validate_choices(data.get("choices", []))
        elif callback_type not in (PONG, MODAL):
            raise _invalid_form("type", "BASE_TYPE_CHOICES", f"Unsupported type {callback_type}")
        inter.callback_type = callback_type
        inter.callback_data = data
        if record.query.get("with_response") not in ("1", "true", "True"):
            return Reply(204)
        summary: Payload = {
            "id": str(inter.interaction_id),
            "type": 3 if inter.source_message_id else 2,
            "response_message_loading": loading,
            "response_message_ephemeral": bool(message is not None and int(message.get("flags", 0)) & FLAG_EPHEMERAL),
        }
        if message is not None:
            summary["response_message_id"] = message["id"]
        if callback_type == AUTOCOMPLETE_RESULT:
            summary["type"] = 4
        return Reply(200, {"interaction": summary, "resource": resource})

    @staticmethod
    def _validate_choices(choices: list[Payload]) -> None:
        if len(choices) > 25:
            raise _invalid_form("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer")
        for index, choice in enumerate(choices):
            if not 1 <= len(str(choice.get("name", ""))) <= 100:
                raise _invalid_form(f"data.choices.{index}.name", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long")

    def _webhook_interaction(self, match: re.Match[str]) -> FakeInteraction:
        if int(match["app"]) != self.application_id:
            raise _HTTPError(404, UNKNOWN_WEBHOOK)
        inter = self.interactions.get(match["token"])
        if inter is None or inter.callback_type is None:
            raise _HTTPError(404, UNKNOWN_WEBHOOK)
        if inter.expired:
            raise _HTTPError(401, INVALID_WEBHOOK_TOKEN)
        return inter

    def _webhook_message(self, inter: FakeInteraction, mid: str) -> Payload:
        message_id = inter.original_message_id if mid == "@original" else int(mid)
        if message_id is None or message_id not in self.messages:
            raise _HTTPError(404, UNKNOWN_MESSAGE)
        return self.messages[message_id]

    @_route("GET", _WEBHOOK_MESSAGE)
    def _get_webhook_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        inter = self._webhook_interaction(match)
        return Reply(200, self._webhook_message(inter, match["mid"]))

    @_route("PATCH", _WEBHOOK_MESSAGE)
    def _patch_webhook_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        inter = self._webhook_interaction(match)
        message = self._webhook_message(inter, match["mid"])
        self._edit_message(message, record.json or {}, record)
        return Reply(200, message)

    @_route("DELETE", _WEBHOOK_MESSAGE)
    def _delete_webhook_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        inter = self._webhook_interaction(match)
        message = self._webhook_message(inter, match["mid"])
        self._remove(int(message["id"]))
        return Reply(204)

    @_route("POST", _WEBHOOK)
    def _followup(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        inter = self._webhook_interaction(match)
        body = record.json or {}
        original = self.messages.get(inter.original_message_id) if inter.original_message_id is not None else None
        if original is not None and int(original.get("flags", 0)) & FLAG_LOADING:
            # Discord: the first followup after a "thinking" defer replaces the loading message
            # (same id; the defer decided whether it is ephemeral).
            self._edit_message(original, body, record)
            message = original
        else:
            message = self._new_message(inter.channel_id, inter.guild_id, body, record, inter=inter)
        if record.query.get("wait") not in ("1", "true", "True"):
            return Reply(204)
        return Reply(200, message)

    # --- channels -------------------------------------------------------------------------------

    def _channel(self, channel_id: int) -> Payload:
        channel = self.channels.get(channel_id)
        if channel is None:
            channel = payloads.text_channel(channel_id, guild_id=self.guild_id)
        return channel

    @_route("GET", r"/channels/(?P<cid>\d+)")
    def _get_channel(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        return Reply(200, self._channel(int(match["cid"])))

    @_route("POST", r"/channels/(?P<cid>\d+)/typing")
    def _typing(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        return Reply(204)

    @_route("POST", r"/channels/(?P<cid>\d+)/messages")
    def _post_channel_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        channel = self._channel(int(match["cid"]))
        guild_id = int(channel["guild_id"]) if channel.get("guild_id") else None
        message = self._new_message(int(match["cid"]), guild_id, record.json or {}, record)
        return Reply(200, message)

    def _channel_message(self, match: re.Match[str]) -> Payload:
        message = self.messages.get(int(match["mid"]))
        if message is None or int(message["channel_id"]) != int(match["cid"]):
            raise _HTTPError(404, UNKNOWN_MESSAGE)
        return message

    @_route("GET", _CHANNEL_MESSAGE)
    def _get_channel_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        return Reply(200, self._channel_message(match))

    @_route("PATCH", _CHANNEL_MESSAGE)
    def _patch_channel_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        message = self._channel_message(match)
        self._edit_message(message, record.json or {}, record)
        return Reply(200, message)

    @_route("DELETE", _CHANNEL_MESSAGE)
    def _delete_channel_message(self, record: RecordedRequest, match: re.Match[str]) -> Reply:
        self._check_bot_auth(record)
        self._remove(int(self._channel_message(match)["id"]))
        return Reply(204)

    # --- CDN ------------------------------------------------------------------------------------

    def _cdn(self, record: RecordedRequest) -> Reply:
        # /attachments/{id}/{filename} (user attachments) or
        # /attachments/{channel_id}/{id}/{filename} (files the bot uploaded)
        parts = record.path.strip("/").split("/")
        blob = None
        if len(parts) >= 3 and parts[-2].isdigit():
            blob = self._blobs.get(int(parts[-2]))
        if blob is None:
            return Reply(404, raw=b"Not Found", content_type="text/plain")
        data, content_type = blob
        return Reply(200, raw=data, content_type=content_type)

    # --- message store --------------------------------------------------------------------------

    def _remove(self, message_id: int) -> None:
        self.messages.pop(message_id, None)
        self.deleted_messages.add(message_id)

    def _new_message(
        self,
        channel_id: int,
        guild_id: int | None,
        body: Payload,
        record: RecordedRequest,
        *,
        inter: FakeInteraction | None = None,
        allow_empty: bool = False,
    ) -> Payload:
        message = payloads.message(
            channel_id=channel_id,
            guild_id=guild_id,
            author=self.bot_user,
            application_id=self.application_id if inter is not None else None,
            webhook_id=self.application_id if inter is not None else None,
            message_type=20 if inter is not None and inter.source_message_id is None else 0,
        )
        keep = FLAG_EPHEMERAL | FLAG_LOADING | FLAG_SUPPRESS_EMBEDS
        keep |= FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
        message["flags"] = int(body.get("flags") or 0) & keep
        if "message_reference" in body:
            message["message_reference"] = body["message_reference"]
        self._apply(message, body, record)
        if not allow_empty:
            self._validate(message)
        self.messages[int(message["id"])] = message
        return message

    def _edit_message(self, message: Payload, body: Payload, record: RecordedRequest) -> None:
        candidate = json.loads(json.dumps(message))
        flags = int(candidate.get("flags", 0)) & ~FLAG_LOADING
        if "flags" in body and body["flags"] is not None:
            editable = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2
            flags = (flags & ~editable) | (int(body["flags"]) & editable)
        candidate["flags"] = flags
        self._apply(candidate, body, record)
        candidate["edited_timestamp"] = payloads.iso_now()
        self._validate(candidate)
        message.clear()
        message.update(candidate)

    def _apply(self, message: Payload, body: Payload, record: RecordedRequest) -> None:
        if "content" in body:
            message["content"] = body["content"] or ""
        if "components" in body:
            message["components"] = body["components"] or []
        if "tts" in body:
            message["tts"] = bool(body["tts"])
        uploads = {
            int(m.group(1)): f for f in record.files if (m := re.fullmatch(r"files\[(\d+)\]", f.name)) is not None
        }
        if "attachments" in body:
            old = {str(a["id"]): a for a in message.get("attachments", [])}
            attachments: list[Payload] = []
            for entry in body["attachments"] or []:
                key = str(entry.get("id"))
                if key in old:
                    kept = dict(old[key])
                    if "description" in entry:
                        kept["description"] = entry["description"]
                    attachments.append(kept)
                elif key.isdigit() and int(key) in uploads:
                    attachments.append(self._store_upload(int(message["channel_id"]), uploads[int(key)], entry))
            message["attachments"] = attachments
        elif uploads:
            message["attachments"] = list(message.get("attachments", [])) + [
                self._store_upload(int(message["channel_id"]), f, {}) for f in uploads.values()
            ]
        if "embeds" in body:
            by_name = {a["filename"]: a for a in message.get("attachments", [])}
            message["embeds"] = [_normalize_embed(e, by_name) for e in body["embeds"] or []]

    def _store_upload(self, channel_id: int, upload: RecordedFile, entry: Payload) -> Payload:
        attachment_id = payloads.snowflake()
        filename = str(entry.get("filename") or upload.filename)
        content_type = _guess_type(filename)
        size = _image_size(upload.data) if upload.data is not None else None
        if upload.data is not None:
            self._blobs[attachment_id] = (upload.data, content_type)
        attachment = payloads.attachment(
            attachment_id=attachment_id,
            filename=filename,
            size=upload.size,
            content_type=content_type,
            url=f"{self.url}/attachments/{channel_id}/{attachment_id}/{filename}",
            width=size[0] if size else None,
            height=size[1] if size else None,
            description=entry.get("description"),
        )
        if entry.get("title"):
            attachment["title"] = entry["title"]
        return attachment

    @staticmethod
    def _validate(message: Payload) -> None:
        content = message.get("content") or ""
        if len(content) > 2000:
            raise _invalid_form("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = message.get("embeds") or []
        if len(embeds) > 10:
            raise _invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        for index, embed in enumerate(embeds):
            _validate_embed(embed, f"embeds.{index}")
        for path, custom_id in _custom_ids(message.get("components") or [], "components"):
            if not 1 <= len(custom_id) <= 100:
                raise _invalid_form(
                    f"{path}.custom_id",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
        has_body = content or embeds or message.get("attachments") or message.get("components")
        has_body = has_body or message.get("poll") or message.get("sticker_items")
        if not has_body and not int(message.get("flags", 0)) & FLAG_LOADING:
            raise _HTTPError(400, EMPTY_MESSAGE)


# --- helpers --------------------------------------------------------------------------------------


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG/WebP (via Pillow when installed)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _normalize_embed(embed: Payload, attachments: Mapping[str, Payload]) -> Payload:
    """What Discord stores: ``type: rich`` and ``attachment://name`` resolved to the upload."""
    result = json.loads(json.dumps(embed))
    result.setdefault("type", "rich")
    for key, url_key, proxy_key in (
        ("image", "url", "proxy_url"),
        ("thumbnail", "url", "proxy_url"),
        ("author", "icon_url", "proxy_icon_url"),
        ("footer", "icon_url", "proxy_icon_url"),
    ):
        part = result.get(key)
        if not isinstance(part, dict):
            continue
        url = part.get(url_key)
        if isinstance(url, str) and url.startswith("attachment://"):
            found = attachments.get(url.removeprefix("attachment://"))
            if found is not None:
                part[url_key] = found["url"]
                part[proxy_key] = found["proxy_url"]
                if "width" in found and key in ("image", "thumbnail"):
                    part["width"], part["height"] = found["width"], found["height"]
    return result


_EMBED_LIMITS = {"title": 256, "description": 4096}


def _validate_embed(embed: Payload, path: str) -> None:
    total = 0
    for key, limit in _EMBED_LIMITS.items():
        value = embed.get(key) or ""
        total += len(value)
        if len(value) > limit:
            raise _invalid_form(f"{path}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer")
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise _invalid_form(f"{path}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer")
    for index, item in enumerate(fields):
        name, value = str(item.get("name", "")), str(item.get("value", ""))
        if not 1 <= len(name) <= 256:
            raise _invalid_form(f"{path}.fields.{index}.name", "BASE_TYPE_BAD_LENGTH", "1-256")
        if not 1 <= len(value) <= 1024:
            raise _invalid_form(f"{path}.fields.{index}.value", "BASE_TYPE_BAD_LENGTH", "1-1024")
        total += len(name) + len(value)
    footer = (embed.get("footer") or {}).get("text") or ""
    author = (embed.get("author") or {}).get("name") or ""
    if len(footer) > 2048:
        raise _invalid_form(f"{path}.footer.text", "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer")
    if len(author) > 256:
        raise _invalid_form(f"{path}.author.name", "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer")
    total += len(footer) + len(author)
    if total > 6000:
        raise _invalid_form(path, "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000")


def _custom_ids(components: list[Any], path: str) -> Iterator[tuple[str, str]]:
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        here = f"{path}.{index}"
        if "custom_id" in component:
            yield here, str(component["custom_id"])
        for key in ("components", "accessory", "component"):
            child = component.get(key)
            if isinstance(child, list):
                yield from _custom_ids(child, f"{here}.{key}")
            elif isinstance(child, dict):
                yield from _custom_ids([child], f"{here}.{key}")


def guard_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any attempt to resolve or connect to a host that is not loopback."""
    allowed = {"127.0.0.1", "::1", "localhost"}
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and address and address[0] not in allowed:
            raise AssertionError(f"test tried to reach {address!r}: only loopback is allowed")

    def connect(sock: socket.socket, address: Any) -> None:
        check(address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in allowed:
            raise AssertionError(f"test tried to resolve {name!r}: only loopback is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
