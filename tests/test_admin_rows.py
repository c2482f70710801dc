"""/queue's rows: ComfyUI's queue merged with the bot's own jobs, built without a server or a bot."""

from __future__ import annotations

import pytest

from discomfy.bot.cogs.admin import build_queue_rows
from discomfy.bot.embeds import QueueRow, queue_embed
from discomfy.comfy.models import QueueEntry, QueueState
from discomfy.job import Job
from discomfy.store import JobStatus
from testing.records import job_record, workflow_spec

NOW = 1_700_000_100.0
BOT_CLIENT = "b0b0b0b0-client"
OTHER_CLIENT = "cafebabe-client"


def job(name: str, status: JobStatus = JobStatus.QUEUED, *, created_at: float = NOW - 30, titled: bool = False) -> Job:
    """A bot job whose job id is `job-<name>` and prompt id `prompt-<name>`."""
    record = job_record(
        job_id=f"job-{name}",
        prompt_id=f"prompt-{name}",
        params={"prompt": "a cat"},
        status=status,
        created_at=created_at,
    )
    return Job(record, spec=workflow_spec() if titled else None, handle=None)


def entry(number: int, name: str, *, client: str | None = BOT_CLIENT, nodes: int = 7) -> QueueEntry:
    return QueueEntry(number=number, prompt_id=f"prompt-{name}", client_id=client, node_count=nodes)


def queue(running: tuple[QueueEntry, ...] = (), pending: tuple[QueueEntry, ...] = ()) -> QueueState:
    return QueueState(running=running, pending=pending)


def summary(rows: list[QueueRow]) -> list[tuple[str, int | None, str | None, bool]]:
    return [(row.state, row.position, row.prompt_id, row.ours) for row in rows]


def test_running_prompts_come_first_then_waiting_ones_numbered_from_one() -> None:
    state = queue(
        running=(entry(5, "a"),),
        pending=(entry(6, "b"), entry(7, "x", client=OTHER_CLIENT), entry(9, "c")),
    )
    jobs = [job("c"), job("a", JobStatus.RUNNING), job("b")]
    rows = build_queue_rows(state, jobs, now=NOW)
    assert summary(rows) == [
        ("running", None, "prompt-a", True),
        ("waiting", 1, "prompt-b", True),
        ("waiting", 2, "prompt-x", False),
        ("waiting", 3, "prompt-c", True),
    ]


def test_a_prompt_from_another_client_is_not_ours_and_names_its_client_and_size() -> None:
    state = queue(pending=(entry(1, "x", client=OTHER_CLIENT, nodes=31),))
    (row,) = build_queue_rows(state, [], now=NOW)
    assert row == QueueRow("waiting", 1, "prompt-x", client_id=OTHER_CLIENT, node_count=31)
    assert not row.ours
    assert not row.cancellable


def test_a_bot_job_in_comfyuis_queue_carries_its_job_owner_workflow_and_age() -> None:
    state = queue(pending=(entry(1, "a"),))
    (row,) = build_queue_rows(state, [job("a", created_at=NOW - 75)], now=NOW)
    assert row == QueueRow("waiting", 1, "prompt-a", job_id="job-a", owner_id=42, workflow="txt2img", age=75.0)
    assert row.ours
    assert row.cancellable


def test_a_bot_job_shows_its_workflows_title_when_the_workflow_is_loaded() -> None:
    (row,) = build_queue_rows(queue(running=(entry(1, "a"),)), [job("a", titled=True)], now=NOW)
    assert row.workflow == "Text to image"


def test_a_job_comfyui_already_runs_is_shown_running_before_the_bot_has_recorded_the_start() -> None:
    (row,) = build_queue_rows(queue(running=(entry(1, "a"),)), [job("a", JobStatus.QUEUED)], now=NOW)
    assert (row.state, row.position, row.ours) == ("running", None, True)
    assert not row.cancellable


@pytest.mark.parametrize(
    ("status", "shown"),
    [(JobStatus.CREATED, "submitting"), (JobStatus.DELIVERING, "uploading"), (JobStatus.RUNNING, "finishing")],
)
def test_a_bot_job_missing_from_comfyuis_queue_says_what_the_bot_is_doing_with_it(
    status: JobStatus, shown: str
) -> None:
    (row,) = build_queue_rows(queue(), [job("a", status)], now=NOW)
    assert (row.state, row.position, row.job_id) == (shown, None, "job-a")
    assert not row.cancellable


def test_bot_jobs_missing_from_comfyuis_queue_come_after_it_in_the_order_given() -> None:
    state = queue(running=(entry(1, "x", client=OTHER_CLIENT),), pending=(entry(2, "b"),))
    jobs = [job("new", JobStatus.CREATED), job("b"), job("done", JobStatus.DELIVERING)]
    rows = build_queue_rows(state, jobs, now=NOW)
    assert summary(rows) == [
        ("running", None, "prompt-x", False),
        ("waiting", 1, "prompt-b", True),
        ("submitting", None, "prompt-new", True),
        ("uploading", None, "prompt-done", True),
    ]


def test_an_age_is_never_negative_when_the_clock_is_behind_the_record() -> None:
    (row,) = build_queue_rows(queue(), [job("a", JobStatus.CREATED, created_at=NOW + 5)], now=NOW)
    assert row.age == 0.0


def test_nothing_running_and_no_bot_jobs_gives_no_rows() -> None:
    assert build_queue_rows(queue(), [], now=NOW) == []


def test_each_row_becomes_one_line_of_the_queue_embed() -> None:
    state = queue(running=(entry(1, "a"),), pending=(entry(2, "x", client=OTHER_CLIENT, nodes=12),))
    rows = build_queue_rows(state, [job("a", JobStatus.RUNNING, created_at=NOW - 65)], now=NOW)
    embed = queue_embed(rows)
    assert embed.title == "Queue · 1 running, 1 waiting"
    assert (embed.description or "").splitlines() == [
        "`  ` ▶ running · job `job-a` · txt2img · <@42> · 1:05 old",
        "`#1` ⏳ waiting · prompt `prompt-x` · not ours (another ComfyUI client `cafebabe`, 12 nodes)",
    ]
