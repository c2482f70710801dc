"""Three ways to drive ComfyUI, side by side on the same fake ComfyUI (in a child process).

- DisComfy: the ComfyService, one client_id and one WebSocket for every job, routed by prompt_id, positions
  from one shared GET /queue per burst of `status` messages, outputs fetched when `executed` names them and the
  job completed on `execution_success`.
- The peer's polling: jmpijll/discomfy, the other Discord bot for ComfyUI of that name, as its
  `ImageGenerator._wait_for_completion` and `ComfyUIClient` do it: POST /prompt, GET /history/{prompt_id} at once
  and then every 1.0 s until the entry has `outputs`, then GET /view for each image read whole into memory
  (`response.read()`), all on one aiohttp session whose pool is capped at 10 connections, 5 per host; one
  WebSocket under the bot's client_id (its own connection: the peer uses the `websockets` library), used only for
  step progress.
- A socket per job (ComfyUI's own websockets_api_example.py, made async): a new client_id and WebSocket for
  each job, POST /prompt, read that socket until `executing {node: null}` names the prompt, then GET
  /history/{prompt_id} and GET /view, streamed to disk.

They are here to be measured, not shipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench._memory import Growth, measure_growth
from bench._servers import ServerProcess
from discomfy.comfy import ComfyService, ComfySettings, NodeStarted, Progress, Queued, Started

PEER_POLL_INTERVAL = 1.0  # jmpijll/discomfy core/generators/image.py: check_interval = 1.0
PEER_POOL = (10, 5)  # jmpijll/discomfy core/comfyui/client.py: TCPConnector(limit=10, limit_per_host=5)
RUN_TIMEOUT = 180.0  # seconds for one design's whole run
_CHUNK = 1 << 20


def sampler_graph(seed: int, steps: int) -> dict[str, Any]:
    """TestSampler -> SaveImage, 64x64; a distinct seed per job so ComfyUI's cache never answers for it."""
    return {
        "3": {
            "class_type": "TestSampler",
            "inputs": {"seed": seed, "steps": steps, "width": 64, "height": 64, "delay": 0.0, "text": "a lighthouse"},
        },
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "compare", "images": ["3", 0]}},
    }


