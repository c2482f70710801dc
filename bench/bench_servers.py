"""Benchmark of the scheduler in front of several fake ComfyUI servers: throughput, routing cost, failover.

    python -m bench.bench_servers           # 200 jobs of 0.1 s each on 1, 2 and 4 servers, then the failover run
    python -m bench.bench_servers --quick   # 60 jobs: a smoke run

The jobs go through the real JobManager, scheduler and ComfyPool (store, routing, look-ahead, downloads), each
server a fake ComfyUI in this process whose every prompt takes a fixed simulated time (`job_duration`). No
Discord: a finished job is marked delivered at once. bench/README.md explains each row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import INFO, Row, graph, run_benchmark, verdict
from discomfy.comfy import ComfyPool, ComfyServer, ComfySettings
from discomfy.config import LimitSettings, SchedulerSettings
from discomfy.job import Job, JobRequest
from discomfy.jobs import JobManager
from discomfy.store import JobStatus, JobStore
from discomfy.workflows import load_workflows
from testing.comfy_server import FakeComfy

MAPPING = """title: Bench
graph: bench.json
outputs: ["9"]
parameters:
  prompt: {node: "3", input: text, type: str, required: true}
"""
USERS = 20  # jobs come from this many users in turn, as a busy community's would


@dataclass(frozen=True, slots=True)
class Plan:
    jobs: int
    duration: float  # seconds of simulated GPU time per job
    failover_jobs: int


FULL = Plan(jobs=200, duration=0.1, failover_jobs=200)
QUICK = Plan(jobs=60, duration=0.1, failover_jobs=60)


def _progress(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")


@asynccontextmanager
async def _farm(
    tmp: Path, count: int, duration: float, **scheduling: Any
) -> AsyncIterator[tuple[JobManager, list[FakeComfy]]]:
    """`count` fake servers behind a real pool, store and JobManager."""
    workflows = tmp / "workflows"
    workflows.mkdir(exist_ok=True)
    (workflows / "bench.json").write_text(json.dumps(graph(0)))
    (workflows / "bench.yaml").write_text(MAPPING)
    async with AsyncExitStack() as stack:
        fakes = []
        for _ in range(count):
            fake = await stack.enter_async_context(FakeComfy(step_delay=0.0))
            fake.job_duration = duration
            fakes.append(fake)
        settings = ComfySettings(download_dir=tmp / f"outputs-{count}", reconnect_max_delay=0.5, watchdog_interval=5)
        servers = [ComfyServer(f"s{i}", 1.0, settings.model_copy(update={"url": f.url})) for i, f in enumerate(fakes)]
        store = await stack.enter_async_context(JobStore(tmp / f"store-{count}-{time.monotonic_ns()}.sqlite3"))
        pool = await ComfyPool.open(servers, store.client_id)
        stack.push_async_callback(pool.close)
        limits = LimitSettings(max_pending_total=10_000, max_pending_per_user=10_000, cooldown_seconds=0)
        jobs = JobManager(pool, load_workflows(workflows), store, limits, SchedulerSettings(**scheduling))
        stack.push_async_callback(jobs.close)
        if not await pool.wait_connected(10):
            raise RuntimeError("the fake servers did not connect")
        async with asyncio.timeout(10):
            while any(server.service.capabilities is None for server in pool):  # noqa: ASYNC110 - read at connect
                await asyncio.sleep(0.01)
        yield jobs, fakes


def _request(index: int) -> JobRequest:
    owner = 1000 + index % USERS
    return JobRequest(owner, channel_id=1, guild_id=1, workflow="bench", values={"prompt": f"job {index}"})


async def _deliver(jobs: JobManager, job: Job) -> None:
    """What the presenter does once a job settles: here, no Discord, only the store's DONE."""
    await job.settled.wait()
    if job.record.status is JobStatus.DELIVERING:
        await jobs.delivered(job, message_id=None)


async def _run_all(
    jobs: JobManager, count: int, during: Callable[[], Any] | None = None
) -> tuple[float, list[Job], dict[str, str | None]]:
    """Submit `count` jobs at once (in turn from USERS users), wait until each is delivered or failed; returns
    the seconds it took, the jobs, and each job's first prompt id (a job moved to another server gets a new one)."""
    started = time.perf_counter()
    submitted = [await jobs.submit(_request(i), exempt=True) for i in range(count)]
    first_ids = {job.job_id: job.record.prompt_id for job in submitted}
    waiting = [asyncio.create_task(_deliver(jobs, job)) for job in submitted]
    if during is not None:
        await during()
    await asyncio.gather(*waiting)
    return time.perf_counter() - started, submitted, first_ids


async def throughput(tmp: Path, plan: Plan, count: int) -> tuple[float, float]:
    """Jobs per second on `count` servers, and the scheduler's own time per job routed (select, in ms)."""
    async with _farm(tmp, count, plan.duration) as (jobs, _fakes):
        spent: list[float] = []
        picked = 0
        select = jobs.scheduler.select

        def timed(*, inline: bool = False) -> list[Any]:
            nonlocal picked
            begin = time.perf_counter()
            result = select(inline=inline)
            spent.append(time.perf_counter() - begin)
            picked += len(result)
            return result

        jobs.scheduler.select = timed  # type: ignore[method-assign]
        seconds, done, _ids = await _run_all(jobs, plan.jobs)
        failed = [job for job in done if job.record.status is not JobStatus.DONE]
        if failed:
            raise RuntimeError(f"{len(failed)} job(s) did not finish: {failed[0].record.error}")
        return plan.jobs / seconds, 1000 * sum(spent) / max(1, picked)


