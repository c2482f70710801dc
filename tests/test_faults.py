"""Fault suite: whatever breaks (the socket, ComfyUI, Discord, the bot itself), no job is ever lost.

Every scenario counts its jobs: submitted, delivered (the result files uploaded to Discord), reported (the final
message or the stored record says why it failed, was lost or cancelled) and lost (anything else at the end), and
asserts lost == 0. `pytest -s -n 0 tests/test_faults.py` prints the table (xdist workers keep -s output to
themselves); each assertion message carries its row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from discomfy.bot.embeds import PREVIEW_NAME
from discomfy.comfy import ComfyError, ComfyService, ComfySettings
from discomfy.store import JobRecord, JobStatus, JobStore
from testing import payloads
from testing.bot_process import kill, start_bot_process
from testing.botkit import CHANNEL_POST, ORIGINAL, BotKit, StrictDiscordAPI, install_models, make_config, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI, guard_loopback

pytestmark = pytest.mark.slow
SAYS_WHY = frozenset({"Failed", "Lost", "Cancelled", "Interrupted"})
MANY = {"max_pending_per_user": 25, "max_pending_total": 200}


# ---- the tally ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    """The jobs of one scenario, by how they ended."""

    scenario: str
    submitted: int
    delivered: int
    reported: int
    notes: str = ""

    @property
    def lost(self) -> int:
        return self.submitted - self.delivered - self.reported

    def row(self) -> str:
        cells = (self.scenario, self.submitted, self.delivered, self.reported, self.lost, self.notes)
        return "| " + " | ".join(str(c) for c in cells) + " |"


HEADER = "| Scenario | Submitted | Delivered | Reported (with reason) | Lost | Notes |\n|---|---|---|---|---|---|"
ROWS: list[Tally] = []


def table(rows: Sequence[Tally]) -> str:
    return "\n".join([HEADER, *(row.row() for row in rows)])


@pytest.fixture(scope="module", autouse=True)
def _print_the_table() -> Iterator[None]:
    yield
    if ROWS:
        print("\n\nFault suite\n" + table(ROWS))  # shown by pytest -s -n 0


def account(tally: Tally) -> Tally:
    """Keep the row for the final table, print it now, and fail if a job was lost."""
    ROWS.append(tally)
    print("\n" + table([tally]))
    assert tally.lost == 0, f"{tally.lost} job(s) lost\n{table([tally])}"
    return tally


def delivered_to_discord(discord: FakeDiscordAPI, record: JobRecord) -> bool:
    """The job is DONE and the message the store names carries its result files (not just a preview)."""
    message = discord.messages.get(record.message_id or 0)
    if record.status is not JobStatus.DONE or message is None:
        return False
    names = [a["filename"] for a in message.get("attachments", [])]
    return any(name != PREVIEW_NAME for name in names)


def reported_with_reason(discord: FakeDiscordAPI, record: JobRecord) -> bool:
    """The job ended badly and someone can read why: in its final embed, or in its stored record."""
    if record.status.is_unsuccessful and (record.error or "").strip():
        return True
    message = discord.messages.get(record.message_id or 0)
    embed = (message or {}).get("embeds", [{}])[0] if message and message.get("embeds") else {}
    return embed.get("title") in SAYS_WHY and any(f["name"] == "Why" for f in embed.get("fields", []))


async def tally_store(
    scenario: str, store: JobStore, discord: FakeDiscordAPI, *, expected: int | None = None, notes: str = ""
) -> Tally:
    """Count every job the bot stored; `expected` jobs were asked for (one missing from the store is lost)."""
    records = await store.history(payloads.USER_ID, limit=1000)
    delivered = sum(delivered_to_discord(discord, r) for r in records)
    reported = sum(not delivered_to_discord(discord, r) and reported_with_reason(discord, r) for r in records)
    reasons = sorted({(r.error_kind or r.status.value) for r in records if r.status.is_unsuccessful})
    note = "; ".join(filter(None, [notes, f"reasons: {', '.join(reasons)}" if reasons else ""]))
    return Tally(scenario, max(expected or 0, len(records)), delivered, reported, note)


async def settle_or_give_up(kit: BotKit, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - the scenario's budget
    """Wait for every job's final state; a job still hanging then is counted as lost, not raised here."""
    with contextlib.suppress(TimeoutError):
        await kit.settle(timeout)


async def generate_many(kit: BotKit, count: int, *, steps: int, prefix: str) -> list[dict[str, Any]]:
    """`count` /generate commands, one after another, as several users' clicks would arrive."""
    return [await kit.command("generate", {"prompt": f"{prefix} {i}", "steps": steps}) for i in range(count)]


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - the store has no change notification
            await asyncio.sleep(0.02)


# ---- the WebSocket cut at random moments ----------------------------------------------------------------


