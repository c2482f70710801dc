"""The real bot path: slash commands in, results uploaded to the fake Discord, both fakes in child processes.

The bot is built by `discomfy.app.open_bot` (config YAML, JobStore, the one ComfyService, JobManager,
DiscomfyBot) and logged in to the fake Discord, which runs the real setup_hook. Interactions are injected as
the gateway would deliver them (`parse_interaction_create`). Nothing of the bot is replaced; two of its
methods are wrapped on this one instance to take time stamps (`ComfyTracker.dispatch_text`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from bench._memory import RssSampler, reset_peak, status_kib
from bench._servers import ServerProcess
from discomfy.app import open_bot
from discomfy.bot.bot import DiscomfyBot
from discomfy.bot.embeds import PREVIEW_NAME
from discomfy.store import JobStatus
from testing import payloads
from testing.botkit import make_config

REPO = Path(__file__).resolve().parent.parent
BENCH_WORKFLOW = "bench_sampler"
#: TestSampler (the fake's weight-free sampler: one progress message and one preview per step) -> SaveImage.
_GRAPH = {
    "3": {
        "class_type": "TestSampler",
        "inputs": {"seed": 1, "steps": 4, "width": 64, "height": 64, "delay": 0.0, "text": "a lighthouse"},
    },
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "bench", "images": ["3", 0]}},
}
_MAPPING = f"""\
title: Benchmark sampler
description: The fake ComfyUI's TestSampler into SaveImage, 64x64.
kind: image
graph: {BENCH_WORKFLOW}.json
outputs: ["9"]
parameters:
  prompt: {{node: "3", input: text, type: str, required: true, max_length: 2000}}
  steps: {{node: "3", input: steps, type: int, min: 1, max: 100}}
"""
_MANY = {"max_pending_per_user": 1000, "max_pending_total": 1000, "max_count": 4}


def write_bench_workflow(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{BENCH_WORKFLOW}.json").write_text(json.dumps(_GRAPH))
    (folder / f"{BENCH_WORKFLOW}.yaml").write_text(_MAPPING)
    return folder


@contextlib.asynccontextmanager
async def running_bot(
    tmp: Path,
    comfy_url: str,
    discord_api: ServerProcess,
    *,
    workflows: Path,
    default: str,
    comfy_settings: dict[str, Any] | None = None,
    **sections: Any,
) -> AsyncIterator[DiscomfyBot]:
    """The bot exactly as bot.py builds it, logged in to the fake Discord (which runs its setup_hook)."""
    if comfy_settings:
        sections["comfy"] = comfy_settings
    discord.http.Route.BASE = discord_api.url
    discord.asset.Asset.BASE = discord_api.url.rsplit("/api/", 1)[0] + "/cdn"
    await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
    config = make_config(
        tmp, comfy_url, workflows=workflows, workflow_settings={"default": default}, limits=_MANY, **sections
    )
    async with open_bot(config) as bot:
        await bot.login("bench-token")
        if not await bot.comfy.wait_connected(10):
            raise RuntimeError(f"the bot did not connect to ComfyUI at {comfy_url}")
        yield bot


def stamp_starts(bot: DiscomfyBot) -> dict[str, float]:
    """prompt_id -> when the bot's tracker dispatched that prompt's `execution_start` (this tracker only)."""
    tracker = bot.comfy.first.service.tracker
    stamps: dict[str, float] = {}
    original = tracker.dispatch_text

    def stamped(raw: str) -> None:
        original(raw)
        if raw.startswith('{"type": "execution_start"'):
            stamps.setdefault(json.loads(raw)["data"]["prompt_id"], time.monotonic())

    tracker.dispatch_text = stamped  # type: ignore[method-assign]
    return stamps


@dataclass(frozen=True, slots=True)
class BotRun:
    """N concurrent /generate commands through the whole bot."""

    jobs: int
    wall: float  # first dispatch -> every result uploaded
    delivered: int
    pause: float  # the fake's post-job pause (seconds) during the run
    submit: list[float]  # interaction dispatched -> its POST /prompt arrived at ComfyUI
    dispatch: list[float]  # ComfyUI hands `execution_start` to the socket -> the bot's tracker has routed it
    finish_to_upload: list[float]  # ComfyUI sent `execution_success` -> the upload of the result reached Discord
    file_wait: list[float]  # of that, until ComfyUI answered the GET /view of the result (0 if it came before)
    discord_requests: int
    comfy_requests: dict[str, int]
    ws_messages: int


async def concurrent_jobs(
    bot: DiscomfyBot, comfy: ServerProcess, discord_api: ServerProcess, count: int, *, steps: int, pause: float
) -> BotRun:
    """`count` /generate commands dispatched at once; wait until every result is in Discord."""
    await comfy.command(f"pause {pause}")
    await comfy.command("reset")
    await discord_api.command("reset")
    started = stamp_starts(bot)
    tracker = bot.comfy.first.service.tracker
    before = tracker.messages
    prefix = f"bench {count}-{time.monotonic_ns()}"
    sent = [payloads.slash_command("generate", {"prompt": f"{prefix} #{i}", "steps": steps}) for i in range(count)]
    dispatched: dict[str, float] = {}
    handlers: list[asyncio.Task[Any]] = []
    begin = time.monotonic()
    for payload in sent:
        dispatched[payload["token"]] = time.monotonic()
        handlers += payloads.dispatch(bot, payload)
    await asyncio.gather(*handlers)
    await bot.presenter.drain()
    wall = time.monotonic() - begin
    messages = tracker.messages - before
    server, requests = await comfy.dump(), await discord_api.dump()
    records = {r.params.get("prompt"): r for r in await bot.jobs.store.history(payloads.USER_ID, limit=count + 50)}
    view_of = {pid: name for name, pid in server["output_of"].items()}
    submit, dispatch, upload, file_wait = [], [], [], []
    delivered = 0
    for payload in sent:
        record = records[payload["data"]["options"][0]["value"]]
        pid = record.prompt_id or ""
        uploaded = upload_start(requests, payload["token"])
        delivered += record.status is JobStatus.DONE and uploaded is not None
        submit.append(server["posted"][pid] - dispatched[payload["token"]])
        if pid in server["start_sent"] and pid in started:
            dispatch.append(started[pid] - server["start_sent"][pid])
        if uploaded is not None and pid in server["success_sent"]:
            success = server["success_sent"][pid]
            upload.append(uploaded - success)
            answered = server["view_answered"].get(view_of.get(pid, ""), success)
            file_wait.append(max(0.0, answered - success))
    return BotRun(
        count, wall, delivered, pause, submit, dispatch, upload, file_wait, len(requests), server["requests"], messages
    )


def upload_start(requests: list[dict[str, Any]], token: str) -> float | None:
    """When the first answered request carrying this interaction's result (not a preview) arrived at Discord."""
    mine = [r for r in requests if token in r["path"] and r["status"] == 200]
    uploads = [r["received_at"] for r in mine if any(name != PREVIEW_NAME for name, _ in r["files"])]
    return min(uploads) if uploads else None


