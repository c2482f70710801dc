"""The job store: every field survives a restart, transitions are compare-and-set, /history and /stats add up."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from discomfy.errors import DiscomfyError
from discomfy.store import PENDING, UNFINISHED, JobRecord, JobStatus, JobStore, WorkflowStats
from discomfy.store.errors import StoreError
from discomfy.store.schema import MIGRATIONS, SCHEMA_VERSION, decode_record, encode_record

MAX_SEED = 2**64 - 1
DAY = 86400.0
NOV_23 = datetime(2026, 11, 23, tzinfo=UTC).timestamp()


def make_record(job_id: str = "job", **overrides: Any) -> JobRecord:
    values: dict[str, Any] = {
        "job_id": job_id,
        "owner_id": 111,
        "guild_id": 222,
        "channel_id": 333,
        "message_id": None,
        "workflow": "txt2img",
        "params": {"prompt": "a lighthouse", "steps": 20},
        "seed": 42,
        "prompt_id": f"prompt-{job_id}",
        "batch_id": None,
        "batch_index": None,
        "status": JobStatus.CREATED,
        "created_at": NOV_23,
    }
    values.update(overrides)
    return JobRecord(**values)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    async with await JobStore.open(tmp_path / "jobs.sqlite3") as opened:
        yield opened


# ---- round trip ---------------------------------------------------------------------------------


async def test_every_field_round_trips_through_a_restart_including_the_largest_seed(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    full = JobRecord(
        job_id="3f2a" * 8,
        owner_id=2**62 + 5,
        guild_id=2**61 + 7,
        channel_id=2**60 + 9,
        message_id=2**59 + 11,
        workflow="txt2img",
        params={"prompt": "ein Leuchtturm, 灯台 🌊", "steps": 30, "cfg": 6.5, "loras": ["a", "b"], "hires": None},
        seed=MAX_SEED,
        prompt_id="9b1c2d3e-0000-4000-8000-000000000000",
        batch_id="batch-1",
        batch_index=3,
        status=JobStatus.DONE,
        created_at=NOV_23 + 0.125,
        queued_at=NOV_23 + 1.5,
        started_at=NOV_23 + 2.25,
        finished_at=NOV_23 + 30.75,
        output_files=("data/outputs/a_00001_.png", "data/outputs/a_00002_.png"),
        error="ComfyUI ran out of memory",
        error_kind="execution_failed",
        extra_message_ids=(2**59 + 12, 2**59 + 13),
        graph={"3": {"class_type": "KSampler", "inputs": {"seed": MAX_SEED, "model": ["4", 0]}}},
    )
    sparse = make_record("sparse", guild_id=None, message_id=None, prompt_id=None, seed=0, graph=None, params={})
    async with await JobStore.open(path) as store:
        await store.add(full)
        await store.add(sparse)
        assert await store.get(full.job_id) == full
    async with await JobStore.open(path) as store:
        assert await store.get(full.job_id) == full
        assert await store.get("sparse") == sparse
        assert (await store.get(full.job_id)).seed == MAX_SEED


async def test_the_seed_is_stored_as_exact_decimal_text_not_a_signed_integer(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    async with await JobStore.open(path) as store:
        await store.add(make_record(seed=MAX_SEED))
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT seed, typeof(seed) FROM jobs").fetchone() == (str(MAX_SEED), "text")


@pytest.mark.parametrize("seed", [-1, 2**64, True, 1.5])
async def test_a_seed_outside_unsigned_64_bits_is_refused(store: JobStore, seed: Any):
    with pytest.raises(StoreError, match="seed"):
        await store.add(make_record(seed=seed))
    assert await store.get("job") is None


@given(
    seed=st.integers(min_value=0, max_value=MAX_SEED),
    params=st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        max_size=5,
    ),
)
def test_the_codec_round_trips_any_seed_and_json_params(seed: int, params: dict[str, Any]):
    record = make_record(seed=seed, params=params, extra_message_ids=(1, 2), output_files=("a.png",))
    assert decode_record(encode_record(record)) == record


async def test_a_params_value_that_is_not_json_is_refused_naming_the_field(store: JobStore):
    with pytest.raises(StoreError, match="params"):
        await store.add(make_record(params={"image": object()}))


async def test_adding_the_same_job_id_twice_is_refused_and_keeps_the_first(store: JobStore):
    await store.add(make_record(workflow="first"))
    with pytest.raises(StoreError, match="already"):
        await store.add(make_record(workflow="second"))
    assert (await store.get("job")).workflow == "first"


# ---- update and transition ----------------------------------------------------------------------


async def test_update_returns_the_record_as_stored_and_accepts_a_status_as_text(store: JobStore):
    await store.add(make_record())
    updated = await store.update("job", status="running", message_id=99, output_files=["x.png"])
    assert updated.status is JobStatus.RUNNING
    assert updated.output_files == ("x.png",)
    assert await store.get("job") == updated


async def test_update_of_an_unknown_field_is_refused_and_changes_nothing(store: JobStore):
    await store.add(make_record())
    with pytest.raises(StoreError, match="colour"):
        await store.update("job", message_id=5, colour="red")
    with pytest.raises(StoreError, match="status"):
        await store.update("job", status="exploded")
    assert await store.get("job") == make_record()


async def test_update_or_transition_of_an_unknown_job_is_refused(store: JobStore):
    with pytest.raises(StoreError, match="nope"):
        await store.update("nope", message_id=1)
    with pytest.raises(StoreError, match="nope"):
        await store.transition("nope", JobStatus.DONE)


async def test_transition_stamps_the_timestamp_of_the_status_it_enters_unless_given(store: JobStore):
    await store.add(make_record())
    queued = await store.transition("job", JobStatus.QUEUED)
    running = await store.transition("job", JobStatus.RUNNING, started_at=NOV_23 + 7)
    delivering = await store.transition("job", JobStatus.DELIVERING)
    done = await store.transition("job", JobStatus.DONE)
    assert queued.queued_at is not None
    assert queued.queued_at > NOV_23
    assert running.started_at == NOV_23 + 7
    assert delivering.finished_at is None
    assert done.finished_at is not None
    assert done.queued_at == queued.queued_at


async def test_transition_into_the_status_a_job_already_has_keeps_its_timestamp(store: JobStore):
    await store.add(make_record(status=JobStatus.RUNNING, started_at=NOV_23 + 1))
    again = await store.transition("job", JobStatus.RUNNING)
    assert again.started_at == NOV_23 + 1


async def test_transition_whose_expectation_fails_changes_nothing_and_returns_none(store: JobStore):
    await store.add(make_record(status=JobStatus.DONE))
    result = await store.transition("job", JobStatus.FAILED, expect=UNFINISHED, error="late", error_kind="lost")
    assert result is None
    assert await store.get("job") == make_record(status=JobStatus.DONE)


async def test_exactly_one_of_ten_concurrent_deliveries_wins(store: JobStore):
    await store.add(make_record(status=JobStatus.DELIVERING))
    results = await asyncio.gather(
        *(store.transition("job", JobStatus.DONE, expect={JobStatus.DELIVERING}, message_id=i) for i in range(10))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get("job") == winners[0]


async def test_fifty_concurrent_writers_leave_the_store_consistent(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"

    async def one_job(i: int, store: JobStore) -> bool:
        await store.add(make_record(f"job{i:02}", owner_id=i % 5, created_at=NOV_23 + i, seed=MAX_SEED - i))
        await store.transition(f"job{i:02}", JobStatus.QUEUED, expect={JobStatus.CREATED})
        await store.transition(f"job{i:02}", JobStatus.RUNNING, expect={JobStatus.QUEUED})
        won = await store.transition("shared", JobStatus.DONE, expect={JobStatus.DELIVERING}, extra_message_ids=(i,))
        return won is not None

    async with await JobStore.open(path) as store:
        await store.add(make_record("shared", status=JobStatus.DELIVERING, created_at=NOV_23 - 1))
        wins = await asyncio.gather(*(one_job(i, store) for i in range(50)))
    async with await JobStore.open(path) as store:
        assert wins.count(True) == 1
        assert (await store.get("shared")).extra_message_ids == (wins.index(True),)
        unfinished = await store.unfinished()
        assert [r.job_id for r in unfinished] == [f"job{i:02}" for i in range(50)]
        assert all(r.status is JobStatus.RUNNING and r.queued_at <= r.started_at for r in unfinished)
        assert [r.seed for r in unfinished] == [MAX_SEED - i for i in range(50)]
        assert await store.pending_count() == 50
        assert [await store.pending_count(owner) for owner in range(5)] == [10] * 5


async def test_a_write_cancelled_midway_leaves_the_store_usable(store: JobStore):
    for i in range(24):  # cancelled before BEGIN, mid-transaction, during COMMIT or after it
        task = asyncio.create_task(store.add(make_record(f"cancelled{i}")))
        await asyncio.sleep(i * 0.00005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await store.add(make_record("after"))
    assert (await store.get("after")).status is JobStatus.CREATED
    for i in range(24):
        stored = await store.get(f"cancelled{i}")
        assert stored is None or stored == make_record(f"cancelled{i}")


# ---- restart, meta and schema -------------------------------------------------------------------


async def test_unfinished_after_a_restart_returns_exactly_the_unfinished_jobs_oldest_first(tmp_path: Path):
    path = tmp_path / "data" / "jobs.sqlite3"
    statuses = list(JobStatus)
    async with await JobStore.open(path) as store:
        for i, status in enumerate(reversed(statuses)):
            await store.add(make_record(f"j-{status}", status=status, created_at=NOV_23 + i))
    async with await JobStore.open(path) as store:
        unfinished = await store.unfinished()
    assert {r.status for r in unfinished} == UNFINISHED
    assert [r.created_at for r in unfinished] == sorted(r.created_at for r in unfinished)
    assert len(unfinished) == len(UNFINISHED)


async def test_meta_values_survive_a_restart(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    async with await JobStore.open(path) as store:
        assert await store.get_meta("client_id") is None
        await store.set_meta("client_id", "first")
        await store.set_meta("client_id", "c0ffee")
    async with await JobStore.open(path) as store:
        assert await store.get_meta("client_id") == "c0ffee"


async def test_the_schema_version_is_recorded_and_cannot_be_set_as_meta(store: JobStore):
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert await store.get_meta("schema_version") == str(SCHEMA_VERSION)
    with pytest.raises(StoreError, match="schema_version"):
        await store.set_meta("schema_version", "99")


async def test_a_file_with_a_newer_schema_version_is_refused_saying_so(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    await (await JobStore.open(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as caught:
        await JobStore.open(path)
    assert str(path) in str(caught.value)


async def test_a_file_that_is_not_sqlite_is_refused_naming_its_path(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not a database, just some text that happens to be long enough" * 100)
    with pytest.raises(StoreError) as caught:
        await JobStore.open(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, DiscomfyError)


async def test_open_creates_the_parent_directory_and_uses_wal(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "jobs.sqlite3"
    async with JobStore(path) as store:
        await store.add(make_record())
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_close_is_idempotent_and_a_closed_store_refuses_work(tmp_path: Path):
    store = await JobStore.open(tmp_path / "jobs.sqlite3")
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.get("job")


# ---- lookups ------------------------------------------------------------------------------------


async def test_lookups_by_prompt_message_and_batch(store: JobStore):
    for i in (2, 0, 1):
        await store.add(make_record(f"b{i}", batch_id="B", batch_index=i, message_id=500, created_at=NOV_23 + i))
    await store.add(make_record("solo", message_id=600))
    await store.update("b1", extra_message_ids=(601, 602))
    assert (await store.by_prompt_id("prompt-b2")).job_id == "b2"
    assert await store.by_prompt_id("unknown") is None
    assert [r.job_id for r in await store.batch("B")] == ["b0", "b1", "b2"]
    assert [r.job_id for r in await store.by_message_id(500)] == ["b0", "b1", "b2"]
    assert [r.job_id for r in await store.by_message_id(602)] == ["b1"]
    await store.update("b1", extra_message_ids=())
    assert await store.by_message_id(602) == []


async def test_history_pages_an_owners_jobs_newest_first(store: JobStore):
    for i in range(25):
        await store.add(make_record(f"mine{i:02}", created_at=NOV_23 + i))
    await store.add(make_record("theirs", owner_id=999, created_at=NOV_23 + 100))
    first = await store.history(111)
    third = await store.history(111, limit=10, offset=20)
    assert [r.job_id for r in first] == [f"mine{i:02}" for i in range(24, 14, -1)]
    assert [r.job_id for r in third] == [f"mine{i:02}" for i in range(4, -1, -1)]
    assert await store.count_for_owner(111) == 25
    assert await store.count_for_owner(999) == 1


async def test_pending_count_counts_waiting_created_queued_and_running_per_owner(store: JobStore):
    for i, status in enumerate(JobStatus):
        await store.add(make_record(f"a{i}", owner_id=1, status=status))
    await store.add(make_record("b", owner_id=2, status=JobStatus.QUEUED))
    assert await store.pending_count(1) == len(PENDING) == 4
    assert await store.pending_count(2) == 1
    assert await store.pending_count(3) == 0
    assert await store.pending_count() == 5


# ---- stats --------------------------------------------------------------------------------------


async def test_stats_on_a_known_data_set(store: JobStore):
    day1, day2 = NOV_23 - DAY + 3600, NOV_23 + 3600
    timed = [  # (job, owner, workflow, status, error_kind, created, queued, started, finished)
        ("a", 1, "txt2img", JobStatus.DONE, None, day1, 0, 2, 12),
        ("b", 1, "txt2img", JobStatus.DONE, None, day1, 0, 4, 24),
        ("c", 2, "txt2img", JobStatus.DONE, None, day2, 0, 6, 36),
        ("d", 1, "txt2img", JobStatus.FAILED, "execution_failed", day2, 0, 1, 2),
        ("e", 3, "txt2img", JobStatus.QUEUED, None, day2, 0, None, None),
        ("f", 2, "upscale", JobStatus.LOST, "lost", day2, 0, None, None),
        ("g", 2, "upscale", JobStatus.CANCELLED, "cancelled", day2, 0, None, 5),
        ("h", 1, "upscale", JobStatus.FAILED, "execution_failed", day2, None, None, 1),
        ("old", 4, "video", JobStatus.FAILED, "rejected", day1 - 2 * DAY, 0, 1, 2),
    ]
    for job_id, owner, workflow, status, kind, created, *times in timed:
        queued, started, finished = (None if t is None else created + t for t in times)
        record = make_record(job_id, owner_id=owner, workflow=workflow, status=status, error_kind=kind)
        await store.add(replace(record, created_at=created, queued_at=queued, started_at=started, finished_at=finished))

    stats = await store.stats(since=day1 - DAY)

    assert stats.jobs_per_day == (("2026-11-22", 2), ("2026-11-23", 6))
    assert stats.total_jobs == 8
    assert stats.per_workflow == (
        WorkflowStats("txt2img", jobs=5, median_queue_wait=3.0, median_run_time=20.0, failures=1),
        WorkflowStats("upscale", jobs=3, median_queue_wait=None, median_run_time=None, failures=2),
    )
    assert stats.failures_by_reason == (("execution_failed", 2), ("lost", 1))
    assert stats.busiest_users == ((1, 4), (2, 3), (3, 1))


async def test_stats_of_an_empty_window_are_empty(store: JobStore):
    await store.add(make_record(created_at=NOV_23))
    stats = await store.stats(since=NOV_23 + 1)
    assert (stats.jobs_per_day, stats.per_workflow, stats.failures_by_reason, stats.busiest_users) == ((), (), (), ())
