"""Metrics 1 and 2: submit overhead and finish-to-result latency, against the in-process fake."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import Row, graph, median, ms, percentile, stamp_dispatches, started, verdict

SUBMIT_TARGET = 0.005
FINISH_TARGET = 0.020
_WARMUP = 10


async def submit_overhead(tmp: Path, count: int) -> list[Row]:
    """Time from calling `service.submit()` to the fake's middleware seeing POST /prompt (fake on hold)."""
    to_arrival: list[float] = []
    round_trip: list[float] = []
    async with started(tmp / "submit") as (fake, service):
        fake.hold()  # prompts stay pending: no execution competes with the submissions
        for i in range(_WARMUP + count):
            prompt_id = str(uuid.uuid4())
            start = time.monotonic()
            await service.submit(graph(i), prompt_id=prompt_id)
            end = time.monotonic()
            if i >= _WARMUP:
                to_arrival.append(fake.arrived["POST /prompt", prompt_id] - start)
                round_trip.append(end - start)
    value = median(to_arrival)
    return [
        Row(
            "1. Submit overhead, an upper bound measured in-process: submit() -> POST /prompt at the fake "
            f"(median of {count})",
            ms(value),
            f"<= {ms(SUBMIT_TARGET)}",
            verdict(value <= SUBMIT_TARGET),
        ),
        Row("1a. ... p95 / max", f"{ms(percentile(to_arrival, 95))} / {ms(max(to_arrival))}"),
        Row("1b. ... whole submit() round trip incl. the 200 answer (median)", ms(median(round_trip))),
    ]


@dataclass
class _FinishSamples:
    total: list[float] = field(default_factory=list)
    socket: list[float] = field(default_factory=list)  # fake sends `execution_success` -> tracker dispatches it
    to_result: list[float] = field(default_factory=list)  # tracker -> job.result() returns to the caller
    view: list[float] = field(default_factory=list)  # `execution_success` sent -> GET /view arrived (< 0: before)


async def finish_to_result(tmp: Path, count: int) -> list[Row]:
    """From the fake handing `execution_success` to its socket to `await job.result()` returning."""
    samples = _FinishSamples()
    async with started(tmp / "finish") as (fake, service):
        dispatched = stamp_dispatches(service, "execution_success")
        for i in range(_WARMUP + count):
            job = await service.submit(graph(10_000 + i, steps=2))
            result = await job.result()
            done = time.monotonic()
            if not result.files or result.files[0].size <= 0:
                raise RuntimeError(f"job {job.prompt_id} finished without a downloaded file")
            if i < _WARMUP:
                continue
            sent = fake.success_sent[job.prompt_id]
            seen = dispatched["execution_success", job.prompt_id]
            samples.total.append(done - sent)
            samples.socket.append(seen - sent)
            samples.to_result.append(done - seen)
            samples.view.append(fake.arrived["GET /view", result.files[0].output.filename] - sent)
        if any(key[0] == "GET /history" for key in fake.arrived):
            raise RuntimeError("the service read /history for a job its messages had already completed")
    return _finish_rows(samples, count, result.files[0].size)


def _finish_rows(samples: _FinishSamples, count: int, size: int) -> list[Row]:
    value = median(samples.total)
    return [
        Row(
            f"2. Finish-to-result: `execution_success` sent -> job.result() (median of {count}, {size} B file, "
            "no post-job pause; row 5 has it)",
            ms(value),
            f"<= {ms(FINISH_TARGET)}",
            verdict(value <= FINISH_TARGET),
        ),
        Row("2a. ... p95 / max", f"{ms(percentile(samples.total, 95))} / {ms(max(samples.total))}"),
        Row(
            "2b. ... medians: socket + to result(); GET /view arrived (from `execution_success`, < 0: before it)",
            f"{ms(median(samples.socket))} + {ms(median(samples.to_result))}; {ms(median(samples.view))}",
        ),
    ]
