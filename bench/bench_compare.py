"""DisComfy's one-socket design against the peer's polling and a socket per job, and the whole bot under load.

    python -m bench.bench_compare           # full run, about 90 s on 2 cores (needs ~1.1 GB free disk)
    python -m bench.bench_compare --quick   # smoke run: fewer jobs, a 64 MiB video, about 60 s

Everything runs on 127.0.0.1: the fake ComfyUI and the fake Discord each in their own process, the client under
test (the bot, or one of the three designs) in this one. Prints markdown tables on stdout, progress on stderr.
See bench/RESULTS.md for what each number means and the last output.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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
from bench._common import POST_JOB_PAUSE, percentile, run_line
from bench._designs import DESIGNS, DesignRun, design_memory, run_design, sampler_graph
from bench._dispatch import in_process
from bench._memory import MIN_FREE_DISK, Growth
from bench._mix import record_templates
from bench._servers import ServerProcess

BOT_STEP_DELAY = 0.005
DESIGN_STEP_DELAY = 0.04
DESIGN_STEPS = (10, 35)  # per design job, drawn at random: 0.4-1.4 s, so a finish falls anywhere in a 1 s poll
DESIGN_OUTPUT = int(22.5 * 2**20)  # the large output each design fetches once, for its memory figure


@dataclass(frozen=True, slots=True)
class Plan:
    bot_jobs: list[tuple[int, float]]  # (concurrent /generate commands through the bot, post-job pause)
    steps: int  # sampler steps per bot job (one progress message and one preview each)
    video_size: int
    one_at_a_time: int  # design jobs run one after another
    in_flight: int  # design jobs run all at once
    dispatch_messages: int
    dispatch_repeats: int


FULL = Plan([(1, POST_JOB_PAUSE), (20, POST_JOB_PAUSE), (200, 0.0)], 4, 500 * 2**20, 12, 10, 60_000, 3)
QUICK = Plan([(1, POST_JOB_PAUSE), (20, POST_JOB_PAUSE)], 4, 64 * 2**20, 5, 10, 15_000, 2)


def _progress(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _spread(values: list[float]) -> str:
    """Median / p95 (nearest rank)."""
    if not values:
        return "n/a"
    return f"{_ms(statistics.median(values))} / {_ms(percentile(values, 95))}"


@dataclass
class Results:
    relay: RelayRun | str
    bot: list[BotRun]
    capacity: float
    designs: dict[str, tuple[DesignRun, DesignRun, Growth]]  # one at a time, all at once, memory


async def run(plan: Plan, tmp: Path) -> Results:
    comfy = await ServerProcess.start("comfy", tmp, str(tmp / "comfy-output"))
    discord_api = await ServerProcess.start("discord", tmp)
    try:
        relay = await _relay(plan, tmp, comfy, discord_api)
        await comfy.command(f"pause {POST_JOB_PAUSE}")
        memory = {}
        for name, runner in DESIGNS.items():  # early, while this process has allocated little; the peer's last
            _progress(f"designs: {name}, peak RSS fetching a {DESIGN_OUTPUT / 2**20:g} MiB output")
            memory[name] = await design_memory(name, runner, comfy, tmp / "memory", DESIGN_OUTPUT)
        bot_runs = await _bot_path(plan, tmp, comfy, discord_api)
        designs = await _designs(plan, tmp, comfy, memory)
    finally:
        await comfy.stop()
        await discord_api.stop()
    _progress(f"tracker dispatch capacity with 200 jobs in flight ({plan.dispatch_messages:,} messages)")
    templates = await record_templates(tmp)
    (capacity,) = await in_process(tmp, templates, [200], plan.dispatch_messages, plan.dispatch_repeats)
    return Results(relay, bot_runs, capacity.rate, designs)


async def _bot_path(plan: Plan, tmp: Path, comfy: ServerProcess, discord_api: ServerProcess) -> list[BotRun]:
    await comfy.command(f"step_delay {BOT_STEP_DELAY}")
    workflows = write_bench_workflow(tmp / "workflows")
    runs = []
    async with running_bot(tmp / "bot", comfy.url, discord_api, workflows=workflows, default=BENCH_WORKFLOW) as bot:
        for count, pause in plan.bot_jobs:
            _progress(f"bot path: {count} concurrent /generate, post-job pause {pause:g} s")
            runs.append(await concurrent_jobs(bot, comfy, discord_api, count, steps=plan.steps, pause=pause))
    return runs


async def _designs(
    plan: Plan, tmp: Path, comfy: ServerProcess, memory: dict[str, Growth]
) -> dict[str, tuple[DesignRun, DesignRun, Growth]]:
    await comfy.command(f"step_delay {DESIGN_STEP_DELAY}")
    await comfy.command(f"pause {POST_JOB_PAUSE}")
    rng = random.Random(7)
    steps = [(at_once, [rng.randint(*DESIGN_STEPS) for _ in range(count)]) for count, at_once in _batches(plan)]
    results = {}
    for name, runner in DESIGNS.items():
        runs = []
        for at_once, counts in steps:  # the same step counts for every design; fresh seeds, so
            _progress(f"designs: {name}, {len(counts)} jobs, {at_once} at a time")  # the cache never answers
            graphs = [sampler_graph(uuid.uuid4().int % 2**48, n) for n in counts]
            runs.append(await run_design(name, runner, comfy, graphs, tmp / "designs", at_once=at_once))
        results[name] = (runs[0], runs[1], memory[name])
    return results


def _batches(plan: Plan) -> list[tuple[int, int]]:
    """(jobs, how many in flight): one after another, then all at once."""
    return [(plan.one_at_a_time, 1), (plan.in_flight, plan.in_flight)]


async def _relay(plan: Plan, tmp: Path, comfy: ServerProcess, discord_api: ServerProcess) -> RelayRun | str:
    """First, while this process has allocated the least: the large video through the whole bot."""
    free = (await asyncio.to_thread(shutil.disk_usage, tmp)).free
    if free < MIN_FREE_DISK:
        return f"skipped: only {free / 1e9:.1f} GB free in {tmp} (needs 2 GB)"
    _progress(f"relay of a {plan.video_size / 2**20:.0f} MiB .mp4 from ComfyUI to Discord through the bot")
    async with running_bot(
        tmp / "relay", comfy.url, discord_api, workflows=REPO / "workflows", default="wan21_t2v"
    ) as bot:
        return await relay_large_video(bot, comfy, discord_api, plan.video_size)


# ---- the report ------------------------------------------------------------------------------------------


def render(results: Results, plan: Plan, *, quick: bool, seconds: float) -> str:
    lines = [
        run_line("comparison", quick=quick, seconds=seconds),
        "",
        *_bot_table(results, plan),
        "",
        *_relay_table(results.relay),
        "",
        *_design_table(results.designs, plan),
        "",
    ]
    return "\n".join(lines)


def _bot_table(results: Results, plan: Plan) -> list[str]:
    lines = [
        f"### 1. The real bot path: N concurrent /generate (TestSampler, {plan.steps} steps x {BOT_STEP_DELAY * 1000:g}"
        " ms, a preview per step; progress edits paced at uploads.edit_interval = 0.5 s)",
        "",
        "| Jobs at once | ComfyUI's post-job pause | Delivered | Wall | Submit: interaction -> POST /prompt "
        "(median / p95) | Message dispatch: `execution_start` sent -> routed (median / p95) | `execution_success` "
        "sent -> upload start (median / p95) | ... of which ComfyUI holding the file (median) | Discord requests "
        "per job | ComfyUI requests per job | WebSocket messages (per wall s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results.bot:
        comfy = sum(run.comfy_requests.values()) - run.comfy_requests.get("GET /ws", 0)
        pause = f"{run.pause:g} s after every job" if run.pause else "off"
        lines.append(
            f"| {run.jobs} | {pause} | {run.delivered}/{run.jobs} | {run.wall:.2f} s | {_spread(run.submit)} | "
            f"{_spread(run.dispatch)} | {_spread(run.finish_to_upload)} | {_ms(statistics.median(run.file_wait))} | "
            f"{run.discord_requests / run.jobs:.1f} | "
            f"{comfy / run.jobs:.1f} | {run.ws_messages:,} ({run.ws_messages / run.wall:,.0f}/s) |"
        )
    lines += [
        "",
        f"WebSocket dispatch capacity of the bot's tracker with 200 jobs in flight (recorded message mix incl. "
        f"~147 KB previews; an upper bound measured in-process, without the socket; best of {plan.dispatch_repeats}):"
        f" **{results.capacity:,.0f} messages per CPU second**.",
    ]
    return lines


def _relay_table(relay: RelayRun | str) -> list[str]:
    head = [
        "### 2. Relaying one large .mp4 from ComfyUI to Discord through the bot (both fakes in other processes, "
        "no post-job pause)",
        "",
    ]
    if isinstance(relay, str):
        return [*head, relay]
    growth = (relay.peak_kib - relay.baseline_kib) * 1024
    how = "VmHWM reset + 2 ms VmRSS samples" if relay.exact else "2 ms VmRSS samples"
    return [
        *head,
        "| File | Bot RSS baseline / peak | Peak RSS growth | `execution_success` -> upload start | "
        "`execution_success` -> delivered | Relay throughput |",
        "|---|---|---|---|---|---|",
        f"| `{relay.filename}`, {relay.uploaded_bytes / 2**20:,.0f} MiB uploaded ({relay.uploaded_bytes:,} B) | "
        f"{relay.baseline_kib / 1024:.1f} / {relay.peak_kib / 1024:.1f} MiB ({how}) | {growth / 1e6:.1f} MB | "
        f"{relay.finish_to_upload_start:.2f} s | {relay.finish_to_delivered:.2f} s | "
        f"{relay.size / relay.finish_to_delivered / 1e6:,.0f} MB/s (download + upload) |",
    ]


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base else "n/a"


def _design_table(designs: dict[str, tuple[DesignRun, DesignRun, Growth]], plan: Plan) -> list[str]:
    base_one, base_many, _ = next(iter(designs.values()))
    lines = [
        f"### 3. DisComfy vs the peer's polling and a socket per job (ComfyUI pauses {POST_JOB_PAUSE:g} s after "
        f"every job; TestSampler {DESIGN_STEPS[0]}-{DESIGN_STEPS[1]} steps x {DESIGN_STEP_DELAY * 1000:g} ms; "
        "ratios vs DisComfy)",
        "",
        f"| Design | {plan.one_at_a_time} jobs one at a time: `execution_success` sent -> result in hand (median / p95)"
        f" | Ratio (medians) | HTTP requests per job | {plan.in_flight} jobs at once: `execution_success` sent -> "
        "result in hand (median / p95) | Ratio (medians) | HTTP requests per job | Connections opened (of them "
        "WebSockets) | WebSocket messages received | Queued jobs that heard nothing of their own while queued | "
        f"Peak RSS growth fetching one {DESIGN_OUTPUT / 2**20:g} MiB output |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (one, many, growth) in designs.items():
        done = "" if one.failures == many.failures == 0 else f" ({one.failures + many.failures} failed)"
        lines.append(
            f"| {name}{done} | {_spread(one.latencies)} | {_ratio(_med(one), _med(base_one))} | "
            f"{one.traffic.http_requests / one.jobs:.1f} | {_spread(many.latencies)} | "
            f"{_ratio(_med(many), _med(base_many))} | {many.traffic.http_requests / many.jobs:.1f} | "
            f"{many.traffic.connections} ({many.traffic.websockets}) | {many.traffic.ws_messages:,} | "
            f"{many.queued_blind} of {many.queued} | {growth.grown / 1e6:.1f} MB |"
        )
    return lines


def _med(run: DesignRun) -> float:
    return statistics.median(run.latencies) if run.latencies else 0.0


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
        len(run.latencies) < run.jobs for one, many, _ in results.designs.values() for run in (one, many)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
