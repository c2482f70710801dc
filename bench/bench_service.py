"""Benchmark of the ComfyUI service (discomfy.comfy) against the fake ComfyUI on 127.0.0.1.

    python -m bench.bench_service           # full run, about 2 minutes on 2 cores (needs ~1.1 GB free disk)
    python -m bench.bench_service --quick   # smoke run with smaller counts, about 40 s

Prints a markdown table: each metric, the measured value, the target and PASS/FAIL (or info).
See bench/README.md for what each number means and how it is measured.
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench._common import Row, run_benchmark
from bench._delivery import bot_end_to_end
from bench._dispatch import dispatch_rows, end_to_end, in_process
from bench._latency import finish_to_result, submit_overhead
from bench._memory import download_memory
from bench._mix import build_mix, describe, record_templates


@dataclass(frozen=True, slots=True)
class Plan:
    submissions: int
    finishes: int
    job_counts: list[int]
    messages: int  # per dispatch pass
    repeats: int
    e2e_repeats: int
    download_size: int
    bot_jobs: int  # /generate commands through the whole bot, one at a time


FULL = Plan(200, 100, [1, 200, 2000], 60_000, 5, 2, 500 * 2**20, 30)
QUICK = Plan(50, 20, [1, 200, 500], 15_000, 3, 1, 64 * 2**20, 10)


def _progress(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


async def run(plan: Plan, tmp: Path) -> list[Row]:
    """Every metric; the memory one first, while this process has allocated the least."""
    _progress(f"4/5 download of {plan.download_size / 2**20:.0f} MiB (fake in a subprocess)")
    memory = await download_memory(tmp, plan.download_size)
    _progress(f"1/5 submit overhead x{plan.submissions}")
    submit = await submit_overhead(tmp, plan.submissions)
    _progress(f"2/5 finish-to-result x{plan.finishes}")
    finish = await finish_to_result(tmp, plan.finishes)
    _progress("3/5 recording the message mix")
    templates = await record_templates(tmp)
    mix_text = describe(build_mix(templates, [str(uuid.uuid4())], plan.messages))
    _progress(f"3/5 in-process dispatch with {plan.job_counts} jobs in flight")
    local = await in_process(tmp, templates, plan.job_counts, plan.messages, plan.repeats)
    _progress("3/5 end-to-end dispatch over a loopback WebSocket")
    e2e = await end_to_end(tmp, templates, 200, plan.messages, plan.e2e_repeats)
    _progress(f"5/5 the whole bot, {plan.bot_jobs} jobs with the post-job pause and {plan.bot_jobs} without")
    bot = await bot_end_to_end(tmp / "bot", plan.bot_jobs)
    return submit + finish + dispatch_rows(local, e2e, mix_text, plan.repeats) + memory + bot


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(
        argv,
        prog="python -m bench.bench_service",
        description=__doc__.splitlines()[0],
        quick_help="smaller counts and a 64 MiB download: a smoke run",
        run=lambda quick, tmp: run(QUICK if quick else FULL, tmp),
        name="ComfyService",
        log_level=logging.WARNING,
    )


if __name__ == "__main__":
    sys.exit(main())