async def failover(tmp: Path, plan: Plan) -> dict[str, int]:
    """3 servers; one is killed (restarted, its queue lost) a third of the way in and stays away for 3 s.

    Its waiting jobs move after the grace period; the one it was running comes back Lost and is retried, as a
    user pressing Retry would. Every request must end with exactly one delivered result.
    """
    async with _farm(tmp, 3, plan.duration, failover_grace=0.5) as (jobs, fakes):
        victim = fakes[1]
        succeeded: list[str] = []  # every prompt that ran to the end, on any server, before or after the kill
        for fake in fakes:
            fake.prompt_event = lambda prompt_id, event: (  # type: ignore[method-assign]
                succeeded.append(prompt_id) if event == "execution_success" else None
            )

        async def kill_mid_run() -> None:
            async with asyncio.timeout(60):
                while len(victim.history) < plan.failover_jobs // 9:  # noqa: ASYNC110 - a third of its share
                    await asyncio.sleep(0.01)
            await victim.wait_until(lambda: bool(victim.running_prompt_id and victim.pending_prompt_ids), 30)
            await victim.restart(downtime=3.0)  # one running there (Lost), one waiting (moved)

        _seconds, done, first_ids = await _run_all(jobs, plan.failover_jobs, kill_mid_run)
        lost = [job for job in done if job.record.status is JobStatus.LOST]
        retried = {job.job_id: await jobs.retry(job.record, job.record.owner_id, exempt=True) for job in lost}
        await asyncio.gather(*(_deliver(jobs, job) for job in retried.values()))
        delivered = 0
        duplicated = 0
        for job in done:  # each request: its first prompt, its last (moved) one, and its retry's
            last = retried.get(job.job_id, job)
            delivered += last.record.status is JobStatus.DONE
            prompts = {first_ids[job.job_id], job.record.prompt_id, last.record.prompt_id}
            duplicated += sum(succeeded.count(prompt) for prompt in prompts) > 1
        return {
            "requests": plan.failover_jobs,
            "delivered": delivered,
            "lost_then_retried": len(lost),
            "not_delivered": plan.failover_jobs - delivered,
            "duplicated": duplicated,
            "moved": sum(job.record.prompt_id != first_ids[job.job_id] for job in done if job not in lost),
        }


async def run(plan: Plan, tmp: Path) -> list[Row]:
    rates, costs = {}, {}
    for count in (1, 2, 4):
        _progress(f"{plan.jobs} jobs of {plan.duration:g} s on {count} server(s)")
        rates[count], costs[count] = await throughput(tmp, plan, count)
    _progress(f"failover: {plan.failover_jobs} jobs on 3 servers, one killed mid-run")
    result = await failover(tmp, plan)
    ideal = 1 / plan.duration
    rows = [
        Row(
            f"1. Throughput on 1 server ({plan.jobs} jobs of {plan.duration:g} s)",
            f"{rates[1]:.2f} jobs/s",
            f"info (ideal {ideal:.0f})",
            INFO,
        ),
        Row(
            "1a. Speed-up on 2 servers",
            f"{rates[2] / rates[1]:.2f}x ({rates[2]:.2f} jobs/s)",
            ">= 1.9x",
            verdict(rates[2] / rates[1] >= 1.9),
        ),
        Row(
            "1b. Speed-up on 4 servers",
            f"{rates[4] / rates[1]:.2f}x ({rates[4]:.2f} jobs/s)",
            ">= 3.6x",
            verdict(rates[4] / rates[1] >= 3.6),
        ),
        Row(
            "2. Routing per job (scheduler.select, 4 servers, every job waiting at first)",
            f"{costs[4]:.3f} ms",
            "<= 1 ms",
            verdict(costs[4] <= 1.0),
        ),
        Row("2a. Routing per job on 1 and 2 servers", f"{costs[1]:.3f} ms, {costs[2]:.3f} ms", "info", INFO),
        Row(
            "3. Failover: one of 3 servers killed mid-run, back after 3 s",
            f"{result['delivered']}/{result['requests']} delivered, {result['not_delivered']} lost, "
            f"{result['duplicated']} duplicated",
            "0 lost, 0 duplicated",
            verdict(result["not_delivered"] == 0 and result["duplicated"] == 0),
        ),
        Row(
            "3a. Of those, running on it when killed (Lost, then retried as a user would)",
            str(result["lost_then_retried"]),
            "info",
            INFO,
        ),
        Row(
            "3b. Of those, waiting in its queue and moved to another server after the grace period (0.5 s)",
            str(result["moved"]),
            "info",
            INFO,
        ),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(
        argv,
        prog="python -m bench.bench_servers",
        description=__doc__.splitlines()[0],
        quick_help="60 jobs instead of 200: a smoke run",
        run=lambda quick, tmp: run(QUICK if quick else FULL, tmp),
        name="scheduler",
        log_level=logging.ERROR,
    )


if __name__ == "__main__":
    sys.exit(main())
