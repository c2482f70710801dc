"""Pure embed builders: what a user sees of a job, a batch, the queue, history and stats, within Discord's limits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st

from discomfy.bot.cogs.history import PAGE_SIZE
from discomfy.bot.embeds import (
    QueueRow,
    batch_embed,
    duration,
    excerpt,
    history_embed,
    info_embed,
    job_embed,
    job_title,
    jump_url,
    queue_embed,
    rejected_embed,
    stats_embed,
)
from discomfy.comfy.cache import CACHED, PARTLY_CACHED
from discomfy.comfy.errors import (
    ComfyConnectionError,
    ExecutionFailedError,
    JobCancelledError,
    JobInterruptedError,
    JobLostError,
    NodeError,
    WorkflowRejectedError,
)
from discomfy.job import JobSnapshot
from discomfy.store import JobRecord, JobStatus, SweepRecord
from discomfy.store.models import Stats, WorkflowStats
from discomfy.sweep.axes import Grid
from testing.records import job_record, workflow_spec

EMBED_TOTAL_LIMIT = 6000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048

JOB_ID = "0123abcd" + "e" * 24
PROMPT_ID = "9f8e7d6c-1111-2222-3333-444455556666"
BATCH_ID = "b47c4b47" + "0" * 24
LARGEST_SEED = 2**64 - 1


def test_a_rejection_with_many_long_node_errors_fits_in_one_embed():
    errors = tuple(
        NodeError(str(i), "KSampler", "steps", "value_bigger_than_max", "x" * 2000, "d" * 500) for i in range(30)
    )
    embed = rejected_embed(
        WorkflowRejectedError("prompt_outputs_failed_validation", "failed", "", errors), workflow="w"
    )
    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert len(embed.fields) <= 25
    assert embed.fields[-1].value.startswith("and ")


# ---- helpers -------------------------------------------------------------------------------------


def snapshot(**changes: Any) -> JobSnapshot:
    base = JobSnapshot(
        job_id=JOB_ID,
        owner_id=42,
        workflow="txt2img",
        workflow_title="Text to image",
        kind="image",
        status=JobStatus.QUEUED,
        seed=1234,
        params={"prompt": "a lighthouse at dusk"},
        prompt_id=PROMPT_ID,
        position=None,
        queue_total=None,
        node=None,
        step=None,
        steps=None,
        elapsed=7.0,
        eta=None,
        preview_version=0,
        error=None,
        files=(),
        batch_id=None,
        batch_index=None,
    )
    return replace(base, **changes)


def record(**changes: Any) -> JobRecord:
    return job_record(**{"job_id": JOB_ID, "prompt_id": PROMPT_ID, **changes})


def field(embed: discord.Embed, name: str) -> str:
    values = [f.value for f in embed.fields if f.name == name]
    assert len(values) == 1, f"expected one field {name!r}, got {[f.name for f in embed.fields]}"
    return values[0] or ""


def field_names(embed: discord.Embed) -> list[str]:
    return [f.name or "" for f in embed.fields]


def assert_fits_discord(embed: discord.Embed) -> None:
    """Discord refuses the whole message (HTTP 400) if one of these is exceeded."""
    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert len(embed.title or "") <= TITLE_LIMIT
    assert len(embed.description or "") <= DESCRIPTION_LIMIT
    assert len(embed.fields) <= FIELD_LIMIT
    for f in embed.fields:
        assert 0 < len(f.name or "") <= FIELD_NAME_LIMIT, f.name
        assert 0 < len(f.value or "") <= FIELD_VALUE_LIMIT, f.name
    assert len(embed.footer.text or "") <= FOOTER_LIMIT


# ---- duration and excerpt ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (7, "0:07"), (59.6, "1:00"), (760, "12:40"), (3723, "1:02:03"), (360_000, "100:00:00"), (-5, "0:00")],
)
def test_durations_read_as_clock_time(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_short_text_is_kept_whole_and_trimmed() -> None:
    assert excerpt("  a cat  ", 300) == "a cat"


def test_a_long_text_is_cut_to_the_limit_with_an_ellipsis() -> None:
    assert excerpt("abcdefghij", 5) == "abcd…"


def test_nothing_to_excerpt_gives_an_empty_text() -> None:
    assert excerpt(None) == ""


@given(text=st.text(max_size=400), limit=st.integers(min_value=1, max_value=300))
def test_an_excerpt_never_exceeds_its_limit_and_only_drops_the_end(text: str, limit: int) -> None:
    result = excerpt(text, limit)
    assert len(result) <= limit
    whole = text.strip()
    assert result == whole or (result.endswith("…") and whole.startswith(result[:-1]))


def test_an_excerpt_to_no_room_at_all_is_empty() -> None:
    assert len(excerpt("node 3 (KSampler): the value is above the allowed maximum", 0)) == 0


# ---- one job: title, fields, colour, footer ---------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "title"),
    [
        ({"status": JobStatus.CREATED}, "Submitting…"),
        ({"status": JobStatus.QUEUED, "position": 3, "queue_total": 7}, "Queued · #3 of 7"),
        ({"status": JobStatus.QUEUED, "position": 2, "queue_total": None}, "Queued · #2 of 2"),
        ({"status": JobStatus.QUEUED}, "Queued"),
        ({"status": JobStatus.RUNNING, "node": "KSampler (#3)"}, "Running · KSampler (#3)"),
        ({"status": JobStatus.RUNNING}, "Running"),
        ({"status": JobStatus.DELIVERING}, "Uploading results…"),
        ({"status": JobStatus.DONE}, "Done"),
        ({"status": JobStatus.FAILED, "error": str(ExecutionFailedError("3", "KSampler", "OOM", "x"))}, "Failed"),
        ({"status": JobStatus.LOST, "error": str(JobLostError(PROMPT_ID))}, "Lost"),
        ({"status": JobStatus.CANCELLED, "error": str(JobCancelledError(PROMPT_ID))}, "Cancelled"),
        ({"status": JobStatus.CANCELLED, "error": str(JobInterruptedError(PROMPT_ID, "3", "KSampler"))}, "Interrupted"),
    ],
)
def test_the_title_says_where_the_job_stands(changes: dict[str, Any], title: str) -> None:
    snap = snapshot(**changes)
    assert job_title(snap) == title
    assert job_embed(snap).title == title


def test_a_running_job_shows_a_progress_bar_with_its_steps_and_the_time_left() -> None:
    embed = job_embed(snapshot(status=JobStatus.RUNNING, node="KSampler (#3)", step=5, steps=20, eta=75.0))
    assert field(embed, "Progress") == "`▰▰▰▱▱▱▱▱▱▱▱▱ 5/20` · about 1:15 left"


def test_progress_without_an_estimate_yet_shows_no_time_left() -> None:
    embed = job_embed(snapshot(status=JobStatus.RUNNING, step=1, steps=20, eta=None))
    assert field(embed, "Progress") == "`▰▱▱▱▱▱▱▱▱▱▱▱ 1/20`"


def test_a_running_job_before_its_first_step_shows_no_progress_bar() -> None:
    embed = job_embed(snapshot(status=JobStatus.RUNNING, node="CheckpointLoaderSimple (#4)"))
    assert "Progress" not in field_names(embed)


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED])
def test_a_job_that_ended_without_a_result_says_why(status: JobStatus) -> None:
    reason = "ComfyUI failed in node 3 (KSampler): OutOfMemoryError: Allocation on device"
    embed = job_embed(snapshot(status=status, error=reason))
    assert field(embed, "Why") == reason


def test_a_job_that_succeeded_shows_no_reason() -> None:
    embed = job_embed(snapshot(status=JobStatus.DONE, error="an earlier attempt failed"))
    assert "Why" not in field_names(embed)


def test_the_seed_is_shown_as_code_the_user_can_copy_and_reuse() -> None:
    embed = job_embed(snapshot(seed=LARGEST_SEED))
    assert field(embed, "Seed") == f"`{LARGEST_SEED}`"


def test_the_workflow_and_the_requester_are_named() -> None:
    embed = job_embed(snapshot(owner_id=987654321012345678))
    assert field(embed, "Workflow") == "Text to image"
    assert field(embed, "Requested by") == "<@987654321012345678>"


def test_the_footer_carries_the_short_job_and_prompt_ids() -> None:
    assert job_embed(snapshot()).footer.text == "job 0123abcd · prompt 9f8e7d6c"


def test_the_footer_of_a_job_not_yet_given_a_prompt_id_names_only_the_job() -> None:
    assert job_embed(snapshot(prompt_id=None)).footer.text == "job 0123abcd"


@pytest.mark.parametrize(
    ("status", "colour"),
    [
        (JobStatus.QUEUED, discord.Colour.blurple()),
        (JobStatus.RUNNING, discord.Colour.gold()),
        (JobStatus.DONE, discord.Colour.green()),
        (JobStatus.FAILED, discord.Colour.red()),
        (JobStatus.LOST, discord.Colour.orange()),
        (JobStatus.CANCELLED, discord.Colour.dark_grey()),
    ],
)
def test_the_colour_follows_the_status(status: JobStatus, colour: discord.Colour) -> None:
    assert job_embed(snapshot(status=status)).colour == colour


def test_the_prompt_is_quoted_in_the_description() -> None:
    assert job_embed(snapshot()).description == ">>> a lighthouse at dusk"


def test_a_job_without_a_prompt_has_no_description() -> None:
    assert job_embed(snapshot(params={"steps": 20})).description is None


def test_a_finished_job_lists_the_parameters_it_used_in_a_fixed_order() -> None:
    params = {"prompt": "a cat", "steps": 30, "width": 1024, "height": 768, "negative": "", "cfg": 7.0, "denoise": 0}
    embed = job_embed(snapshot(status=JobStatus.DONE, params=params))
    assert field(embed, "Parameters") == "width 1024 · height 768 · steps 30 · cfg 7.0 · denoise 0"


def test_a_job_still_in_progress_lists_no_parameters() -> None:
    embed = job_embed(snapshot(status=JobStatus.RUNNING, params={"prompt": "a cat", "steps": 30}))
    assert "Parameters" not in field_names(embed)


def test_a_finished_job_says_how_long_it_took_and_one_in_progress_how_long_so_far() -> None:
    assert field(job_embed(snapshot(status=JobStatus.DONE, elapsed=65.0)), "Took") == "1:05"
    assert field(job_embed(snapshot(status=JobStatus.RUNNING, elapsed=65.0)), "Elapsed") == "1:05"


def test_a_live_preview_is_shown_from_the_preview_attachment() -> None:
    embed = job_embed(snapshot(status=JobStatus.RUNNING), preview=True)
    assert embed.image.url == "attachment://preview.jpg"


def test_a_result_image_is_shown_from_its_attachment_rather_than_the_preview() -> None:
    embed = job_embed(snapshot(status=JobStatus.DONE), preview=True, image_name="ComfyUI_00001_2.png")
    assert embed.image.url == "attachment://ComfyUI_00001_2.png"


def test_a_job_without_preview_or_result_shows_no_image() -> None:
    assert job_embed(snapshot()).image.url is None


@pytest.mark.parametrize(
    "status",
    [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELLED],
)
def test_a_job_with_every_text_at_its_longest_still_fits_in_one_embed(status: JobStatus) -> None:
    params = {
        "prompt": "p" * 6000,
        "negative": "n" * 6000,
        "sampler": "s" * 2000,
        "scheduler": "k" * 2000,
        "width": 8192,
        "height": 8192,
        "steps": 1000,
    }
    snap = snapshot(
        status=status,
        params=params,
        seed=LARGEST_SEED,
        position=9999,
        queue_total=10000,
        node="VeryLongCustomNodeClassName" * 5 + " (#12345)",
        step=999,
        steps=1000,
        eta=360_000.0,
        elapsed=360_000.0,
        error="e" * 10_000,
    )
    embed = job_embed(snap, image_name="x" * 200 + ".png")
    assert_fits_discord(embed)


# ---- a batch of seeds --------------------------------------------------------------------------------


def batch(*snaps: JobSnapshot) -> list[JobSnapshot]:
    return [replace(s, batch_id=BATCH_ID, batch_index=i, seed=11 + i) for i, s in enumerate(snaps)]


def test_a_batch_lists_every_seed_with_its_own_state() -> None:
    snaps = batch(
        snapshot(status=JobStatus.DONE),
        snapshot(status=JobStatus.RUNNING, step=3, steps=10),
        snapshot(status=JobStatus.QUEUED, position=2, queue_total=4),
        snapshot(status=JobStatus.FAILED, error="Out of memory"),
        snapshot(status=JobStatus.CANCELLED, error=str(JobInterruptedError(PROMPT_ID))),
        snapshot(status=JobStatus.CREATED),
    )
    embed = batch_embed(snaps)
    assert field(embed, "Seeds").splitlines() == [
        "` 1` seed `11` · done",
        "` 2` seed `12` · ▰▰▱▱▱▱▱▱ 3/10",
        "` 3` seed `13` · queued #2",
        "` 4` seed `14` · failed: Out of memory",
        "` 5` seed `15` · interrupted: The job was interrupted.",
        "` 6` seed `16` · submitting…",
    ]
    assert embed.title == "Batch of 6 · 1 done, 2 failed"
    assert embed.colour == discord.Colour.gold()


def test_a_batch_that_all_succeeded_is_green() -> None:
    embed = batch_embed(batch(*(snapshot(status=JobStatus.DONE) for _ in range(3))))
    assert embed.title == "Batch of 3 · 3 done"
    assert embed.colour == discord.Colour.green()


def test_a_finished_batch_with_any_failure_is_red() -> None:
    embed = batch_embed(batch(snapshot(status=JobStatus.DONE), snapshot(status=JobStatus.LOST, error="gone")))
    assert embed.title == "Batch of 2 · 1 done, 1 failed"
    assert embed.colour == discord.Colour.red()


def test_a_batch_names_its_workflow_requester_and_short_batch_id() -> None:
    embed = batch_embed(batch(snapshot(), snapshot()))
    assert field(embed, "Workflow") == "Text to image"
    assert field(embed, "Requested by") == "<@42>"
    assert embed.footer.text == "batch b47c4b47"
    assert embed.description == ">>> a lighthouse at dusk"


def test_a_batch_has_been_running_as_long_as_its_oldest_job() -> None:
    embed = batch_embed(batch(snapshot(elapsed=5.0), snapshot(elapsed=125.0), snapshot(elapsed=60.0)))
    assert field(embed, "Elapsed") == "2:05"


def test_a_batch_shows_its_contact_sheet_from_the_attachment() -> None:
    embed = batch_embed(batch(snapshot(status=JobStatus.DONE)), image_name="contact_sheet.jpg")
    assert embed.image.url == "attachment://contact_sheet.jpg"


def test_a_batch_of_25_seeds_with_long_errors_fits_in_one_embed() -> None:
    failed = snapshot(
        status=JobStatus.FAILED,
        params={"prompt": "p" * 6000},
        error="ComfyUI failed in node 3 (KSampler): " + "e" * 5000,
        elapsed=360_000.0,
    )
    snaps = [replace(s, seed=LARGEST_SEED) for s in batch(*([failed] * 25))]
    embed = batch_embed(snaps, image_name="contact_sheet.jpg")
    assert_fits_discord(embed)
    assert embed.title == "Batch of 25 · 0 done, 25 failed"


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({"status": JobStatus.DONE}, id="done"),
        pytest.param({"status": JobStatus.QUEUED, "position": 17, "queue_total": 30}, id="queued"),
        pytest.param({"status": JobStatus.RUNNING, "step": 12, "steps": 30}, id="running"),
        pytest.param(
            {"status": JobStatus.FAILED, "error": str(ComfyConnectionError("http://127.0.0.1:8188", "refused"))},
            id="unreachable",
        ),
    ],
)
def test_every_seed_of_a_25_seed_batch_is_shown_whole(state: dict[str, Any]) -> None:
    seeds = [10_000_000_000_000_000_000 + 7919 * i for i in range(25)]
    snaps = [replace(s, seed=seed) for s, seed in zip(batch(*[snapshot(**state)] * 25), seeds, strict=True)]
    embed = batch_embed(snaps)
    shown = "\n".join(f.value or "" for f in embed.fields if f.name.startswith("Seeds"))
    assert [seed for seed in seeds if f"seed `{seed}`" not in shown] == []
    assert_fits_discord(embed)


# ---- /queue ----------------------------------------------------------------------------------------


def ours(state: str, position: int | None, job_id: str = JOB_ID) -> QueueRow:
    return QueueRow(state, position, PROMPT_ID, job_id=job_id, owner_id=42, workflow="Text to image", age=7.0)


def theirs(state: str, position: int | None) -> QueueRow:
    return QueueRow(state, position, "5eed5eed-0000", client_id="cafebabe-1234", node_count=12)


def test_the_queue_counts_what_runs_and_what_waits_and_describes_each_line() -> None:
    rows = [ours("running", None), ours("waiting", 1), theirs("waiting", 2), ours("submitting", None)]
    embed = queue_embed(rows)
    assert embed.title == "Queue · 1 running, 2 waiting"
    assert embed.colour == discord.Colour.gold()
    assert (embed.description or "").splitlines() == [
        "`  ` ▶ running · job `0123abcd` · Text to image · <@42> · 0:07 old",
        "`#1` ⏳ waiting · job `0123abcd` · Text to image · <@42> · 0:07 old",
        "`#2` ⏳ waiting · prompt `5eed5eed` · not ours (another ComfyUI client `cafebabe`, 12 nodes)",
        "`  ` … submitting · job `0123abcd` · Text to image · <@42> · 0:07 old",
    ]
    footer = "3 bot job(s), 1 prompt(s) from other ComfyUI clients · pick a waiting bot job below to cancel it"
    assert embed.footer.text == footer


def test_an_empty_queue_says_nothing_runs_or_waits_and_offers_nothing_to_cancel() -> None:
    embed = queue_embed([])
    assert embed.title == "Queue · 0 running, 0 waiting"
    assert embed.description == "Nothing is running or waiting."
    assert embed.colour == discord.Colour.blurple()
    assert embed.footer.text == "0 bot job(s), 0 prompt(s) from other ComfyUI clients"


def test_a_note_about_what_was_just_done_is_shown_above_the_queue() -> None:
    embed = queue_embed([theirs("running", None)], note="Cancelled job `0123abcd`.")
    assert (embed.description or "").startswith("Cancelled job `0123abcd`.\n\n`  ` ▶ running")


def test_only_the_bots_own_waiting_jobs_can_be_cancelled_from_the_queue() -> None:
    assert ours("waiting", 1).cancellable
    assert not ours("running", None).cancellable
    assert not ours("submitting", None).cancellable
    assert not theirs("waiting", 1).cancellable
    assert not theirs("waiting", 1).ours


def test_a_queue_of_hundreds_of_prompts_fits_in_one_embed() -> None:
    rows = [ours("running", None)] + [ours("waiting", i) if i % 2 else theirs("waiting", i) for i in range(1, 500)]
    embed = queue_embed(rows, note="n" * 5000)
    assert_fits_discord(embed)
    assert embed.title == "Queue · 1 running, 499 waiting"


# ---- /history --------------------------------------------------------------------------------------


def test_jump_links_point_at_the_message_in_its_guild_channel() -> None:
    assert jump_url(record(guild_id=111, channel_id=222, message_id=333)) == "https://discord.com/channels/111/222/333"


def test_jump_links_in_direct_messages_use_the_me_guild() -> None:
    assert jump_url(record(guild_id=None, channel_id=222, message_id=333)) == "https://discord.com/channels/@me/222/333"


def test_a_job_without_a_message_has_no_jump_link() -> None:
    assert jump_url(record(message_id=None)) is None


def test_history_shows_each_job_with_its_prompt_seed_age_and_a_jump_link() -> None:
    embed = history_embed([record(seed=LARGEST_SEED)], owner_id=42, page=1, pages=3, total=11)
    assert embed.description == "Jobs of <@42> · 11 in all"
    assert field_names(embed) == ["✅ done · txt2img"]
    assert embed.fields[0].value == (
        f"> a lighthouse at dusk\nseed `{LARGEST_SEED}` · <t:1700000000:R>"
        " · [jump to message](https://discord.com/channels/111/222/333)"
    )
    assert embed.footer.text == "page 1 of 3"


def test_history_of_a_failed_job_says_why_and_one_without_message_has_no_link() -> None:
    embed = history_embed(
        [record(status=JobStatus.FAILED, error="ComfyUI is not reachable right now.", message_id=None)],
        owner_id=42,
        page=1,
        pages=1,
        total=1,
    )
    assert embed.fields[0].name == "❌ failed · txt2img"
    assert embed.fields[0].value == (
        "> a lighthouse at dusk\nseed `1234` · <t:1700000000:R> · ComfyUI is not reachable right now."
    )


def test_a_prompt_over_several_lines_stays_on_one_line_of_history() -> None:
    embed = history_embed([record(params={"prompt": "a cat\non a mat"})], owner_id=42, page=1, pages=1, total=1)
    assert (embed.fields[0].value or "").startswith("> a cat on a mat\n")


def test_a_job_without_a_prompt_says_so_in_history() -> None:
    embed = history_embed([record(params={})], owner_id=42, page=1, pages=1, total=1)
    assert (embed.fields[0].value or "").startswith("> (no prompt)\n")


def test_a_member_without_jobs_is_told_so_on_page_one_of_one() -> None:
    embed = history_embed([], owner_id=42, page=1, pages=0, total=0)
    assert embed.description == "<@42> has no jobs yet."
    assert embed.fields == []
    assert embed.footer.text == "page 1 of 1"


def test_a_full_history_page_of_the_longest_jobs_fits_in_one_embed() -> None:
    longest = record(
        owner_id=987654321012345678,
        guild_id=987654321012345678,
        channel_id=987654321012345678,
        message_id=987654321012345678,
        workflow="w" * 300,
        params={"prompt": "p" * 6000},
        seed=LARGEST_SEED,
        status=JobStatus.FAILED,
        error="e" * 10_000,
    )
    embed = history_embed([longest] * PAGE_SIZE, owner_id=987654321012345678, page=999, pages=999, total=99_999)
    assert_fits_discord(embed)


# ---- /stats ----------------------------------------------------------------------------------------


def test_stats_of_a_quiet_day_say_there_were_no_jobs() -> None:
    embed = stats_embed(Stats((), (), (), ()), days=1)
    assert embed.title == "Stats · last 1 day · 0 job(s)"
    assert embed.description == "No jobs in this period."
    assert embed.fields == []


def test_stats_show_jobs_per_day_medians_per_workflow_failure_reasons_and_busiest_users() -> None:
    stats = Stats(
        jobs_per_day=(("2026-11-22", 3), ("2026-11-23", 12)),
        per_workflow=(
            WorkflowStats("txt2img", 10, 2.5, 65.0, 2),
            WorkflowStats("upscale", 5, None, None, 0),
        ),
        failures_by_reason=(("execution_failed", 1), ("lost", 1), ("disk_full", 1)),
        busiest_users=((42, 9), (43, 6)),
    )
    embed = stats_embed(stats, days=7)
    assert embed.title == "Stats · last 7 days · 15 job(s)"
    assert field(embed, "Jobs per day (UTC)") == "```\n2026-11-22      3\n2026-11-23     12\n```"
    assert field(embed, "Per workflow").splitlines() == [
        "**txt2img** · 10 job(s) · median wait 2.5 s · median run 1:05 · 2 failed",
        "**upscale** · 5 job(s) · median wait — · median run —",
    ]
    assert field(embed, "Failures by reason").splitlines() == [
        "a node failed in ComfyUI: 1",
        "lost (ComfyUI restarted or forgot it): 1",
        "disk_full: 1",
    ]
    assert field(embed, "Busiest users").splitlines() == ["<@42> · 9 job(s)", "<@43> · 6 job(s)"]


def test_stats_without_failures_say_none() -> None:
    stats = Stats((("2026-11-23", 1),), (WorkflowStats("txt2img", 1, 1.0, 1.0, 0),), (), ((42, 1),))
    assert field(stats_embed(stats, days=1), "Failures by reason") == "None"


def test_stats_of_a_busy_year_show_the_last_31_days_and_fit_in_one_embed() -> None:
    days = tuple((f"2026-{1 + i // 28:02}-{1 + i % 28:02}", 1_000_000_000) for i in range(365))
    stats = Stats(
        jobs_per_day=days,
        per_workflow=tuple(WorkflowStats("w" * 200 + str(i), 10**9, 1e9, 1e9, 10**8) for i in range(300)),
        failures_by_reason=tuple((f"kind_{i}" + "k" * 100, 10**8) for i in range(100)),
        busiest_users=tuple((987654321012345678 + i, 10**9) for i in range(10)),
    )
    embed = stats_embed(stats, days=365)
    assert_fits_discord(embed)
    per_day = field(embed, "Jobs per day (UTC)")
    assert days[-1][0] in per_day
    assert days[-31][0] in per_day
    assert days[-32][0] not in per_day


# ---- job details (the Info button) ---------------------------------------------------------------------


def test_details_show_the_negative_prompt_the_other_parameters_and_the_timings() -> None:
    done = record(
        params={"prompt": "a cat", "negative": "blurry", "steps": 30, "sampler": "euler", "lora": None},
        queued_at=1_700_000_001.0,
        started_at=1_700_000_003.5,
        finished_at=1_700_000_068.5,
    )
    embed = info_embed(done, workflow_spec())
    assert embed.title == "Job details · done"
    assert embed.colour == discord.Colour.green()
    assert embed.description == ">>> a cat"
    assert field(embed, "Negative prompt") == "blurry"
    assert field(embed, "Parameters") == "```\nsteps: 30\nsampler: euler\n```"
    assert field(embed, "Workflow") == "Text to image (`txt2img`)"
    assert field(embed, "Seed") == "`1234`"
    assert field(embed, "Queued wait") == "2.5 s"
    assert field(embed, "Run time") == "1:05"
    assert field(embed, "Total") == "1:08"
    assert field(embed, "Ids") == f"job `{JOB_ID}`\nprompt_id `{PROMPT_ID}`"


def test_details_of_a_job_that_never_ran_show_dashes_and_its_error() -> None:
    lost = record(status=JobStatus.LOST, prompt_id=None, error="ComfyUI no longer knows this job.")
    embed = info_embed(lost, None)
    assert field(embed, "Workflow") == "`txt2img`"
    assert field(embed, "Queued wait") == "—"
    assert field(embed, "Run time") == "—"
    assert field(embed, "Error") == "ComfyUI no longer knows this job."
    assert field(embed, "Ids") == f"job `{JOB_ID}`\nprompt_id `—`"


def test_details_of_a_batch_job_list_every_seed_and_point_at_this_one() -> None:
    members = [record(job_id=f"job{i}", batch_id=BATCH_ID, batch_index=i, seed=100 + i) for i in range(3)]
    embed = info_embed(members[1], workflow_spec(), batch=members)
    assert field(embed, "Seeds") == "` 1` `100`\n` 2` `101` ◀\n` 3` `102`"
    assert field(embed, "Ids").endswith(f"batch `{BATCH_ID}` (#2 of 3)")


def test_details_of_a_job_with_every_text_at_its_longest_fit_in_one_embed() -> None:
    members = [
        record(
            job_id=f"{i:032x}",
            owner_id=987654321012345678,
            params={"prompt": "p" * 6000, "negative": "n" * 6000, "style": "s" * 6000},
            seed=LARGEST_SEED,
            batch_id=BATCH_ID,
            batch_index=i,
            status=JobStatus.FAILED,
            error="e" * 10_000,
            queued_at=1_700_000_001.0,
            started_at=1_700_000_002.0,
            finished_at=1_700_360_000.0,
        )
        for i in range(25)
    ]
    embed = info_embed(members[24], workflow_spec(title="Text to image (SDXL, two-pass hires fix)"), batch=members)
    assert_fits_discord(embed)


# ---- ComfyUI refused the workflow -------------------------------------------------------------------


def test_a_rejection_names_each_node_at_fault_and_why_in_plain_words() -> None:
    error = WorkflowRejectedError(
        "prompt_outputs_failed_validation",
        "Prompt outputs failed validation.",
        "",
        (
            NodeError("3", "KSampler", "steps", "value_bigger_than_max", "Value 5000 bigger than max", "steps: 5000"),
            NodeError("4", "CheckpointLoaderSimple", "ckpt_name", "value_not_in_list", "not in list", ""),
        ),
    )
    embed = rejected_embed(error, workflow="txt2img")
    assert embed.title == "ComfyUI refused the workflow"
    assert embed.colour == discord.Colour.red()
    assert embed.description == "Prompt outputs failed validation. Nothing was queued."
    assert [(f.name, f.value) for f in embed.fields] == [
        (
            "Node 3 (KSampler)",
            "node 3 (KSampler), input 'steps': the value is above the allowed maximum: steps: 5000",
        ),
        (
            "Node 4 (CheckpointLoaderSimple)",
            "node 4 (CheckpointLoaderSimple), input 'ckpt_name': "
            "that value is not offered by this server (a model file may not be installed)",
        ),
    ]
    assert embed.footer.text == "workflow txt2img"


def test_a_rejection_without_node_errors_still_gives_the_reason() -> None:
    error = WorkflowRejectedError("invalid_prompt", "Cannot execute because a node is missing", "MyNode", ())
    embed = rejected_embed(error, workflow="txt2img")
    assert embed.description == "Cannot execute because a node is missing (MyNode). Nothing was queued."
    assert embed.fields == []


def test_fifty_node_errors_show_twenty_and_count_the_rest() -> None:
    errors = tuple(NodeError(str(i), "KSampler", "cfg", "value_smaller_than_min", "too small", "") for i in range(50))
    embed = rejected_embed(WorkflowRejectedError("x", "failed", "", errors), workflow="w")
    assert_fits_discord(embed)
    assert field_names(embed)[:20] == [f"Node {i} (KSampler)" for i in range(20)]
    assert (embed.fields[-1].name, embed.fields[-1].value) == ("…", "and 30 more problem(s)")


def test_a_rejection_with_an_endless_message_and_fifty_long_node_errors_fits_in_one_embed() -> None:
    errors = tuple(
        NodeError(str(i) * 50, "C" * 300, "i" * 300, "custom_kind", "m" * 3000, "d" * 3000) for i in range(50)
    )
    embed = rejected_embed(WorkflowRejectedError("x", "m" * 10_000, "d" * 10_000, errors), workflow="w" * 300)
    assert_fits_discord(embed)
    assert (embed.fields[-1].value or "").startswith("and ")


# ---- a sweep (an X/Y grid) ----------------------------------------------------------------------------


def grid(x: tuple[str, tuple[Any, ...]], y: tuple[str, tuple[Any, ...]] | None = None) -> Grid:
    return Grid.of(SweepRecord(BATCH_ID, (x, y) if y else (x,)))


def test_a_sweep_names_each_cell_by_its_values_and_the_seed_they_share_once() -> None:
    sweep = grid(("cfg", (3, 4.5)), ("sampler", ("euler", "uni_pc")))
    snaps = batch(*(snapshot(status=JobStatus.DONE, seed=7) for _ in range(4)))
    embed = batch_embed([replace(s, seed=7) for s in snaps], grid=sweep)
    assert embed.title == "Sweep of 4 · cfg × sampler · 4 done"
    assert field(embed, "Cells").splitlines() == [
        "` 1` cfg 3 · sampler euler · done",
        "` 2` cfg 4.5 · sampler euler · done",
        "` 3` cfg 3 · sampler uni_pc · done",
        "` 4` cfg 4.5 · sampler uni_pc · done",
    ]
    assert field(embed, "Seed") == "`7`"


def test_a_sweep_over_seeds_names_each_cells_seed_and_marks_one_served_from_the_cache() -> None:
    sweep = grid(("steps", (10, 20)), ("seed", (11, 12)))
    cached = snapshot(status=JobStatus.DONE, cache=f"{CACHED}: nothing ran again.")
    partly = snapshot(status=JobStatus.DONE, cache=f"{PARTLY_CACHED}: CheckpointLoaderSimple #4")
    embed = batch_embed(batch(cached, partly, snapshot(status=JobStatus.RUNNING), snapshot()), grid=sweep)
    assert field(embed, "Cells").splitlines()[:2] == [
        "` 1` steps 10 · seed `11` · done, from ComfyUI's cache",
        "` 2` steps 20 · seed `12` · done",
    ]
    assert "Seed" not in field_names(embed)


def test_a_sweep_of_100_cells_with_long_errors_fits_in_one_embed_and_says_how_many_are_left_out() -> None:
    sweep = grid(("steps", tuple(range(1, 11))), ("scheduler", tuple(f"scheduler_{i:02}" for i in range(10))))
    failed = snapshot(status=JobStatus.FAILED, params={"prompt": "p" * 6000}, error="e" * 5000)
    embed = batch_embed([replace(s, seed=LARGEST_SEED) for s in batch(*([failed] * 100))], grid=sweep)
    embed.add_field(name="Not uploaded", value="n" * 1000, inline=False)  # what delivery may add
    assert_fits_discord(embed)
    shown = sum(len((f.value or "").splitlines()) for f in embed.fields if f.name.startswith("Cells"))
    assert 10 < shown < 100
    assert field(embed, "…") == f"and {100 - shown} more (Info lists every seed)"


def test_only_a_finished_job_says_what_came_from_the_cache() -> None:
    note = f"{PARTLY_CACHED}: CheckpointLoaderSimple #4, CLIPTextEncode #6"
    assert field(job_embed(snapshot(status=JobStatus.DONE, cache=note)), "Cache") == note
    assert "Cache" not in field_names(job_embed(snapshot(status=JobStatus.RUNNING, cache=note)))
    assert "Cache" not in field_names(job_embed(snapshot(status=JobStatus.DONE)))


def test_a_job_of_a_workflow_without_a_seed_shows_no_seed() -> None:
    seeded = job_embed(snapshot(status=JobStatus.DONE))
    seedless = job_embed(snapshot(status=JobStatus.DONE, seed=None))
    assert "Seed" in [f.name for f in seeded.fields]
    assert "Seed" not in [f.name for f in seedless.fields]
