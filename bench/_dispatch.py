"""Metric 3: WebSocket messages dispatched per second with many jobs in flight."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import pickle
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench._common import LoopLag, Row, graph, ms, started, verdict
from bench._mix import STEPS, Message, Templates, build_mix
from discomfy.comfy import ComfyService, Progress, PromptStatus
from discomfy.comfy.tracker import ComfyTracker
from testing.comfy_server import FakeComfy

RATE_TARGET = 50_000.0
_REPO = Path(__file__).resolve().parent.parent
_BATCH = 25  # concurrent submissions while registering jobs
_NO_WATCHDOG = {"watchdog_interval": 3600.0}  # held jobs must not be reconciled in the middle of a run


@dataclass(frozen=True, slots=True)
class InProcess:
    jobs: int
    rate: float  # best pass, messages per CPU second of the dispatching thread
    median_rate: float
    wall_rate: float  # best pass, messages per wall-clock second
    routed_ok: bool
    register_stall: float  # worst event-loop stall while the jobs were being submitted
    refresh: float  # one GET /queue + position update with every job pending
    scan: float  # the "missing" scan of _refresh_positions over the same queue state
    queue_bytes: int  # size of the GET /queue answer at that point
    lost: int  # jobs wrongly ended while they were being submitted


async def register(service: ComfyService, fake: FakeComfy, count: int) -> tuple[list[str], float]:
    """Submit `count` real prompts with the fake on hold, so they stay registered and pending.

    Without downloads: the mix replays each job's `executed` many times, which must not start a download each time
    (a real job starts it once).
    """
    fake.hold()
    ids: list[str] = []
    async with LoopLag() as lag:
        for start in range(0, count, _BATCH):
            seeds = range(start, min(count, start + _BATCH))
            submits = (service.submit(graph(seed, steps=STEPS, size=512), download=False) for seed in seeds)
            jobs = await asyncio.gather(*submits)
            ids.extend(job.prompt_id for job in jobs)
    return ids, lag.worst


def dispatch_rate(tracker: ComfyTracker, mix: list[Message]) -> tuple[float, float]:
    """One pass over the mix through tracker.dispatch_text / dispatch_binary: (msgs per CPU s, msgs per wall s).

    CPU time of this thread is what the dispatch costs; wall time also counts other processes' turns on the CPU.
    """
    text, binary = tracker.dispatch_text, tracker.dispatch_binary
    gc.collect()
    cpu, wall = time.thread_time(), time.perf_counter()
    for is_binary, payload in mix:
        if is_binary:
            binary(payload)  # type: ignore[arg-type]
        else:
            text(payload)  # type: ignore[arg-type]
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return len(mix) / cpu, len(mix) / wall


def lost_jobs(service: ComfyService, ids: list[str]) -> int:
    """Jobs the service ended or dropped although the fake (on hold) still has every one of them pending."""
    return sum(1 for pid in ids if pid not in service.jobs or service.jobs[pid].done)


def routed_correctly(service: ComfyService, ids: list[str], mix: list[Message]) -> bool:
    """Every job is still live; those the mix spoke to ran to their last step, the others were untouched, and no
    foreign prompt got in."""
    starts = (
        json.loads(raw) for binary, raw in mix if not binary and str(raw).startswith('{"type": "execution_start"')
    )
    addressed = {message["data"]["prompt_id"] for message in starts}
    jobs = service.jobs
    touched = {pid for pid, job in jobs.items() if job.progress is not None}
    final = Progress(STEPS, STEPS, "3")
    return (
        set(jobs) == set(ids)
        and not any(job.done for job in jobs.values())
        and touched == addressed & set(jobs)
        and all(jobs[pid].status is PromptStatus.RUNNING and jobs[pid].progress == final for pid in touched)
        and all(jobs[pid].latest_preview is not None for pid in touched)
    )


@dataclass
class _Scenario:
    count: int
    service: ComfyService
    ids: list[str]
    mix: list[Message]
    stall: float
    refresh: float
    scan: float
    queue_bytes: int
    lost: int
    rates: list[float]
    wall_rates: list[float]


async def in_process(tmp: Path, templates: Templates, counts: list[int], total: int, repeats: int) -> list[InProcess]:
    """Register `count` jobs in one service per count, then interleave the passes (a busy machine hits all alike)."""
    async with contextlib.AsyncExitStack() as stack:
        scenarios = []
        for count in counts:
            fake, service = await stack.enter_async_context(started(tmp / f"dispatch-{count}", **_NO_WATCHDOG))
            ids, stall = await register(service, fake, count)
            await asyncio.sleep(0.5)  # let the last queue refresh (and any reconciliation) finish
            lost = lost_jobs(service, ids)
            refresh, scan = await _queue_refresh_cost(service)
            queue_bytes = await _queue_size(fake)
            mix = build_mix(templates, ids, total)
            scenarios.append(_Scenario(count, service, ids, mix, stall, refresh, scan, queue_bytes, lost, [], []))
        for _ in range(repeats):
            for sc in scenarios:
                rate, wall_rate = dispatch_rate(sc.service.tracker, sc.mix)
                sc.rates.append(rate)
                sc.wall_rates.append(wall_rate)
            await asyncio.sleep(0)
        return [
            InProcess(
                sc.count,
                max(sc.rates),
                statistics.median(sc.rates),
                max(sc.wall_rates),
                routed_correctly(sc.service, sc.ids, sc.mix),
                sc.stall,
                sc.refresh,
                sc.scan,
                sc.queue_bytes,
                sc.lost,
            )
            for sc in scenarios
        ]


async def _queue_refresh_cost(service: ComfyService) -> tuple[float, float]:
    """Time `refresh_queue()` and the O(n) x O(n) `missing` scan `_refresh_positions` runs after it."""
    start = time.perf_counter()
    state = await service.refresh_queue()
    refresh = time.perf_counter() - start
    start = time.perf_counter()
    missing = [  # the same comprehension as ComfyService._refresh_positions, on the same QueueState methods
        job
        for job in service.jobs.values()
        if job.status is PromptStatus.QUEUED
        and not job.finishing
        and not state.is_running(job.prompt_id)
        and state.position(job.prompt_id) is None
    ]
    scan = time.perf_counter() - start
    if missing:
        raise RuntimeError(f"{len(missing)} queued job(s) absent from a fresh GET /queue: the bench is inconsistent")
    return refresh, scan


async def _queue_size(fake: FakeComfy) -> int:
    async with aiohttp.ClientSession() as http, http.get(fake.url + "/queue") as resp:
        return len(await resp.read())


@dataclass(frozen=True, slots=True)
class EndToEnd:
    label: str
    messages: int
    rate: float  # messages per wall-clock second, from connection to the last message dispatched
    cpu_rate: float  # messages per CPU second of this (the client's) process over the same span
    megabytes: float
    sender_cpu_share: float  # sender CPU time / its wall time: near 1.0 means the sender was the limit


async def end_to_end(tmp: Path, templates: Templates, count: int, total: int, repeats: int) -> list[EndToEnd]:
    """The same mix over a real loopback WebSocket from a sender process into a real ComfyTracker; best run."""
    results = []
    async with started(tmp / "e2e", **_NO_WATCHDOG) as (fake, service):
        ids, _ = await register(service, fake, count)
        full = build_mix(templates, ids, total)
        for label, mix in (("full mix", full), ("text only", [m for m in full if not m[0]])):
            runs = [await _over_socket(tmp, service, label, mix) for _ in range(repeats)]
            results.append(max(runs, key=lambda run: run.rate))
    return results


async def _over_socket(tmp: Path, service: ComfyService, label: str, mix: list[Message]) -> EndToEnd:
    path = tmp / "mix.pickle"
    with path.open("wb") as sink:
        pickle.dump(mix, sink, protocol=pickle.HIGHEST_PROTOCOL)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._ws_sender", str(path), cwd=_REPO, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        port = int((await asyncio.wait_for(proc.stdout.readline(), 60)).split()[1])
        async with aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{port}/ws?clientId={service.client_id}"
            tracker = ComfyTracker(session, url, service.jobs, service)
            reader = asyncio.create_task(tracker.run(), name="bench-e2e-tracker")
            try:
                wall, cpu = await _read_all(tracker, len(mix))
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        sent = (await asyncio.wait_for(proc.stdout.readline(), 60)).split()
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        path.unlink(missing_ok=True)
    size = sum(len(payload) for _, payload in mix) / 1e6
    n = len(mix)
    return EndToEnd(label, n, n / wall, n / cpu, size, float(sent[3]) / float(sent[2]))


async def _read_all(tracker: ComfyTracker, count: int) -> tuple[float, float]:
    """Wall and process CPU seconds from the socket's opening to the `count`-th message dispatched."""
    await asyncio.wait_for(tracker.connected.wait(), 10)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        async with asyncio.timeout(60):
            while tracker.messages < count:  # noqa: ASYNC110 - the reader runs in between; 1 ms resolution
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise RuntimeError(f"the tracker got {tracker.messages} of {count} messages") from None
    return time.perf_counter() - wall, time.process_time() - cpu


