"""Metric 5: from ComfyUI's `execution_success` to the result's upload reaching Discord, through the real bot.

The bot is built as bot.py builds it (`bench._botpath.running_bot`); the fake ComfyUI and the fake Discord each
run in a child process (`bench._servers`), so only the bot is in this process. Jobs go one at a time, each a
/generate of the fake's TestSampler with enough steps that progress edits (one per `uploads.edit_interval`) run
until the end. The fake stalls for `post_job_pause` after a job as ComfyUI does while its gc.collect() holds the
GIL: at most every `GC_INTERVAL` seconds (main.py `gc_collect_interval`), which is what row 5 measures; a stall
after every job (what a server whose jobs each take longer than 10 s shows) is row 5f, and no stall row 5e.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._botpath import BENCH_WORKFLOW, running_bot, write_bench_workflow
from bench._common import POST_JOB_PAUSE, Row, median, ms, percentile, verdict
from bench._servers import ServerProcess
from discomfy.bot.bot import DiscomfyBot
from discomfy.bot.embeds import PREVIEW_NAME
from testing import payloads

MEDIAN_TARGET = 0.100
P95_TARGET = 0.250
STEP_DELAY = 0.04  # seconds per sampler step
STEPS = (12, 28)  # per job, drawn at random: 0.5-1.1 s of sampling, so the end falls anywhere in an edit interval
_WARMUP = 2
GC_INTERVAL = 10.0  # ComfyUI's prompt worker: gc.collect() after a job, at most once per this many seconds


@dataclass
class _Samples:
    total: list[float] = field(default_factory=list)  # `execution_success` sent -> the upload arrived at Discord
    file_ready: list[float] = field(default_factory=list)  # `execution_success` sent -> GET /view answered
    after_file: list[float] = field(default_factory=list)  # the later of those two -> the upload arrived
    view_stalled: int = 0  # GET /view answers the post-job pause held back
    edits: list[int] = field(default_factory=list)  # progress edits of the job's message before the upload
    edited_late: int = 0  # jobs with a progress edit between `execution_success` and the upload
    pauses: list[float] = field(default_factory=list)  # every pause the fake made (seconds)


async def bot_end_to_end(tmp: Path, jobs: int) -> list[Row]:
    """`jobs` /generate commands one after another: with ComfyUI's pause as it comes, after every job, and never."""
    comfy = await ServerProcess.start("comfy", tmp, str(tmp / "comfy-output"))
    discord_api = await ServerProcess.start("discord", tmp)
    try:
        await comfy.command(f"step_delay {STEP_DELAY}")
        workflows = write_bench_workflow(tmp / "workflows")
        async with running_bot(tmp / "bot", comfy.url, discord_api, workflows=workflows, default=BENCH_WORKFLOW) as bot:
            await _series(bot, comfy, discord_api, _WARMUP, pause=POST_JOB_PAUSE)  # imports, pools, first edits
            paused = await _series(bot, comfy, discord_api, jobs, pause=POST_JOB_PAUSE, every=GC_INTERVAL)
            always = await _series(bot, comfy, discord_api, jobs, pause=POST_JOB_PAUSE)
            unpaused = await _series(bot, comfy, discord_api, jobs, pause=0.0)
        local = {"local_output_dir": str(tmp / "comfy-output")}  # the bot reads ComfyUI's folder
        async with running_bot(
            tmp / "bot-local", comfy.url, discord_api, workflows=workflows, default=BENCH_WORKFLOW, comfy_settings=local
        ) as bot:
            await _series(bot, comfy, discord_api, _WARMUP, pause=POST_JOB_PAUSE)
            from_disk = await _series(bot, comfy, discord_api, jobs, pause=POST_JOB_PAUSE)
    finally:
        await comfy.stop()
        await discord_api.stop()
    return [
        *_rows(paused, always, unpaused, jobs),
        Row(
            f"5g. ... the same {jobs} jobs, pause after every job, `comfy.local_output_dir` set (ComfyUI's folder "
            "at hand): median / p95",
            f"{ms(median(from_disk.total))} / {ms(percentile(from_disk.total, 95))}",
        ),
    ]


