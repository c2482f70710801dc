"""Metrics 1 and 2: submit overhead and finish-to-result latency, against the in-process fake."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import Row, graph, median, ms, percentile, stamp_final_messages, started, verdict

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
            f"1. Submit overhead: submit() -> POST /prompt at the fake (median of {count})",
            ms(value),
            f"<= {ms(SUBMIT_TARGET)}",
            verdict(value <= SUBMIT_TARGET),
        ),
        Row("1a. ... p90 / max", f"{ms(percentile(to_arrival, 90))} / {ms(max(to_arrival))}"),
        Row("1b. ... whole submit() round trip incl. the 200 answer (median)", ms(median(round_trip))),
    ]


@dataclass
class _FinishSamples:
    total: list[float] = field(default_factory=list)
    socket: list[float] = field(default_factory=list)  # fake sends `executing null` -> tracker dispatches it
    to_history: list[float] = field(default_factory=list)  # tracker -> GET /history arrives at the fake
    to_view: list[float] = field(default_factory=list)  # GET /history -> GET /view arrives
    to_result: list[float] = field(default_factory=list)  # GET /view -> job.result() returns to the caller


async def finish_to_result(tmp: Path, count: int) -> list[Row]:
    """From the fake handing `executing {node: null}` to its socket to `await job.result()` returning."""
    samples = _FinishSamples()
    async with started(tmp / "finish") as (fake, service):
        dispatched = stamp_final_messages(service)
        for i in range(_WARMUP + count):
            job = await service.submit(graph(10_000 + i, steps=2))
            result = await job.result()
            done = time.monotonic()
            if not result.files or result.files[0].size <= 0:
                raise RuntimeError(f"job {job.prompt_id} finished without a downloaded file")
            if i < _WARMUP:
                continue
            sent = fake.finish_sent[job.prompt_id]
            seen = dispatched[job.prompt_id]
            history = fake.arrived["GET /history", job.prompt_id]
            view = fake.arrived["GET /view", result.files[0].output.filename]
            samples.total.append(done - sent)
            samples.socket.append(seen - sent)
            samples.to_history.append(history - seen)
            samples.to_view.append(view - history)
            samples.to_result.append(done - view)
    return _finish_rows(samples, count, result.files[0].size)


def _finish_rows(samples: _FinishSamples, count: int, size: int) -> list[Row]:
    value = median(samples.total)
    parts = " + ".join(
        ms(median(part)) for part in (samples.socket, samples.to_history, samples.to_view, samples.to_result)
    )
    return [
        Row(
            f"2. Finish-to-result: `executing null` sent -> job.result() (median of {count}, {size} B file)",
            ms(value),
            f"<= {ms(FINISH_TARGET)}",
            verdict(value <= FINISH_TARGET),
        ),
        Row("2a. ... p90 / max", f"{ms(percentile(samples.total, 90))} / {ms(max(samples.total))}"),
        Row("2b. ... medians: socket + to GET /history + to GET /view + to result()", parts),
    ]