def dispatch_rows(results: list[InProcess], e2e: list[EndToEnd], mix_text: str, repeats: int) -> list[Row]:
    main = next((r for r in results if r.jobs == 200), results[0])
    rows = [
        Row(
            "3a. Dispatch rate, an upper bound measured in-process (tracker.dispatch_*(), no socket; 3b has one), "
            f"{main.jobs} jobs in flight (msgs per CPU s)",
            f"{main.rate:,.0f} msg/s",
            f">= {RATE_TARGET:,.0f} msg/s",
            verdict(main.rate >= RATE_TARGET and main.routed_ok),
        )
    ]
    rows += [
        Row(
            f"3a. ... {r.jobs} job(s) in flight: per CPU s best (median) of {repeats}; per wall s best",
            f"{r.rate:,.0f} ({r.median_rate:,.0f}); {r.wall_rate:,.0f} msg/s",
        )
        for r in results
    ]
    low, high = min(r.rate for r in results), max(r.rate for r in results)
    rows.append(
        Row(
            "3a. ... O(1) check: slowest / fastest (per CPU s)",
            f"{low / high:.2f}",
            ">= 0.80",
            verdict(low >= 0.8 * high),
        )
    )
    rows.append(Row("3a. ... routing check (live jobs at step 20/20, foreign prompts ignored)", _ok(results)))
    lost = ", ".join(f"{r.lost} of {r.jobs}" for r in results)
    total_lost = sum(r.lost for r in results)
    rows.append(
        Row(
            f"3e. Jobs wrongly failed while being submitted {_BATCH} at a time (all pending at the fake)",
            lost,
            "0",
            verdict(total_lost == 0),
        )
    )
    rows += [
        Row(
            f"3b. Loopback WebSocket -> real ComfyTracker, {main.jobs} jobs, {e.label} "
            f"({e.messages:,} msgs, {e.megabytes:,.0f} MB): per wall s; per client CPU s",
            f"{e.rate:,.0f}; {e.cpu_rate:,.0f} msg/s (sender CPU {e.sender_cpu_share:.0%})",
        )
        for e in e2e
    ]
    rows += [
        Row(
            f"3c. {r.jobs} pending: refresh_queue() / `missing` scan / worst loop stall while submitting / "
            "GET /queue size",
            f"{ms(r.refresh)} / {ms(r.scan)} / {ms(r.register_stall)} / {r.queue_bytes / 1000:,.1f} kB",
        )
        for r in results
    ]
    rows.append(Row("3d. Mix of one pass", mix_text))
    return rows


def _ok(results: list[InProcess]) -> str:
    return "ok" if all(r.routed_ok for r in results) else "FAILED"