async def _series(
    bot: DiscomfyBot, comfy: ServerProcess, discord_api: ServerProcess, jobs: int, *, pause: float, every: float = 0.0
) -> _Samples:
    """`jobs` /generate commands, each delivered before the next is sent; measured from the fakes' records."""
    await comfy.command(f"pause {pause}")
    await comfy.command(f"pause_every {every}")
    await comfy.command("reset")
    await discord_api.command("reset")
    rng = random.Random(jobs)
    sent = []
    for i in range(jobs):
        options = {"prompt": f"end to end #{i} {time.monotonic_ns()}", "steps": rng.randint(*STEPS)}
        payload = payloads.slash_command("generate", options)
        sent.append(payload)
        await payloads.dispatch_and_wait(bot, payload, timeout=30)
        await bot.presenter.drain()
    server, requests = await comfy.dump(), await discord_api.dump()
    records = {r.params.get("prompt"): r for r in await bot.jobs.store.history(payloads.USER_ID, limit=jobs + 50)}
    samples = _Samples(pauses=[end - begin for begin, end in server["pauses"]])
    view_of = {pid: name for name, pid in server["output_of"].items()}
    for payload in sent:
        record = records[payload["data"]["options"][0]["value"]]
        _measure(samples, server, requests, payload["token"], record.prompt_id or "", view_of)
    return samples


def _measure(
    samples: _Samples,
    server: dict[str, Any],
    requests: list[dict[str, Any]],
    token: str,
    prompt_id: str,
    view_of: dict[str, str],
) -> None:
    mine = [r for r in requests if token in r["path"] and r["status"] == 200]
    uploads = [r["received_at"] for r in mine if any(name != PREVIEW_NAME for name, _ in r["files"])]
    if not uploads or prompt_id not in server["success_sent"] or prompt_id not in view_of:
        raise RuntimeError(f"job {prompt_id} was not delivered (or ComfyUI never sent its execution_success)")
    success, upload = server["success_sent"][prompt_id], min(uploads)
    edits = [r["received_at"] for r in mine if r["method"] == "PATCH" and r["received_at"] < upload]
    samples.total.append(upload - success)
    samples.edits.append(len(edits))
    samples.edited_late += any(edit > success for edit in edits)
    name = view_of[prompt_id]
    if name not in server["view_answered"]:
        return  # taken from ComfyUI's folder (`comfy.local_output_dir`): no GET /view to time
    answered = server["view_answered"][name]
    samples.file_ready.append(answered - success)
    samples.after_file.append(upload - max(success, answered))
    samples.view_stalled += answered - server["view_arrived"][name] > POST_JOB_PAUSE / 2


def _rows(paused: _Samples, always: _Samples, unpaused: _Samples, jobs: int) -> list[Row]:
    mid, p95 = median(paused.total), percentile(paused.total, 95)
    label = (
        f"5. End to end through the bot: `execution_success` sent -> the result's upload reaches Discord "
        f"(median of {jobs} jobs; ComfyUI's {POST_JOB_PAUSE:g} s post-job pause at most every {GC_INTERVAL:g} s)"
    )
    longest = max(paused.pauses, default=0.0)
    return [
        Row(label, ms(mid), f"<= {ms(MEDIAN_TARGET)}", verdict(mid <= MEDIAN_TARGET)),
        Row(
            "5a. ... p95 / max",
            f"{ms(p95)} / {ms(max(paused.total))}",
            f"<= {ms(P95_TARGET)}",
            verdict(p95 <= P95_TARGET),
        ),
        Row(
            "5b. ... medians: `execution_success` sent -> GET /view answered; the later of the two -> upload arrived",
            f"{ms(median(paused.file_ready))}; {ms(median(paused.after_file))} "
            f"(GET /view answers held by the pause: {paused.view_stalled} of {jobs})",
        ),
        Row(
            "5c. ... progress edits per job before the upload (median); jobs with an edit after `execution_success`",
            f"{median(paused.edits):.0f}; {paused.edited_late} of {jobs} "
            f"({STEPS[0]}-{STEPS[1]} steps x {STEP_DELAY * 1000:g} ms, edit interval 0.5 s)",
        ),
        Row(
            "5d. ... post-job pauses the fake made / longest",
            f"{len(paused.pauses)} of {jobs} / {longest * 1000:.0f} ms (both fakes in child processes)",
        ),
        Row(
            f"5e. ... the same {jobs} jobs with the pause off: median / p95 (the bot's own share)",
            f"{ms(median(unpaused.total))} / {ms(percentile(unpaused.total, 95))}; "
            f"after the file {ms(median(unpaused.after_file))} (median)",
        ),
        Row(
            f"5f. ... the same {jobs} jobs with the pause after every job (jobs over 10 s each): median / p95",
            f"{ms(median(always.total))} / {ms(percentile(always.total, 95))}; "
            f"GET /view answers held by the pause: {always.view_stalled} of {jobs} (no design avoids it)",
        ),
    ]
