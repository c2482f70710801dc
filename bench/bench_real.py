"""Against a real ComfyUI: from ComfyUI's `execution_success` to the result, DisComfy beside the peer's polling.

    python -m bench.bench_real --url http://127.0.0.1:8188 [--jobs 20] [--size 1024] [--output-dir DIR]

Needs a running ComfyUI on any device and no model: each job is EmptyImage -> ImageBlur -> SaveImage at
`--size` pixels (about 1 s on a CPU at 1024), with a fresh colour so ComfyUI's cache never answers. Jobs go one
at a time, in four series on the same server:

- the ComfyService as the bot uses it, and the peer's polling design (`bench/_designs.py`): `execution_success`
  -> the output's bytes in hand; HTTP requests per job;
- the real bot (built by `open_bot`, logged in to the fake Discord in a child process): `execution_success` ->
  the request carrying the result reaching Discord; and again with `comfy.local_output_dir` = `--output-dir`
  (ComfyUI's output folder, if this machine can read it).

The start of every latency is the `timestamp` ComfyUI writes into `execution_success` (its wall clock in ms, taken
by the prompt worker as the prompt ends), read back from `/history`; ends are this machine's clock, so ComfyUI
must run on this machine. ComfyUI's prompt worker runs `gc.collect()` after a job at most every 10 s, holding the
GIL: its HTTP answers stall meanwhile. With jobs of about 1 s (the default size) that is one job in ten; with jobs
longer than 10 s (`--size 3400` on a CPU), every job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench._botpath import running_bot, upload_start
from bench._common import ms, percentile
from bench._designs import Observed, Runner, Traffic, discomfy, peer_polling
from bench._servers import ServerProcess
from discomfy.bot.bot import DiscomfyBot
from testing import payloads

WORKFLOW = "bench_real"
STALL = 0.100  # a latency above this is counted as held up (ComfyUI's collection takes 0.24-0.45 s)
_MAPPING = f"""\
title: Real-server benchmark
description: EmptyImage -> ImageBlur -> SaveImage; the prompt goes to a node no output depends on.
kind: image
graph: {WORKFLOW}.json
outputs: ["3"]
parameters:
  prompt: {{node: "4", input: value, type: str, required: true, max_length: 2000}}
  color: {{node: "1", input: color, type: int, min: 0, max: 16777215}}
"""


def graph(size: int, color: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 31, "sigma": 10.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "discomfy_bench/real"}},
        "4": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "unused"}},
    }


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    latencies: list[float]  # `execution_success` (ComfyUI's stamp) -> the result where the series measures it
    requests_per_job: float | None = None


def _progress(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


def _wall(monotonic: float) -> float:
    """A time.monotonic() stamp on the wall clock ComfyUI's timestamps use."""
    return monotonic + (time.time() - time.monotonic())


async def success_stamps(url: str, prompt_ids: list[str]) -> dict[str, float]:
    """prompt_id -> ComfyUI's `execution_success` timestamp (seconds, wall clock), from its history."""
    stamps = {}
    async with aiohttp.ClientSession() as session:
        for prompt_id in prompt_ids:
            async with session.get(f"{url}/history/{prompt_id}") as resp:
                entry = (await resp.json()).get(prompt_id) or {}
            for kind, data in (entry.get("status") or {}).get("messages") or ():
                if kind == "execution_success":
                    stamps[prompt_id] = data["timestamp"] / 1000
    return stamps


async def design_series(name: str, runner: Runner, url: str, graphs: list[dict[str, Any]], tmp: Path) -> Series:
    """One design, its jobs one at a time (each submitted once the one before is in hand)."""
    traffic, seen = Traffic(), Observed()
    await runner(url, graphs, 1, tmp / name, traffic, seen)
    stamps = await success_stamps(url, list(seen.in_hand))
    latencies = [_wall(seen.in_hand[pid]) - stamps[pid] for pid in seen.in_hand if pid in stamps]
    return Series(name, latencies, traffic.http_requests / max(1, len(graphs)))


