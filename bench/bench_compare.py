"""DisComfy's one-socket design against the two designs users otherwise run, and the whole bot under load.

    python -m bench.bench_compare           # full run, under a minute on 2 cores (needs ~1.1 GB free disk)
    python -m bench.bench_compare --quick   # smoke run: fewer jobs, a 64 MiB video, about 20 s

Everything runs on 127.0.0.1: the fake ComfyUI and the fake Discord each in their own process, the client under
test (the bot, or one of the three designs) in this one. Prints markdown tables on stdout, progress on stderr.
See bench/RESULTS.md for what each number means and the last output.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench._botpath import (
    BENCH_WORKFLOW,
    REPO,
    BotRun,
    RelayRun,
    concurrent_jobs,
    relay_large_video,
    running_bot,
    write_bench_workflow,
)
from bench._designs import DESIGNS, DesignRun, run_design, sampler_graph
from bench._dispatch import in_process
from bench._memory import MIN_FREE_DISK
from bench._mix import record_templates
from bench._servers import ServerProcess


@dataclass(frozen=True, slots=True)
class Plan:
    bot_jobs: list[int]  # concurrent /generate commands through the bot
    design_jobs: list[tuple[int, float]]  # (concurrent jobs, step_delay) for the side-by-side runs
    steps: int  # sampler steps per job (one progress message and one preview each)
    video_size: int
    dispatch_messages: int
    dispatch_repeats: int


FULL = Plan([1, 20, 200], [(20, 0.05), (200, 0.005)], 4, 500 * 2**20, 60_000, 3)
QUICK = Plan([1, 20], [(20, 0.05)], 4, 64 * 2**20, 15_000, 2)
BOT_STEP_DELAY = 0.005


def _progress(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _spread(values: list[float]) -> str:
    """Median / p90 (nearest rank)."""
    if not values:
        return "n/a"
    ordered = sorted(values)
    p90 = ordered[max(0, min(len(ordered) - 1, round(0.9 * len(ordered)) - 1))]
    return f"{_ms(statistics.median(ordered))} / {_ms(p90)}"


@dataclass
class Results:
    relay: RelayRun | str
    bot: list[BotRun]
    capacity: float
    designs: list[list[DesignRun]]


async def run(plan: Plan, tmp: Path) -> Results:
    comfy = await ServerProcess.start("comfy", tmp, str(tmp / "comfy-output"))
    discord_api = await ServerProcess.start("discord", tmp)
    try:
        relay = await _relay(plan, tmp, comfy, discord_api)
        _progress(f"bot path: {plan.bot_jobs} concurrent /generate")
        await comfy.command(f"step_delay {BOT_STEP_DELAY}")
        workflows = write_bench_workflow(tmp / "workflows")
        bot_runs = []
        async with running_bot(tmp / "bot", comfy, discord_api, workflows=workflows, default=BENCH_WORKFLOW) as bot:
            for count in plan.bot_jobs:
                _progress(f"bot path: {count} job(s)")
                bot_runs.append(await concurrent_jobs(bot, comfy, discord_api, count, steps=plan.steps))
        designs = []
        for count, step_delay in plan.design_jobs:
            await comfy.command(f"step_delay {step_delay}")
            row = []
            for name, runner in DESIGNS.items():
                _progress(f"designs: {name}, {count} jobs")
                graphs = [sampler_graph(uuid.uuid4().int % 2**48, plan.steps) for _ in range(count)]
                row.append(await run_design(name, runner, comfy, graphs, tmp / "designs"))
            designs.append(row)
    finally:
        await comfy.stop()
        await discord_api.stop()
    _progress(f"tracker dispatch capacity with 200 jobs in flight ({plan.dispatch_messages:,} messages)")
    templates = await record_templates(tmp)
    (capacity,) = await in_process(tmp, templates, [200], plan.dispatch_messages, plan.dispatch_repeats)
    return Results(relay, bot_runs, capacity.rate, designs)


async def _relay(plan: Plan, tmp: Path, comfy: ServerProcess, discord_api: ServerProcess) -> RelayRun | str:
    """First, while this process has allocated the least: the large video through the whole bot."""
    free = (await asyncio.to_thread(shutil.disk_usage, tmp)).free
    if free < MIN_FREE_DISK:
        return f"skipped: only {free / 1e9:.1f} GB free in {tmp} (needs 2 GB)"
    _progress(f"relay of a {plan.video_size / 2**20:.0f} MiB .mp4 from ComfyUI to Discord through the bot")
    async with running_bot(tmp / "relay", comfy, discord_api, workflows=REPO / "workflows", default="wan21_t2v") as bot:
        return await relay_large_video(bot, comfy, discord_api, plan.video_size)


# ---- the report ------------------------------------------------------------------------------------------


def render(results: Results, plan: Plan, *, quick: bool, seconds: float) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"DisComfy comparison benchmark ({'--quick' if quick else 'full'} run, {seconds:.0f} s) - "
        f"{time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load}",
        "",
        *_bot_table(results, plan),
        "",
        *_relay_table(results.relay),
        "",
    ]
    for row in results.designs:
        lines += [*_design_table(row), ""]
    return "\n".join(lines)


def _bot_table(results: Results, plan: Plan) -> list[str]:
    lines = [
        f"### 1. The real bot path: N concurrent /generate (TestSampler, {plan.steps} steps x {BOT_STEP_DELAY * 1000:g}"
        " ms, a preview per step; edits paced at uploads.edit_interval = 0.5 s)",
        "",
        "| Jobs at once | Delivered | Wall | Submit: interaction -> POST /prompt (median / p90) | "
        "Message dispatch: `execution_start` sent -> routed (median / p90) | Finish -> upload start (median / p90) "
        "| ... of which waiting for the edit slot (median) | Discord requests per job | ComfyUI requests per job "
        "| WebSocket messages (per wall s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results.bot:
        comfy = sum(run.comfy_requests.values()) - run.comfy_requests.get("GET /ws", 0)
        lines.append(
            f"| {run.jobs} | {run.delivered}/{run.jobs} | {run.wall:.2f} s | {_spread(run.submit)} | "
            f"{_spread(run.dispatch)} | {_spread(run.finish_to_upload)} | {_ms(statistics.median(run.pacing))} | "
            f"{run.discord_requests / run.jobs:.1f} | "
            f"{comfy / run.jobs:.1f} | {run.ws_messages:,} ({run.ws_messages / run.wall:,.0f}/s) |"
        )
    lines += [
        "",
        f"WebSocket dispatch capacity of the bot's tracker with 200 jobs in flight (recorded message mix incl. "
        f"~147 KB previews, in-process, best of {plan.dispatch_repeats}): **{results.capacity:,.0f} messages per CPU "
        "second**.",
    ]
    return lines


def _relay_table(relay: RelayRun | str) -> list[str]:
    head = [
        "### 2. Relaying one large .mp4 from ComfyUI to Discord through the bot (both fakes in other processes)",
        "",
    ]
    if isinstance(relay, str):
        return [*head, relay]
    growth = (relay.peak_kib - relay.baseline_kib) * 1024
    how = "VmHWM reset + 2 ms VmRSS samples" if relay.exact else "2 ms VmRSS samples"
    return [
        *head,
        "| File | Bot RSS baseline / peak | Peak RSS growth | Finish -> upload start | Finish -> delivered "
        "| Relay throughput |",
        "|---|---|---|---|---|---|",
        f"| `{relay.filename}`, {relay.uploaded_bytes / 2**20:,.0f} MiB uploaded ({relay.uploaded_bytes:,} B) | "
        f"{relay.baseline_kib / 1024:.1f} / {relay.peak_kib / 1024:.1f} MiB ({how}) | {growth / 1e6:.1f} MB | "
        f"{relay.finish_to_upload_start:.2f} s | {relay.finish_to_delivered:.2f} s | "
        f"{relay.size / relay.finish_to_delivered / 1e6:,.0f} MB/s (download + upload) |",
    ]


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base else "n/a"


def _design_table(row: list[DesignRun]) -> list[str]:
    base = row[0]
    base_latency = statistics.median(base.latencies) if base.latencies else 0.0
    lines = [
        f"### 3. {base.jobs} jobs at once: DisComfy vs the two usual designs (ratios vs DisComfy)",
        "",
        "| Design | Done | Finish on server -> result in hand (median / p90) | Latency ratio | HTTP requests | "
        "Ratio | Connections opened (of them WebSockets) | Ratio | WebSocket messages received | "
        "Queued jobs that saw no position or progress while queued | Wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in row:
        latency = statistics.median(run.latencies) if run.latencies else 0.0
        t = run.traffic
        requests_ratio = _ratio(t.http_requests, base.traffic.http_requests)
        lines.append(
            f"| {run.design} | {len(run.latencies)}/{run.jobs} | {_spread(run.latencies)} | "
            f"{_ratio(latency, base_latency)} | {t.http_requests:,} | {requests_ratio} "
            f"| {t.connections:,} ({t.websockets}) | {_ratio(t.connections, base.traffic.connections)} | "
            f"{t.ws_messages:,} | {run.queued_blind} of {run.queued} | {run.wall:.2f} s |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_compare", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs and a 64 MiB video: a smoke run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[{asctime}] [{levelname:<8}] {name}: {message}", style="{")
    logging.getLogger("discomfy").setLevel(logging.ERROR)  # the warm-up's missing-node warnings are expected
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="discomfy-compare-") as tmp:
        results = asyncio.run(run(plan, Path(tmp)))
    sys.stdout.write(render(results, plan, quick=args.quick, seconds=time.perf_counter() - started))
    failed = any(run.delivered < run.jobs for run in results.bot) or any(
        len(run.latencies) < run.jobs for row in results.designs for run in row
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
