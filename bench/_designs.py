"""Three ways to drive ComfyUI, side by side on the same fake ComfyUI (in a child process).

- DisComfy: the ComfyService, one client_id and one WebSocket for every job, routed by prompt_id, positions
  from one shared GET /queue per burst of `status` messages, results fetched on `executing {node: null}`.
- Polling (the common HTTP design): POST /prompt, then GET /history/{prompt_id} every 0.5 s until the entry
  is there, then GET /view for each output.
- A socket per job (ComfyUI's own websockets_api_example.py, made async): a new client_id and WebSocket for
  each job, POST /prompt, read that socket until `executing {node: null}` names the prompt, then GET
  /history/{prompt_id} and GET /view.

Both alternatives are written the way a careful user would write them: one aiohttp session with keep-alive
connections, outputs streamed to disk in 1 MiB chunks. They are here to be measured, not shipped.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench._servers import ServerProcess
from discomfy.comfy import ComfyService, ComfySettings, NodeStarted, Progress, Queued, Started

POLL_INTERVAL = 0.5
RUN_TIMEOUT = 120.0  # seconds for one design's whole run
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
    """What one design's session did on the wire, counted by aiohttp's tracing hooks."""

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

    in_hand: dict[str, float] = field(default_factory=dict)  # result files on our disk
    informed: dict[str, float] = field(default_factory=dict)  # first news of its own (position or progress)
    failures: int = 0


@dataclass(frozen=True, slots=True)
class DesignRun:
    design: str
    jobs: int
    wall: float
    latencies: list[float]  # finish on the server (history written) -> result in hand
    traffic: Traffic
    queued: int  # jobs that had to wait for another one to finish
    queued_blind: int  # of those, how many heard nothing of their own (position, progress) while they waited
    failures: int


Runner = Callable[[aiohttp.ClientSession, str, list[dict[str, Any]], Path, Traffic, Observed], Awaitable[None]]


async def run_design(
    design: str, runner: Runner, comfy: ServerProcess, graphs: list[dict[str, Any]], tmp: Path
) -> DesignRun:
    """Run `graphs` at once through one design and judge it from the server's stamps and what the client saw."""
    await comfy.command("reset")
    traffic, seen = Traffic(), Observed()
    begin = time.monotonic()
    # No cap on the connection pool for any design: with aiohttp's default of 100, 200 sockets-per-job hold
    # every connection and their own POST /prompt waits forever.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[traffic.trace()]) as session:
        async with asyncio.timeout(RUN_TIMEOUT):
            await runner(session, comfy.url, graphs, tmp / design, traffic, seen)
    wall = time.monotonic() - begin
    server = await comfy.dump()
    finished, started, posted = server["finished"], server["started"], server["posted"]
    latencies = [seen.in_hand[pid] - finished[pid] for pid in seen.in_hand if pid in finished]
    first_start = min(started.values()) if started else 0.0
    waited = [pid for pid in started if pid in posted and started[pid] > first_start]
    blind = [pid for pid in waited if not (pid in seen.informed and seen.informed[pid] < started[pid])]
    return DesignRun(design, len(graphs), wall, latencies, traffic, len(waited), len(blind), seen.failures)


# ---- DisComfy: one client_id, one WebSocket ------------------------------------------------------------


async def discomfy(
    session: aiohttp.ClientSession, url: str, graphs: list[dict[str, Any]], out: Path, traffic: Traffic, seen: Observed
) -> None:
    settings = ComfySettings(url=url, download_dir=out)
    async with ComfyService(settings, session=session) as service:
        if not await service.wait_connected(10):
            raise RuntimeError("the ComfyService did not connect")
        tracker = service.tracker
        before = tracker.messages
        jobs = await asyncio.gather(*(service.submit(graph) for graph in graphs))
        await asyncio.gather(*(_follow(job, seen) for job in jobs))
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


# ---- (a) polling GET /history every 0.5 s ------------------------------------------------------------------


async def polling(
    session: aiohttp.ClientSession, url: str, graphs: list[dict[str, Any]], out: Path, traffic: Traffic, seen: Observed
) -> None:
    await asyncio.gather(*(_poll_one(session, url, graph, out, seen) for graph in graphs))


async def _poll_one(session: aiohttp.ClientSession, url: str, graph: dict[str, Any], out: Path, seen: Observed) -> None:
    async with session.post(f"{url}/prompt", json={"prompt": graph, "client_id": uuid.uuid4().hex}) as resp:
        prompt_id = (await resp.json())["prompt_id"]
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        async with session.get(f"{url}/history/{prompt_id}") as resp:
            entry = (await resp.json()).get(prompt_id)
        if entry:
            break  # an empty answer says nothing while the job waits: no position, no progress
    await _download_outputs(session, url, entry, out / prompt_id, seen, prompt_id)


# ---- (b) a new client_id and WebSocket per job ---------------------------------------------------------


async def socket_per_job(
    session: aiohttp.ClientSession, url: str, graphs: list[dict[str, Any]], out: Path, traffic: Traffic, seen: Observed
) -> None:
    counts = await asyncio.gather(*(_socket_one(session, url, graph, out, seen) for graph in graphs))
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
    "(a) polling /history 0.5 s": polling,
    "(b) socket per job": socket_per_job,
}