def sampler_graph(seed: int, steps: int = 4) -> dict[str, Any]:
    """The recorded weight-free shape: TestSampler -> SaveImage."""
    return {
        "3": {
            "class_type": "TestSampler",
            "inputs": {"seed": seed, "steps": steps, "width": 64, "height": 64, "delay": 0.0, "text": "fault"},
        },
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "faults/job", "images": ["3", 0]}},
    }


async def cut_sockets_at_random(fake: FakeComfy, rng: random.Random, low: float, high: float) -> int:
    """Drop every WebSocket at random moments until cancelled; returns how many cuts were made."""
    cuts = 0
    try:
        while True:
            await asyncio.sleep(rng.uniform(low, high))
            await fake.drop_websockets()
            cuts += 1
    except asyncio.CancelledError:
        return cuts


async def test_the_websocket_cut_at_random_moments_across_100_jobs_loses_none(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.003
    settings = ComfySettings(
        url=fake_comfy.url,
        request_timeout=5.0,
        reconnect_min_delay=0.02,
        reconnect_max_delay=0.1,
        watchdog_interval=0.5,
        queue_refresh_delay=0.01,
        download_dir=tmp_path / "downloads",
    )
    async with ComfyService(settings) as service:
        assert await service.wait_connected(5)
        chaos = asyncio.create_task(cut_sockets_at_random(fake_comfy, random.Random(100), 0.01, 0.12))
        jobs = await asyncio.gather(*(service.submit(sampler_graph(seed)) for seed in range(100)))
        outcomes = await asyncio.gather(*(_outcome(job, 60.0) for job in jobs))
        chaos.cancel()
        cuts = await chaos
    delivered = outcomes.count("delivered")
    reported = sum(o.startswith("reported") for o in outcomes)
    reasons = sorted({o.split(":", 1)[1] for o in outcomes if o.startswith("reported")})
    notes = f"ComfyService, seeded; {cuts} cuts, {fake_comfy.ws_connections} sockets opened"
    notes += f"; reasons: {', '.join(reasons)}" if reasons else ""
    account(Tally("WebSocket cut at random moments (100 jobs)", len(jobs), delivered, reported, notes))
    assert delivered == 100  # the server kept every result: each one is recovered from its history


async def _outcome(job: Any, timeout: float) -> str:  # noqa: ASYNC109 - a job's budget
    try:
        async with asyncio.timeout(timeout):
            result = await job.result()
    except ComfyError as exc:
        return f"reported:{type(exc).__name__}" if str(exc).strip() else "lost"
    except TimeoutError:
        return "lost"
    ok = result.files and all(f.path.is_file() and f.path.stat().st_size > 0 for f in result.files)
    return "delivered" if ok else "lost"


async def test_the_websocket_cut_at_random_moments_under_the_bot_loses_no_job(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.03
    comfy = {"watchdog_interval": 1.0, "reconnect_max_delay": 1.0}
    async with start_bot(fake_discord, fake_comfy, tmp_path, comfy_settings=comfy, limits=MANY) as kit:
        chaos = asyncio.create_task(cut_sockets_at_random(fake_comfy, random.Random(10), 0.2, 0.8))
        await generate_many(kit, 10, steps=6, prefix="a lighthouse in a storm")
        await settle_or_give_up(kit, 45)
        chaos.cancel()
        cuts = await chaos
        tally = await tally_store(
            "WebSocket cut at random moments (bot, 10 jobs)", kit.store, fake_discord, expected=10, notes=f"{cuts} cuts"
        )
    account(tally)
    assert tally.delivered == 10


# ---- ComfyUI restarted with jobs queued -----------------------------------------------------------------


async def test_comfyui_restarted_with_jobs_queued_reports_each_one_lost_with_the_reason(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.05
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits=MANY) as kit:
        sent = await generate_many(kit, 6, steps=40, prefix="a harbour at night")
        await fake_comfy.wait_running(timeout=10)
        await fake_comfy.wait_until(lambda: len(fake_comfy.pending_prompt_ids) == 5)
        await fake_comfy.restart(downtime=0.3)  # the running job and the five queued ones vanish
        await settle_or_give_up(kit, 30)
        titles = [kit.message(p)["embeds"][0]["title"] for p in sent]
        reasons = [(await kit.records(p))[0].error or "" for p in sent]
        tally = await tally_store("ComfyUI restarted with 1 running + 5 queued", kit.store, fake_discord, expected=6)
    account(tally)
    assert titles == ["Lost"] * 6
    assert all("restarted" in reason for reason in reasons), reasons


# ---- Discord answering 429 and 5xx ---------------------------------------------------------------------


@pytest_asyncio.fixture
async def strict_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StrictDiscordAPI]:
    guard_loopback(monkeypatch)
    async with StrictDiscordAPI() as fake:
        fake.install(monkeypatch)
        yield fake


async def test_discord_answering_429_and_500_to_edits_and_uploads_loses_no_result(
    strict_discord: StrictDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.03
    injected = lambda: [r.status for r in strict_discord.requests if r.injected]  # noqa: E731
    async with start_bot(strict_discord, fake_comfy, tmp_path, limits=MANY) as kit:
        fake_comfy.hold()
        strict_discord.fail_next("PATCH", ORIGINAL, 429, retry_after=0.3)  # the first job's first state
        await generate_many(kit, 5, steps=8, prefix="a fox in the snow")
        strict_discord.fail_next("PATCH", ORIGINAL, 500)  # a progress edit
        strict_discord.fail_next_upload(429, retry_after=0.3)  # the first result
        fake_comfy.release()
        # One fault at a time, each on a later request than the last (a stack of them on one request would only
        # measure discord.py's own retry schedule).
        for status, upload in ((500, True), (503, False), (429, False), (500, True)):
            count = len(injected())
            await strict_discord.wait_for(lambda c=count: len(injected()) > c or len(results(strict_discord)) >= 5, 20)
            if upload:
                strict_discord.fail_next_upload(status, retry_after=0.3)
            else:
                strict_discord.fail_next("PATCH", ORIGINAL, status, retry_after=0.3)
        await settle_or_give_up(kit, 60)
        seen = injected()
        notes = f"injected: {seen.count(429)}x 429, {seen.count(500)}x 500, {seen.count(503)}x 503"
        tally = await tally_store(
            "Discord 429/500/503 on edits and uploads", kit.store, strict_discord, expected=5, notes=notes
        )
    account(tally)
    assert len(seen) >= 5
    assert tally.delivered == 5


# ---- the job's message deleted mid-job ------------------------------------------------------------------


async def test_a_job_message_deleted_while_queued_running_or_uploading_still_gets_the_result(
    strict_discord: StrictDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.03
    async with start_bot(strict_discord, fake_comfy, tmp_path, limits=MANY) as kit:
        fake_comfy.hold()
        uploading, running, queued = await generate_many(kit, 3, steps=10, prefix="a bridge in fog")  # run in order
        for payload in (uploading, running, queued):
            await strict_discord.wait_for(lambda p=payload: kit.original_edits(p), timeout=5)
        originals = {kit.message_id(p) for p in (uploading, running, queued)}
        strict_discord.fail_next_upload(429, retry_after=1.0)  # the first result upload waits a second...
        strict_discord.fail_next("POST", CHANNEL_POST, 429, retry_after=0.2)  # the replacement posts: throttled
        strict_discord.fail_next("POST", CHANNEL_POST, 500)  # and refused once
        strict_discord.delete_message(payloads.CHANNEL_ID, kit.message_id(queued))
        fake_comfy.release()

        (record,) = await kit.records(running)
        await fake_comfy.wait_running(record.prompt_id, timeout=10)
        strict_discord.delete_message(payloads.CHANNEL_ID, kit.message_id(running))
        await strict_discord.wait_for(lambda: any(r.injected and r.files for r in strict_discord.requests), 10)
        strict_discord.delete_message(payloads.CHANNEL_ID, kit.message_id(uploading))  # ...and meanwhile it goes
        await settle_or_give_up(kit, 30)
        moved = [r.message_id not in originals for r in await kit.store.history(payloads.USER_ID)]
        tally = await tally_store(
            "Job message deleted (queued / running / while its upload waits out a 429)",
            kit.store,
            strict_discord,
            expected=3,
            notes=f"{len(strict_discord.deleted_messages)} messages deleted; replacement posts met a 429 and a 500",
        )
    account(tally)
    assert moved == [True] * 3  # every result went into a new message, which the store now names
    assert strict_discord.pending_faults == 0
    assert tally.delivered == 3


# ---- the bot killed and restarted mid-queue -------------------------------------------------------------


def results(discord: FakeDiscordAPI) -> list[Any]:
    """Answered requests that carried a result file (live previews are `preview.jpg`)."""
    return [r for r in discord.requests if r.status == 200 and any(f.filename != PREVIEW_NAME for f in r.files)]


def _result_messages(discord: FakeDiscordAPI, record: JobRecord) -> list[int]:
    """Messages (still there) carrying this job's result file."""
    names = {Path(name).name for name in record.output_files}
    return [mid for mid, m in discord.messages.items() if any(a["filename"] in names for a in m.get("attachments", []))]


async def test_the_bot_killed_mid_queue_and_restarted_delivers_every_job_once(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    install_models(fake_comfy)
    fake_comfy.step_delay = 0.04
    make_config(tmp_path, fake_comfy.url, limits=MANY)
    config = tmp_path / "config.yaml"
    sent = [payloads.slash_command("generate", {"prompt": f"a castle {i}", "steps": 12}) for i in range(5)]
    first = await start_bot_process(config, fake_discord.api_base, sent)
    try:
        await fake_comfy.wait_until(lambda: fake_comfy.prompts_accepted == 5, timeout=30)
        await fake_comfy.wait_running(timeout=10)
    finally:
        await kill(first)  # SIGKILL: one job running, four queued, nothing flushed
    await asyncio.sleep(0.5)  # ComfyUI goes on meanwhile; the running job may finish while the bot is down
    second = await start_bot_process(config, fake_discord.api_base)
    try:
        async with JobStore(tmp_path / "discomfy.sqlite3") as store:
            await until(lambda: _all_final(store), 40)
        await asyncio.sleep(1.0)  # room for a wrong second delivery to show up
    finally:
        await kill(second)
    async with JobStore(tmp_path / "discomfy.sqlite3") as store:
        records = await store.history(payloads.USER_ID, limit=100)
        tally = await tally_store("Bot SIGKILLed mid-queue and restarted", store, fake_discord, expected=5)
    twice = [r.job_id[:8] for r in records if len(_result_messages(fake_discord, r)) > 1]
    account(
        Tally(
            tally.scenario,
            tally.submitted,
            tally.delivered,
            tally.reported,
            f"1 running + 4 queued at the kill; delivered twice: {len(twice)}",
        )
    )
    assert twice == []
    assert tally.delivered == 5


async def _all_final(store: JobStore) -> bool:
    records = await store.history(payloads.USER_ID, limit=100)
    return len(records) == 5 and all(r.status is JobStatus.DONE or r.status.is_unsuccessful for r in records)


# ---- ComfyUI slow to answer -----------------------------------------------------------------------------


async def test_comfyui_slower_than_usual_but_within_the_timeout_still_delivers(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.01
    async with start_bot(
        fake_discord, fake_comfy, tmp_path, comfy_settings={"request_timeout": 0.5}, limits=MANY
    ) as kit:
        fake_comfy.stall(0.25)  # every HTTP answer 0.25 s late: under the 0.5 s request timeout
        await generate_many(kit, 3, steps=3, prefix="a slow lighthouse")
        await settle_or_give_up(kit, 40)
        tally = await tally_store("ComfyUI answers 0.25 s late (timeout 0.5 s)", kit.store, fake_discord, expected=3)
    account(tally)
    assert tally.delivered == 3


async def test_comfyui_slower_than_the_timeout_for_a_while_ends_in_delivery_or_a_clear_failure(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.01
    async with start_bot(
        fake_discord, fake_comfy, tmp_path, comfy_settings={"request_timeout": 0.5}, limits=MANY
    ) as kit:
        fake_comfy.stall(1.0)  # over the timeout: submissions time out and are retried

        async def recover() -> None:
            await asyncio.sleep(1.5)
            fake_comfy.stall(0)

        recovery = asyncio.create_task(recover())
        await asyncio.gather(*(kit.command("generate", {"prompt": f"a storm {i}", "steps": 2}) for i in range(3)))
        await recovery
        await settle_or_give_up(kit, 40)
        tally = await tally_store(
            "ComfyUI 1 s late for 1.5 s (timeout 0.5 s)",
            kit.store,
            fake_discord,
            expected=3,
            notes=f"{fake_comfy.prompts_received} POST /prompt received",
        )
    account(tally)


async def test_comfyui_slower_than_the_timeout_throughout_fails_clearly_and_recovers_after(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.step_delay = 0.01
    async with start_bot(
        fake_discord, fake_comfy, tmp_path, comfy_settings={"request_timeout": 0.5}, limits=MANY
    ) as kit:
        fake_comfy.stall(1.0)
        started = time.monotonic()
        slow = await asyncio.gather(
            *(kit.command("generate", {"prompt": f"a flood {i}", "steps": 2}) for i in range(2))
        )
        waited = time.monotonic() - started
        fake_comfy.stall(0)
        await settle_or_give_up(kit, 30)
        said = [json.dumps(kit.message(p)["embeds"]) for p in slow]
        after = await kit.command("generate", {"prompt": "the sky clears", "steps": 2})
        await settle_or_give_up(kit, 30)
        tally = await tally_store(
            "ComfyUI 1 s late throughout the submit (timeout 0.5 s)",
            kit.store,
            fake_discord,
            expected=3,
            notes=f"refused after {waited:.0f} s of retries, then 1 more job",
        )
    account(tally)
    assert all("ComfyUI is not reachable" in text for text in said), said
    assert kit.message(after)["embeds"][0]["title"] == "Done"