@dataclass
class Traffic:
    """What one design's sessions did on the wire, counted by aiohttp's tracing hooks."""

    http_requests: int = 0  # WebSocket upgrades excluded
    websockets: int = 0
    connections: int = 0  # new TCP connections (keep-alive reuse is not counted again)
    ws_messages: int = 0  # messages received on every socket

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._request)
        config.on_connection_create_end.append(self._connection)
        return config

    async def _request(self, _session: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        if params.url.path.endswith("/ws"):
            self.websockets += 1
        else:
            self.http_requests += 1

    async def _connection(self, *_args: Any) -> None:
        self.connections += 1


@dataclass
class Observed:
    """Per prompt_id, as the client saw it."""

    in_hand: dict[str, float] = field(default_factory=dict)  # result files on our disk (or in our memory)
    informed: dict[str, float] = field(default_factory=dict)  # first news of its own (position or progress)
    failures: int = 0


@dataclass(frozen=True, slots=True)
class DesignRun:
    design: str
    jobs: int
    at_once: int  # jobs in flight at a time (1: each submitted once the one before is in hand)
    wall: float
    latencies: list[float]  # `execution_success` sent by the server -> result in hand
    traffic: Traffic
    queued: int  # jobs that had to wait for another one to finish
    queued_blind: int  # of those, how many heard nothing of their own (position, progress) while they waited
    failures: int


Runner = Callable[[str, list[dict[str, Any]], int, Path, Traffic, Observed], Awaitable[None]]


async def run_design(
    design: str, runner: Runner, comfy: ServerProcess, graphs: list[dict[str, Any]], tmp: Path, *, at_once: int
) -> DesignRun:
    """Run `graphs` through one design, `at_once` in flight, and judge it from the server's stamps."""
    await comfy.command("reset")
    traffic, seen = Traffic(), Observed()
    begin = time.monotonic()
    async with asyncio.timeout(RUN_TIMEOUT):
        await runner(comfy.url, graphs, at_once, tmp / re.sub(r"\W+", "-", design).strip("-"), traffic, seen)
    wall = time.monotonic() - begin
    server = await comfy.dump()
    success, started, posted = server["success_sent"], server["started"], server["posted"]
    latencies = [seen.in_hand[pid] - success[pid] for pid in seen.in_hand if pid in success]
    first_start = min(started.values()) if started else 0.0
    waited = [pid for pid in started if pid in posted and started[pid] > first_start] if at_once > 1 else []
    blind = [pid for pid in waited if not (pid in seen.informed and seen.informed[pid] < started[pid])]
    return DesignRun(design, len(graphs), at_once, wall, latencies, traffic, len(waited), len(blind), seen.failures)


async def _each(
    graphs: list[dict[str, Any]], at_once: int, one: Callable[[dict[str, Any]], Awaitable[Any]]
) -> list[Any]:
    """`one(graph)` for every graph, at most `at_once` at a time (1: strictly one after another)."""
    slots = asyncio.Semaphore(at_once)

    async def limited(graph: dict[str, Any]) -> Any:
        async with slots:
            return await one(graph)

    return await asyncio.gather(*(limited(graph) for graph in graphs))


# ---- DisComfy: one client_id, one WebSocket ------------------------------------------------------------


async def discomfy(
    url: str, graphs: list[dict[str, Any]], at_once: int, out: Path, traffic: Traffic, seen: Observed
) -> None:
    """The ComfyService on a session like its own (aiohttp's default pool), only traced."""
    async with (
        aiohttp.ClientSession(trace_configs=[traffic.trace()]) as session,
        ComfyService(ComfySettings(url=url, download_dir=out), session=session) as service,
    ):
        if not await service.wait_connected(10):
            raise RuntimeError("the ComfyService did not connect")
        tracker = service.tracker
        before = tracker.messages

        async def one(graph: dict[str, Any]) -> None:
            await _follow(await service.submit(graph), seen)

        await _each(graphs, at_once, one)
        traffic.ws_messages += tracker.messages - before


async def _follow(job: Any, seen: Observed) -> None:
    """Note the first position or progress the job hears of, then wait for its result (files downloaded)."""
    async for event in job.events():
        if isinstance(event, Queued | Started | NodeStarted | Progress):
            seen.informed.setdefault(job.prompt_id, time.monotonic())
        if isinstance(event, Started):
            break
    try:
        await job.result()
    except Exception:  # counted, not raised: a benchmark run reports its failures
        seen.failures += 1
        return
    seen.in_hand[job.prompt_id] = time.monotonic()


# ---- the peer: jmpijll/discomfy's /history polling -----------------------------------------------------


async def peer_polling(
    url: str, graphs: list[dict[str, Any]], at_once: int, out: Path, traffic: Traffic, seen: Observed
) -> None:
    client_id = str(uuid.uuid4())
    active: dict[str, dict[str, int]] = {}  # prompt_id -> step progress, as its websocket.py keeps it
    connector = aiohttp.TCPConnector(limit=PEER_POOL[0], limit_per_host=PEER_POOL[1])
    async with (
        aiohttp.ClientSession(connector=connector, trace_configs=[traffic.trace()]) as session,
        aiohttp.ClientSession(trace_configs=[traffic.trace()]) as ws_session,
        ws_session.ws_connect(f"{url.replace('http', 'ws', 1)}/ws?clientId={client_id}") as ws,
    ):
        reader = asyncio.create_task(_peer_progress(ws, active, traffic, seen), name="bench-peer-progress")
        try:
            await _each(graphs, at_once, lambda graph: _peer_one(session, url, client_id, graph, active, seen))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _peer_one(
    session: aiohttp.ClientSession,
    url: str,
    client_id: str,
    graph: dict[str, Any],
    active: dict[str, dict[str, int]],
    seen: Observed,
) -> None:
    async with session.post(f"{url}/prompt", json={"prompt": graph, "client_id": client_id}) as resp:
        prompt_id = (await resp.json())["prompt_id"]
    active[prompt_id] = {"step_current": 0, "step_total": 0}  # registered after the POST, as the peer does
    while True:  # the history first, then the sleep: the first GET goes out at once
        async with session.get(f"{url}/history/{prompt_id}") as resp:
            history = await resp.json()
        entry = history.get(prompt_id)
        if isinstance(entry, dict) and "outputs" in entry:
            break
        await asyncio.sleep(PEER_POLL_INTERVAL)
    active.pop(prompt_id, None)
    images = []
    for output in entry["outputs"].values():
        for item in output.get("images", []):
            query = {"filename": item["filename"], "subfolder": item.get("subfolder", ""), "type": item["type"]}
            async with session.get(f"{url}/view", params=query) as resp:
                images.append(await resp.read())  # whole file in memory, as ComfyUIClient.download_output
    if not images or entry.get("status", {}).get("status_str") != "success":
        seen.failures += 1
        return
    seen.in_hand[prompt_id] = time.monotonic()


async def _peer_progress(
    ws: aiohttp.ClientWebSocketResponse, active: dict[str, dict[str, int]], traffic: Traffic, seen: Observed
) -> None:
    """Step progress for registered prompts; everything else (previews, other prompts) is dropped."""
    async for msg in ws:
        traffic.ws_messages += 1
        if msg.type is not aiohttp.WSMsgType.TEXT:
            continue
        message = json.loads(msg.data)
        data = message.get("data") or {}
        progress = active.get(data.get("prompt_id", ""))
        if progress is None:
            continue
        seen.informed.setdefault(data["prompt_id"], time.monotonic())
        if message.get("type") == "progress":
            progress.update(step_current=data.get("value", 0), step_total=data.get("max", 0))


# ---- a new client_id and WebSocket per job ---------------------------------------------------------


async def socket_per_job(
    url: str, graphs: list[dict[str, Any]], at_once: int, out: Path, traffic: Traffic, seen: Observed
) -> None:
    # No cap on the pool: with aiohttp's default of 100, 100 sockets would hold every connection and their own
    # POST /prompt would wait forever.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[traffic.trace()]) as session:
        counts = await _each(graphs, at_once, lambda graph: _socket_one(session, url, graph, out, seen))
    traffic.ws_messages += sum(counts)


async def _socket_one(
    session: aiohttp.ClientSession, url: str, graph: dict[str, Any], out: Path, seen: Observed
) -> int:
    client_id = uuid.uuid4().hex
    received = 0
    async with session.ws_connect(f"{url.replace('http', 'ws', 1)}/ws?clientId={client_id}") as ws:
        async with session.post(f"{url}/prompt", json={"prompt": graph, "client_id": client_id}) as resp:
            prompt_id = (await resp.json())["prompt_id"]
        async for msg in ws:
            received += 1
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue  # preview frames
            message = json.loads(msg.data)
            data = message.get("data") or {}
            if data.get("prompt_id") == prompt_id:  # `status` broadcasts carry the global count, not our place
                seen.informed.setdefault(prompt_id, time.monotonic())
                if message["type"] == "executing" and data.get("node") is None:
                    break
    async with session.get(f"{url}/history/{prompt_id}") as resp:
        entry = (await resp.json())[prompt_id]
    await _download_outputs(session, url, entry, out / prompt_id, seen, prompt_id)
    return received


async def _download_outputs(
    session: aiohttp.ClientSession, url: str, entry: dict[str, Any], folder: Path, seen: Observed, prompt_id: str
) -> None:
    """GET /view for every output file, streamed to disk."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    for output in entry.get("outputs", {}).values():
        for item in output.get("images", []):
            query = {"filename": item["filename"], "subfolder": item.get("subfolder", ""), "type": item["type"]}
            async with session.get(f"{url}/view", params=query) as resp:
                resp.raise_for_status()
                with (folder / item["filename"]).open("wb") as sink:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        sink.write(chunk)
    if entry.get("status", {}).get("status_str") != "success":
        seen.failures += 1
        return
    seen.in_hand[prompt_id] = time.monotonic()


DESIGNS: dict[str, Runner] = {
    "DisComfy (one socket)": discomfy,
    "(a) the peer's polling (jmpijll/discomfy)": peer_polling,
    "(b) socket per job": socket_per_job,
}


async def design_memory(design: str, runner: Runner, comfy: ServerProcess, tmp: Path, size: int) -> Growth:
    """Peak RSS growth of this process while one design fetches one output of `size` bytes (after a warm-up job)."""
    folder = tmp / re.sub(r"\W+", "-", design).strip("-")
    graphs = [sampler_graph(uuid.uuid4().int % 2**48, 1) for _ in range(2)]
    await runner(comfy.url, graphs[:1], 1, folder, Traffic(), Observed())  # the same path once: pools, buffers
    seen = Observed()
    await comfy.command(f"size {size}")
    try:
        _, growth = await measure_growth(lambda: runner(comfy.url, graphs[1:], 1, folder, Traffic(), seen))
    finally:
        await comfy.command("size 0")
        await asyncio.to_thread(shutil.rmtree, folder, True)
    if len(seen.in_hand) != 1:
        raise RuntimeError(f"{design} did not fetch the {size:,} B output")
    return growth