async def bot_series(name: str, bot: DiscomfyBot, discord_api: ServerProcess, url: str, jobs: int) -> Series:
    """`jobs` /generate commands through the real bot, each delivered before the next; measured at Discord."""
    await discord_api.command("reset")
    sent = []
    for i in range(jobs):
        options = {"prompt": f"{name} #{i} {time.monotonic_ns()}", "settings": f"color={random.randrange(1 << 24)}"}
        payload = payloads.slash_command("generate", options)
        sent.append(payload)
        await payloads.dispatch_and_wait(bot, payload, timeout=60)
        await bot.presenter.drain()
    requests = await discord_api.dump()
    records = {r.params.get("prompt"): r for r in await bot.jobs.store.history(payloads.USER_ID, limit=jobs + 50)}
    uploads = {}
    for payload in sent:
        record = records[payload["data"]["options"][0]["value"]]
        uploaded = upload_start(requests, payload["token"])
        if record.prompt_id and uploaded is not None:
            uploads[record.prompt_id] = uploaded
    stamps = await success_stamps(url, list(uploads))
    return Series(name, [_wall(uploads[pid]) - stamps[pid] for pid in uploads if pid in stamps])


async def run(args: argparse.Namespace, tmp: Path) -> list[Series]:
    url = args.url.rstrip("/")
    rng = random.Random(args.jobs)
    graphs = [graph(args.size, rng.randrange(1 << 24)) for _ in range(args.jobs)]
    designs: dict[str, Runner] = {"DisComfy's ComfyService": discomfy, "the peer's polling": peer_polling}
    results = []
    for name, runner in designs.items():
        _progress(f"{name}: {args.jobs} jobs")
        fresh = [graph(args.size, rng.randrange(1 << 24)) for _ in graphs]
        results.append(await design_series(name, runner, url, fresh, tmp))
    workflows = tmp / "workflows"
    workflows.mkdir()
    (workflows / f"{WORKFLOW}.json").write_text(json.dumps(graph(args.size, 0)))
    (workflows / f"{WORKFLOW}.yaml").write_text(_MAPPING)
    discord_api = await ServerProcess.start("discord", tmp)
    try:
        settings: list[tuple[str, dict[str, Any]]] = [("DisComfy bot, over HTTP", {})]
        if args.output_dir:
            local = {"local_output_dir": args.output_dir}
            settings.append(("DisComfy bot, ComfyUI's output folder at hand", local))
        for name, comfy in settings:
            _progress(f"{name}: {args.jobs} /generate")
            async with running_bot(
                tmp / name.split(",")[1].strip().replace(" ", "-"),
                url,
                discord_api,
                workflows=workflows,
                default=WORKFLOW,
                comfy_settings=comfy,
            ) as bot:
                await bot_series("warm-up", bot, discord_api, url, 1)
                results.append(await bot_series(name, bot, discord_api, url, args.jobs))
    finally:
        await discord_api.stop()
    return results


def table(results: list[Series], args: argparse.Namespace) -> str:
    lines = [
        f"Against the real ComfyUI at {args.url}: {args.jobs} jobs per series, one at a time; "
        f"EmptyImage {args.size}x{args.size} -> ImageBlur -> SaveImage",
        "",
        "| Series | `execution_success` -> result: median / p95 / max | Held up over "
        f"{ms(STALL)} | HTTP requests per job |",
        "|---|---|---|---|",
    ]
    for series in results:
        values = series.latencies
        spread = (
            f"{ms(statistics.median(values))} / {ms(percentile(values, 95))} / {ms(max(values))}" if values else "n/a"
        )
        held = sum(value > STALL for value in values)
        per_job = f"{series.requests_per_job:.1f}" if series.requests_per_job is not None else ""
        lines.append(f"| {series.name} | {spread} | {held} of {len(values)} | {per_job} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_real", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8188", help="the real ComfyUI (on this machine)")
    parser.add_argument("--jobs", type=int, default=20, help="jobs per series (default 20)")
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024: about 1 s a job)")
    parser.add_argument("--output-dir", help="ComfyUI's output folder, for the bot's local_output_dir series")
    args = parser.parse_args(argv)
    if args.output_dir:
        args.output_dir = str(Path(args.output_dir).resolve())
    with tempfile.TemporaryDirectory(prefix="discomfy-bench-real-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    print(table(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
