"""Shared pieces of the benchmark: the graph, a time-stamping fake, statistics and the result rows."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from discomfy.comfy import ComfyService, ComfySettings
from testing.comfy_server import FakeComfy, RecordedRequest

PASS, FAIL, INFO, SKIP = "PASS", "FAIL", "info", "SKIP"
#: Seconds the fake ComfyUI stalls after a job where a row asks for it (`FakeComfy.post_job_pause`): a real
#: ComfyUI's prompt worker runs gc.collect() holding the GIL after a job, 0.3-0.45 s measured, at most every 10 s.
POST_JOB_PAUSE = 0.35


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    metric: str
    value: str
    target: str = ""
    verdict: str = INFO


def graph(seed: int, *, steps: int = 1, size: int = 64, text: str = "a lighthouse at dusk") -> dict[str, Any]:
    """The recorded two-node shape: TestSampler -> SaveImage."""
    return {
        "3": {
            "class_type": "TestSampler",
            "inputs": {"seed": seed, "steps": steps, "width": size, "height": size, "delay": 0.0, "text": text},
        },
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "bench", "images": ["3", 0]}},
    }


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


class TimedFake(FakeComfy):
    """FakeComfy that keeps (time.monotonic) each request's arrival and each `execution_success` it sends.

    The stamps come from the fake's own hooks (`request_answered`, `message_sending`); the fake is not edited.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrived: dict[tuple[str, str], float] = {}  # ("POST /prompt" | "GET /history" | "GET /view", key)
        self.success_sent: dict[str, float] = {}  # prompt_id -> when `execution_success` was handed to the socket

    def request_answered(self, request: RecordedRequest, response: web.StreamResponse) -> None:
        if request.method == "POST" and request.route == "/prompt" and isinstance(request.json, dict):
            self.arrived["POST /prompt", str(request.json.get("prompt_id"))] = request.received_at
        elif request.method == "GET" and request.route.startswith("/history/"):
            self.arrived["GET /history", request.route.removeprefix("/history/")] = request.received_at
        elif request.method == "GET" and request.route == "/view":
            self.arrived["GET /view", request.query.get("filename", "")] = request.received_at

    def message_sending(self, event: str, payload: Any) -> None:
        if event == "execution_success" and isinstance(payload, dict):
            prompt_id = payload.get("prompt_id")
            if isinstance(prompt_id, str):
                self.success_sent[prompt_id] = time.monotonic()


def settings_for(url: str, download_dir: Path, **overrides: Any) -> ComfySettings:
    return ComfySettings(url=url, download_dir=download_dir, **overrides)


@asynccontextmanager
async def started(
    tmp: Path, *, step_delay: float = 0.0, **overrides: Any
) -> AsyncIterator[tuple[TimedFake, ComfyService]]:
    """A started TimedFake (in this process, on 127.0.0.1) and a connected ComfyService pointed at it."""
    async with TimedFake(step_delay=step_delay, output_dir=tmp / "fake-output") as fake:
        settings = settings_for(fake.url, tmp / "downloads", **overrides)
        async with ComfyService(settings) as service:
            if not await service.wait_connected(10.0):
                raise RuntimeError("the service did not connect to the fake ComfyUI")
            yield fake, service


def stamp_dispatches(service: ComfyService, *kinds: str) -> dict[tuple[str, str], float]:
    """Instrument the service's tracker (this instance only): (message type, prompt_id) -> when the tracker was
    handed the first message of that type for that prompt (`executed`, `execution_success`, ...)."""
    tracker = service.tracker
    stamps: dict[tuple[str, str], float] = {}
    original = tracker.dispatch_text
    prefixes = tuple(f'{{"type": "{kind}"' for kind in kinds)

    def stamped(raw: str) -> None:
        now = time.monotonic()
        if raw.startswith(prefixes):
            message = json.loads(raw)
            stamps.setdefault((message["type"], message["data"]["prompt_id"]), now)
        original(raw)

    tracker.dispatch_text = stamped  # type: ignore[method-assign]
    return stamps


class LoopLag:
    """Measures the worst event-loop stall: a task that sleeps 1 ms and records how late it wakes."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.perf_counter() - before - self.period)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run(), name="bench-loop-lag")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def run_line(name: str, *, quick: bool, seconds: float) -> str:
    """What ran, when and on what: the first line of every benchmark's output."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"DisComfy {name} benchmark ({'--quick' if quick else 'full'} run, {seconds:.0f} s) - "
        f"{time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


def render(rows: list[Row], *, quick: bool, seconds: float, name: str) -> str:
    """The result table under a line saying what ran, when, and on what ."""
    lines = [
        run_line(name, quick=quick, seconds=seconds),
        "",
        "| Metric | Measured | Target | Result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.metric} | {r.value} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(lines) + "\n"


def run_benchmark(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    quick_help: str,
    run: Callable[[bool, Path], Awaitable[list[Row]]],
    name: str,
    log_level: int,
) -> int:
    """A benchmark's command line: `--quick`, a temporary folder, the table on stdout; exit 1 if a row FAILs."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    logging.basicConfig(level=log_level, format="[{asctime}] [{levelname:<8}] {name}: {message}", style="{")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="discomfy-bench-") as tmp:
        rows = asyncio.run(run(args.quick, Path(tmp)))
    sys.stdout.write(render(rows, quick=args.quick, seconds=time.perf_counter() - started, name=name))
    return 1 if any(row.verdict == FAIL for row in rows) else 0
