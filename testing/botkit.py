"""The shared kit for bot end-to-end tests: a real DiscomfyBot on the fake ComfyUI and the fake Discord API.

Everything is built by the app's own composition root (`discomfy.app.open_bot`: Config from YAML, JobStore,
ComfyService, JobManager, DiscomfyBot), then `login` runs the real setup_hook; only ComfyUI and Discord are fakes.

Typical use::

    @pytest_asyncio.fixture
    async def kit(fake_discord, fake_comfy, tmp_path):
        async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
            yield kit

    async def test_something(kit):
        payload = await kit.command("generate", {"prompt": "a red fox", "steps": 4})
        await kit.settle()
        message = kit.message(payload)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from discomfy.app import open_bot
from discomfy.bot.bot import DiscomfyBot
from discomfy.comfy import ComfyService
from discomfy.config import Config, load_config
from discomfy.jobs import JobManager
from discomfy.store import JobRecord, JobStore
from discomfy.store.database import BUSY_TIMEOUT
from testing import payloads
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI, Fault, RecordedRequest, Reply
from testing.payloads import Payload

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
ORIGINAL = r"^/webhooks/\d+/[^/]+/messages/@original$"
FOLLOWUP = r"^/webhooks/\d+/[^/]+$"
CHANNEL_EDIT = r"^/channels/\d+/messages/\d+$"
CHANNEL_POST = r"^/channels/\d+/messages$"
#: Model files the shipped workflows name that the fake ComfyUI does not have by default.
EXTRA_MODELS = {
    "checkpoints": ["v1-5-pruned-emaonly-fp16.safetensors"],
    "diffusion_models": ["wan2.1_t2v_1.3B_fp16.safetensors"],
    "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae": ["wan_2.1_vae.safetensors"],
}
#: Test defaults: fast edits, no cooldown; any section can be overridden per test. The bot sends every job on
#: to ComfyUI at once (a look-ahead as large as the total limit), so tests of ComfyUI's queue see them all
#: there; the scheduler's own tests set `scheduler.look_ahead` to what they exercise.
BASE_CONFIG: dict[str, Any] = {
    "uploads": {"edit_interval": 0.5},
    "limits": {"cooldown_seconds": 0, "max_pending_per_user": 3, "max_pending_total": 25},
    "scheduler": {"look_ahead": 25},
}


def install_models(fake: FakeComfy, models: Mapping[str, list[str]] = EXTRA_MODELS) -> None:
    """Give the fake ComfyUI the model files the shipped SD 1.5 and Wan workflows load."""
    for folder, names in models.items():
        fake.models.setdefault(folder, [])
        fake.models[folder].extend(n for n in names if n not in fake.models[folder])


def make_config(
    tmp_path: Path,
    comfy_url: str,
    *,
    workflows: Path = WORKFLOWS,
    workflow_settings: Mapping[str, Any] | None = None,
    servers: Mapping[str, str] | None = None,
    **sections: Any,
) -> Config:
    """A config.yaml in `tmp_path` pointing at the fake ComfyUI; `sections` are merged over BASE_CONFIG.

    `workflow_settings` (e.g. `{"upscale": "upscale"}`) go into the `workflows` section next to its directory.
    `servers` (name -> url) lists several ComfyUI servers under comfy.servers instead of `comfy_url`.
    """
    comfy = {"servers": [{"name": n, "url": u} for n, u in servers.items()]} if servers else {"url": comfy_url}
    data: dict[str, Any] = {
        "comfy": comfy,
        "workflows": {"directory": str(workflows), "default": "txt2img_sdxl", **(workflow_settings or {})},
        "storage": {"database": str(tmp_path / "discomfy.sqlite3"), "outputs": str(tmp_path / "outputs")},
    }
    for name, values in {**BASE_CONFIG, **sections}.items():
        data[name] = {**data.get(name, {}), **BASE_CONFIG.get(name, {}), **values}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path, env={})


@dataclass
class BotKit:
    """A logged-in bot and the fakes around it, with helpers that read like the tests' sentences."""

    discord: FakeDiscordAPI
    comfy: FakeComfy
    config: Config
    store: JobStore
    service: ComfyService  # the first server's (the only one unless the config lists several)
    jobs: JobManager
    bot: DiscomfyBot
    closing: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, repr=False)
    payloads_sent: list[Payload] = field(default_factory=list)
    #: This kit and every kit a `restart` made from it; the last one is the running bot.
    generations: list[BotKit] = field(default_factory=list)

    async def command(self, name: str, options: Mapping[str, Any] | None = None, **context: Any) -> Payload:
        """Run a slash command as the gateway would deliver it; returns once its handler has finished."""
        payload = payloads.slash_command(name, options, **context)
        self.payloads_sent.append(payload)
        await payloads.dispatch_and_wait(self.bot, payload, timeout=15.0)
        return payload

    async def settle(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109 - a test's budget
        """Wait until every job the presenter shows is delivered or has its final state."""
        async with asyncio.timeout(timeout):
            await self.bot.presenter.drain()

    def callback(self, payload: Payload) -> RecordedRequest:
        """The interaction's callback (type 5 for a defer, 4 for an immediate answer)."""
        token = re.escape(payload["token"])
        (call,) = self.discord.calls("POST", rf"^/interactions/\d+/{token}/callback$")
        return call

    def original_edits(self, payload: Payload) -> list[RecordedRequest]:
        """Successful PATCHes of the interaction's original response, oldest first."""
        token = re.escape(payload["token"])
        return [
            r for r in self.discord.calls("PATCH", rf"^/webhooks/\d+/{token}/messages/@original$") if r.status == 200
        ]

    def message_id(self, payload: Payload) -> int:
        """The id of the message the interaction's response created."""
        message_id = self.discord.interaction(payload).original_message_id
        assert message_id is not None, "the interaction was never answered"
        return message_id

    def message(self, payload_or_id: Payload | int) -> Payload:
        """The message as the fake Discord holds it now (embeds, attachments, components)."""
        message_id = payload_or_id if isinstance(payload_or_id, int) else self.message_id(payload_or_id)
        return self.discord.messages[message_id]

    async def records(self, payload_or_id: Payload | int) -> list[JobRecord]:
        """The stored jobs a message shows."""
        message_id = payload_or_id if isinstance(payload_or_id, int) else self.message_id(payload_or_id)
        return await self.store.by_message_id(message_id)

    def edits_of(self, message_id: int) -> list[RecordedRequest]:
        """Every answered edit of one message, through the webhook or the channel, oldest first."""
        result = []
        for request in self.discord.requests:
            if request.method != "PATCH" or "/messages/" not in request.path:
                continue
            if _edited_message(self.discord, request) == message_id:
                result.append(request)
        return result

    async def restart(self) -> BotKit:
        """Stop the bot, its ComfyUI service and job manager (as a crash or deploy would) and start new ones
        on the same store; the new bot resumes unfinished jobs in its setup_hook."""
        await _stop(self)
        new = await _start(self.discord, self.comfy, self.config, self.store)
        new.generations = self.generations
        self.generations.append(new)
        return new


def _edited_message(fake: FakeDiscordAPI, request: RecordedRequest) -> int | None:
    match = re.search(r"/webhooks/\d+/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)$", request.path)
    if match:
        if match["mid"] != "@original":
            return int(match["mid"])
        inter = fake.interactions.get(match["token"])
        return inter.original_message_id if inter else None
    match = re.search(r"/channels/\d+/messages/(?P<mid>\d+)$", request.path)
    return int(match["mid"]) if match else None


async def _start(discord_api: FakeDiscordAPI, comfy: FakeComfy, config: Config, store: JobStore) -> BotKit:
    """A bot built by the app's own composition root on `store`, logged in to the fake Discord."""
    stack = contextlib.AsyncExitStack()
    try:
        bot = await stack.enter_async_context(open_bot(config, store=store))
        await bot.login("test-token")
    except BaseException:
        await stack.aclose()
        raise
    return BotKit(discord_api, comfy, config, store, bot.comfy.first.service, bot.jobs, bot, closing=stack)


async def _stop(kit: BotKit) -> None:
    await kit.closing.aclose()


@contextlib.asynccontextmanager
async def start_bot(
    discord_api: FakeDiscordAPI,
    comfy: FakeComfy,
    tmp_path: Path,
    *,
    workflows: Path = WORKFLOWS,
    workflow_settings: Mapping[str, Any] | None = None,
    comfy_settings: Mapping[str, Any] | None = None,
    store_busy_timeout: float = BUSY_TIMEOUT,
    servers: Mapping[str, FakeComfy] | None = None,
    **sections: Any,
) -> AsyncIterator[BotKit]:
    """A logged-in DiscomfyBot on the fakes; everything is closed afterwards (also after a `restart`).

    `comfy_settings` (e.g. `{"request_timeout": 1.0}`) go into the config's `comfy` section next to its url.
    `store_busy_timeout`: how long a store write waits for a lock another process holds (tests of a busy store).
    `servers` (name -> fake): several ComfyUI servers under comfy.servers, in this order (`comfy` among them).
    """
    for fake in {comfy, *(servers or {}).values()}:
        install_models(fake)
    if comfy_settings:
        sections["comfy"] = dict(comfy_settings)
    urls = {name: fake.url for name, fake in servers.items()} if servers else None
    config = make_config(
        tmp_path, comfy.url, workflows=workflows, workflow_settings=workflow_settings, servers=urls, **sections
    )
    store = await JobStore.open(config.storage.database, busy_timeout=store_busy_timeout)
    kit: BotKit | None = None
    try:
        kit = await _start(discord_api, comfy, config, store)
        kit.generations.append(kit)
        yield kit
    finally:
        if kit is not None:
            await _stop(kit.generations[-1])
        await store.close()


# ---- a stricter fake Discord -----------------------------------------------------------------------


class StrictDiscordAPI(FakeDiscordAPI):
    """The fake Discord, plus per-message edit rate limits and faults aimed at uploads.

    `min_edit_gap` and `burst`: an edit of a message is answered 429 when the `burst` accepted edits before it
    all lie within `min_edit_gap` seconds (Discord's buckets allow a short burst, then limit the rate much like
    this); `rate_limited` counts them. The bot paces progress edits one per interval and sends the final result
    at once, so `burst=2` is what it must stay within.
    `fail_next_upload(...)`: the next request carrying a file whose name matches `filename` gets `status`.
    """

    def __init__(self, *, min_edit_gap: float | None = None, burst: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_edit_gap = min_edit_gap
        self.burst = burst
        self.rate_limited: list[RecordedRequest] = []
        self._last_edits: dict[int, deque[float]] = {}
        self._upload_faults: list[tuple[re.Pattern[str], Fault]] = []

    def fail_next_upload(
        self, status: int, *, filename: str = r"^(?!preview\.)", retry_after: float | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` requests carrying a matching file with `status` (429 with `retry_after`)."""
        fault = Fault(status, retry_after, remaining=times)
        self._upload_faults.append((re.compile(filename), fault))

    def dispatch(self, record: RecordedRequest, *, in_api: bool) -> Reply:
        for pattern, fault in self._upload_faults:
            if fault.remaining > 0 and any(pattern.search(f.filename) for f in record.files):
                fault.remaining -= 1
                record.injected = True
                return self.fault_reply(fault)
        if self.min_edit_gap is not None and record.method == "PATCH" and "/messages/" in record.path:
            message_id = _edited_message(self, record)
            now = time.monotonic()
            recent = self._last_edits.setdefault(message_id or 0, deque(maxlen=self.burst))
            if message_id is not None and len(recent) == self.burst and now - recent[0] < self.min_edit_gap:
                self.rate_limited.append(record)
                record.injected = True
                return self.fault_reply(Fault(429, self.min_edit_gap))
            reply = super().dispatch(record, in_api=in_api)
            if message_id is not None and reply.status == 200:
                recent.append(now)
            return reply
        return super().dispatch(record, in_api=in_api)