# ---- relaying one very large video ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelayRun:
    size: int
    baseline_kib: int
    peak_kib: int
    exact: bool  # VmHWM could be reset (else only the 2 ms samples)
    finish_to_upload_start: float
    finish_to_delivered: float
    uploaded_bytes: int
    filename: str


async def relay_large_video(bot: DiscomfyBot, comfy: ServerProcess, discord_api: ServerProcess, size: int) -> RelayRun:
    """One /generate of the Wan 2.1 workflow whose .mp4 output is `size` bytes, from ComfyUI to Discord."""
    limit = 2 * size + 2**20  # a guild that accepts the file as it is: nothing is re-encoded
    warm = payloads.slash_command("generate", {"prompt": "warm-up clip"}, attachment_size_limit=limit)
    await payloads.dispatch_and_wait(bot, warm, timeout=60)  # the same path once: imports, pools, buffers
    await bot.presenter.drain()
    await comfy.command(f"size {size}")
    await comfy.command("reset")
    await discord_api.command("reset")
    gc.collect()
    baseline = status_kib("VmRSS")
    exact = reset_peak()
    sampler = RssSampler()
    sampler.start()
    clip = {"prompt": f"a {size / 2**20:.0f} MiB clip"}
    payload = payloads.slash_command("generate", clip, attachment_size_limit=limit)
    try:
        await payloads.dispatch_and_wait(bot, payload, timeout=60)
        await bot.presenter.drain()
        done = time.monotonic()
    finally:
        sampler.stop()
        await asyncio.to_thread(sampler.join)
        await comfy.command("size 0")
    peak = max(sampler.peak, status_kib("VmHWM")) if exact else sampler.peak
    server, requests = await comfy.dump(), await discord_api.dump()
    finished = next(iter(server["success_sent"].values()))  # `execution_success` handed to the socket
    uploads = [
        (r["received_at"], name, file_size)
        for r in requests
        if payload["token"] in r["path"] and r["status"] == 200
        for name, file_size in r["files"]
        if name != PREVIEW_NAME
    ]
    if not uploads:
        raise RuntimeError("the large video never reached the fake Discord")
    start, name, uploaded = min(uploads)
    (record,) = await bot.jobs.store.history(payloads.USER_ID, limit=1)  # newest first: this job
    for path in record.output_files:
        await asyncio.to_thread(Path(path).unlink, True)
    return RelayRun(size, baseline, peak, exact, start - finished, done - finished, uploaded, name)
