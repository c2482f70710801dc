"""Persistent buttons end to end: real clicks through discord.py into the bot, real jobs on the fake ComfyUI.

Each result message is the one the presenter leaves behind (embed + `JobControls.result` components), stored in the fake
Discord; clicks carry it like Discord does, so the DynamicItems are matched from their custom_ids alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from discomfy.bot.controls import JobControls
from discomfy.job import Job, JobRequest
from discomfy.store import JobRecord, JobStatus
from discomfy.workflows import build_workflow
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

CONTROLS = JobControls()

WORKFLOW = "txt2img_sdxl"  # its checkpoint is one the fake ComfyUI has
OWNER = payloads.USER_ID
STRANGER = OWNER + 1
ADMIN = OWNER + 2
VARIATIONS = 3
PROMPT = "a lighthouse in a storm, oil painting"
NEGATIVE = "blurry"

UPSCALE_GRAPH = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {
        "class_type": "ImageScale",
        "inputs": {"image": ["1", 0], "upscale_method": "lanczos", "width": 128, "height": 128, "crop": "disabled"},
    },
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "upscaled"}},
}
UPSCALE_MAPPING = """\
title: Upscale
kind: image
graph: upscale.json
outputs: ["3"]
parameters:
  image: {node: "1", input: image, type: image, required: true, description: The image to upscale}
"""


# ---- the bot: testing/botkit.py, plus an upscale workflow the fake ComfyUI can run ---------------------------


def _workflows(tmp_path: Path) -> Path:
    """The shipped workflows and `upscale` (LoadImage -> ImageScale -> SaveImage) in one folder."""
    folder = tmp_path / "workflows"
    folder.mkdir(exist_ok=True)
    for source in WORKFLOWS.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "upscale.json").write_text(json.dumps(UPSCALE_GRAPH))
    (folder / "upscale.yaml").write_text(UPSCALE_MAPPING)
    return folder


def _start(
    tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, **limits: Any
) -> contextlib.AbstractAsyncContextManager[BotKit]:
    return start_bot(
        fake_discord,
        fake_comfy,
        tmp_path,
        workflows=_workflows(tmp_path),
        discord={"guild_ids": [payloads.GUILD_ID], "admin_user_ids": [ADMIN]},
        workflow_settings={"upscale": "upscale"},
        limits={"variations": VARIATIONS, **limits},
    )


@pytest_asyncio.fixture
async def kit(tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy) -> AsyncIterator[BotKit]:
    async with _start(tmp_path, fake_discord, fake_comfy) as started:
        yield started


# ---- helpers -------------------------------------------------------------------------------------------------


async def _settled(job: Job) -> JobRecord:
    async with asyncio.timeout(10):
        await job.settled.wait()
    return job.record


async def _result(kit: BotKit, *, upscale: bool = True) -> tuple[JobRecord, int]:
    """A finished job of OWNER and the result message carrying its buttons, as delivery leaves them."""
    request = JobRequest(
        OWNER, payloads.CHANNEL_ID, payloads.GUILD_ID, WORKFLOW, {"prompt": PROMPT, "negative": NEGATIVE}
    )
    job = await kit.jobs.submit(request)
    record = await _settled(job)
    assert record.status is JobStatus.DELIVERING, record.error
    message = kit.discord.add_message(_message(CONTROLS.result(record, upscale=upscale).to_components()))
    assert await kit.jobs.delivered(job, message_id=int(message["id"]))
    return job.record, int(message["id"])


def _message(components: list[dict[str, Any]]) -> dict[str, Any]:
    embed = {"type": "rich", "title": "Done"}
    return payloads.message(embeds=[embed], components=components, author=payloads.bot_user())


def _custom_id(fake: FakeDiscordAPI, message_id: int, action: str) -> str:
    return next(i for i in _buttons(fake, message_id) if i.startswith(f"discomfy:{action}:"))


async def _press(kit: BotKit, message_id: int, action: str, *, user_id: int = OWNER) -> dict[str, Any]:
    """Click the message's `action` button as `user_id`, as Discord would; returns the interaction payload."""
    message = kit.discord.messages[message_id]
    payload = payloads.button_click(_custom_id(kit.discord, message_id, action), message=message, user_id=user_id)
    await payloads.dispatch_and_wait(kit.bot, payload, timeout=15)
    return payload


async def _click(kit: BotKit, message_id: int, action: str, *, user_id: int = OWNER) -> dict[str, Any]:
    """Click as `_press` does; returns the interaction callback the bot sent."""
    return _callback(kit, await _press(kit, message_id, action, user_id=user_id))


def _buttons(fake: FakeDiscordAPI, message_id: int) -> list[str]:
    message = fake.messages.get(message_id) or {}
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def _callback(kit: BotKit, payload: dict[str, Any]) -> dict[str, Any]:
    return kit.callback(payload).json


def _prompts(comfy: FakeComfy) -> list[dict[str, Any]]:
    """Graphs POSTed to /prompt, oldest first."""
    return [r.json["prompt"] for r in comfy.requests_to("/prompt", "POST")]


def _ephemeral_text(answer: dict[str, Any]) -> str:
    assert answer["type"] == 4, answer
    assert answer["data"]["flags"] & FLAG_EPHEMERAL, answer
    return json.dumps(answer["data"], ensure_ascii=False)


def _seed(graph: dict[str, Any]) -> int:
    return graph["3"]["inputs"]["seed"]


def _without_seed(graph: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(graph))
    copy["3"]["inputs"].pop("seed")
    return copy


async def _jobs_of(kit: BotKit, owner_id: int) -> list[JobRecord]:
    return await kit.store.history(owner_id, limit=50)


# ---- Re-roll, Variations, Edit -------------------------------------------------------------------------------


async def test_reroll_submits_the_same_parameters_with_a_fresh_seed_owned_by_the_clicker(kit: BotKit) -> None:
    record, message_id = await _result(kit)

    click = await _press(kit, message_id, "reroll", user_id=STRANGER)

    assert _callback(kit, click)["type"] == 5  # thinking: the presenter shows the new job in this response
    first, second = _prompts(kit.comfy)
    assert _without_seed(second) == _without_seed(first)
    assert _seed(second) != _seed(first) == record.seed
    (rerolled,) = await _jobs_of(kit, STRANGER)
    assert rerolled.params == record.params
    assert rerolled.seed == _seed(second)
    assert rerolled.batch_id is None
    await kit.settle()  # the presenter delivers the new job, with buttons of its own, in the click's response
    assert f"discomfy:reroll:{rerolled.job_id}" in _buttons(kit.discord, kit.message_id(click))


async def test_the_result_of_generate_carries_buttons_that_work(kit: BotKit) -> None:
    command = await kit.command("generate", {"prompt": PROMPT}, user_id=OWNER)
    await kit.settle()
    response = kit.message_id(command)
    (record,) = await _jobs_of(kit, OWNER)
    assert f"discomfy:reroll:{record.job_id}" in _buttons(kit.discord, response)

    text = _ephemeral_text(await _click(kit, response, "info", user_id=STRANGER))
    assert record.prompt_id in text
    assert (await _click(kit, response, "reroll", user_id=STRANGER))["type"] == 5
    assert _without_seed(_prompts(kit.comfy)[-1]) == _without_seed(_prompts(kit.comfy)[0])


async def test_variations_submit_a_batch_of_the_configured_size_with_distinct_fresh_seeds(kit: BotKit) -> None:
    record, message_id = await _result(kit)

    answer = await _click(kit, message_id, "vary", user_id=STRANGER)

    assert answer["type"] == 5
    graphs = _prompts(kit.comfy)[1:]
    assert len(graphs) == VARIATIONS
    assert all(_without_seed(g) == _without_seed(_prompts(kit.comfy)[0]) for g in graphs)
    seeds = {_seed(g) for g in graphs}
    assert len(seeds) == VARIATIONS
    assert record.seed not in seeds
    jobs = await _jobs_of(kit, STRANGER)
    assert len({j.batch_id for j in jobs}) == 1
    assert jobs[0].batch_id is not None


async def test_edit_modal_is_prefilled_and_its_submission_reuses_the_seed_with_the_new_text(kit: BotKit) -> None:
    record, message_id = await _result(kit)

    answer = await _click(kit, message_id, "edit", user_id=STRANGER)

    assert answer["type"] == 9  # a modal
    modal = answer["data"]
    inputs = {row["component"]["custom_id"]: row["component"] for row in modal["components"]}
    assert inputs["prompt"]["value"] == PROMPT
    assert inputs["negative"]["value"] == NEGATIVE
    submit = payloads.modal_submit(
        modal["custom_id"], {"prompt": "a lighthouse at dawn", "negative": "fog"}, label_wrapped=True, user_id=STRANGER
    )
    await payloads.dispatch_and_wait(kit.bot, submit, timeout=15)

    assert _callback(kit, submit)["type"] == 5
    edited = _prompts(kit.comfy)[-1]
    assert _seed(edited) == record.seed
    assert edited["6"]["inputs"]["text"] == "a lighthouse at dawn"
    assert edited["7"]["inputs"]["text"] == "fog"
    (job,) = await _jobs_of(kit, STRANGER)
    assert job.seed == record.seed
    assert job.params["prompt"] == "a lighthouse at dawn"


async def test_reroll_batch_on_a_batch_message_submits_as_many_jobs_as_the_batch_had(kit: BotKit) -> None:
    request = JobRequest(OWNER, payloads.CHANNEL_ID, payloads.GUILD_ID, WORKFLOW, {"prompt": PROMPT})
    jobs = await kit.jobs.submit_batch(request, [11, 12])
    records = [await _settled(job) for job in jobs]
    message = kit.discord.add_message(_message(CONTROLS.result(records[0], upscale=True, batch=True).to_components()))
    for job in jobs:
        await kit.jobs.delivered(job, message_id=int(message["id"]))

    answer = await _click(kit, int(message["id"]), "reroll", user_id=STRANGER)

    assert answer["type"] == 5
    rerolled = await _jobs_of(kit, STRANGER)
    assert len(rerolled) == 2
    assert len({r.batch_id for r in rerolled} - {None}) == 1
    assert {r.seed for r in rerolled}.isdisjoint({11, 12})


async def test_limits_apply_to_the_clicker_and_a_refusal_is_private(
    tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy
) -> None:
    async with _start(tmp_path, fake_discord, fake_comfy, max_pending_per_user=1) as kit:
        _record, message_id = await _result(kit)
        fake_comfy.hold()
        request = JobRequest(STRANGER, payloads.CHANNEL_ID, payloads.GUILD_ID, WORKFLOW, {"prompt": "mine"})
        await kit.jobs.submit(request)
        sent = len(_prompts(fake_comfy))

        answer = await _click(kit, message_id, "vary", user_id=STRANGER)

        assert "already have 1 request" in _ephemeral_text(answer)
        assert len(_prompts(fake_comfy)) == sent
        fake_comfy.release()


# ---- Upscale --------------------------------------------------------------------------------------------------


async def test_upscale_uploads_the_result_file_and_runs_the_upscale_workflow_on_it(kit: BotKit) -> None:
    record, message_id = await _result(kit)

    answer = await _click(kit, message_id, "upscale", user_id=STRANGER)

    assert answer["type"] == 5
    assert len(kit.comfy.requests_to("/upload/image", "POST")) == 1
    graph = _prompts(kit.comfy)[-1]
    assert graph["1"]["class_type"] == "LoadImage"
    uploaded = graph["1"]["inputs"]["image"]
    assert uploaded.startswith(Path(record.output_files[0]).stem)
    read = asyncio.to_thread(Path.read_bytes, kit.comfy.input_dir / uploaded)
    assert await read == await asyncio.to_thread(Path(record.output_files[0]).read_bytes)
    (job,) = await _jobs_of(kit, STRANGER)
    assert job.workflow == "upscale"


async def test_upscale_of_a_result_whose_file_is_gone_says_so(kit: BotKit) -> None:
    record, message_id = await _result(kit)
    await asyncio.to_thread(Path(record.output_files[0]).unlink)

    answer = await _click(kit, message_id, "upscale")

    assert "no longer on the bot's disk" in _ephemeral_text(answer)
    assert not kit.comfy.requests_to("/upload/image", "POST")


def test_upscale_buttons_only_when_asked_one_per_image() -> None:
    record = JobRecord(
        job_id=uuid.uuid4().hex, owner_id=OWNER, guild_id=None, channel_id=1, message_id=None, workflow=WORKFLOW,
        params={"prompt": PROMPT}, seed=1, prompt_id=None, batch_id=None, batch_index=None, status=JobStatus.DONE,
        created_at=time.time(), output_files=("/o/a.png", "/o/b.png", "/o/c.mp4"),
    )  # fmt: skip

    def labels(view: Any) -> list[str]:
        return [item.item.label for item in view.children]

    every = ["Re-roll", "Variations", "Edit & reuse seed", "Info", "Delete"]
    assert labels(CONTROLS.result(record, upscale=False)) == every
    assert labels(CONTROLS.result(record, upscale=True))[-2:] == ["Upscale 1", "Upscale 2"]
    assert labels(CONTROLS.result(record, upscale=True, batch=True)) == ["Re-roll batch", "Info", "Delete"]
    assert labels(CONTROLS.retry(record)) == ["Retry", "Info"]
    custom_ids = [item.custom_id for item in CONTROLS.result(record, upscale=True).children]
    assert all(len(c) < 100 and c.startswith("discomfy:") and record.job_id in c for c in custom_ids)


# ---- Info and Delete -------------------------------------------------------------------------------------------


async def test_info_is_private_and_shows_prompt_id_seed_and_timings(kit: BotKit) -> None:
    record, message_id = await _result(kit)

    text = _ephemeral_text(await _click(kit, message_id, "info", user_id=STRANGER))

    for expected in (record.prompt_id, str(record.seed), record.job_id, "Run time", "Queued wait", WORKFLOW):
        assert expected in text


async def test_delete_by_someone_else_is_refused_and_the_message_stays(kit: BotKit) -> None:
    _record, message_id = await _result(kit)

    answer = await _click(kit, message_id, "delete", user_id=STRANGER)

    assert "Only <@" in _ephemeral_text(answer)
    assert message_id in kit.discord.messages
    assert not kit.discord.calls("DELETE")


@pytest.mark.parametrize("clicker", [OWNER, ADMIN])
async def test_delete_by_the_owner_or_an_admin_removes_the_message(kit: BotKit, clicker: int) -> None:
    _record, message_id = await _result(kit)

    answer = await _click(kit, message_id, "delete", user_id=clicker)

    assert answer["type"] == 6
    assert message_id in kit.discord.deleted_messages
    assert message_id not in kit.discord.messages


async def test_an_unexpected_error_in_a_button_is_logged_and_answered_privately(
    kit: BotKit, caplog: pytest.LogCaptureFixture
) -> None:
    _record, message_id = await _result(kit)
    kit.discord.fail_next("DELETE", rf"/messages/{message_id}$", 403)

    await _click(kit, message_id, "delete")

    (followup,) = kit.discord.calls("POST", r"^/webhooks/\d+/[^/]+$")
    assert followup.json["flags"] & FLAG_EPHEMERAL
    assert "Something went wrong" in json.dumps(followup.json)
    (logged,) = [r for r in caplog.records if r.name == "discomfy.bot.errors" and r.levelname == "ERROR"]
    assert logged.exc_info is not None
    assert message_id in kit.discord.messages


# ---- Cancel and Retry ------------------------------------------------------------------------------------------


async def _queued(kit: BotKit, jobs: Sequence[Job]) -> int:
    message = kit.discord.add_message(_message(CONTROLS.queued(jobs[0].job_id).to_components()))
    for job in jobs:
        await kit.jobs.attach_message(job, int(message["id"]))
    return int(message["id"])


async def test_cancel_by_the_owner_deletes_the_pending_prompt_from_comfyui(kit: BotKit) -> None:
    kit.comfy.hold()
    request = JobRequest(OWNER, payloads.CHANNEL_ID, payloads.GUILD_ID, WORKFLOW, {"prompt": PROMPT})
    job = await kit.jobs.submit(request)
    message_id = await _queued(kit, [job])
    assert kit.comfy.pending_prompt_ids == [job.record.prompt_id]

    answer = await _click(kit, message_id, "cancel")

    assert answer["type"] == 6
    assert kit.comfy.pending_prompt_ids == []
    assert any(job.record.prompt_id in r.json.get("delete", []) for r in kit.comfy.requests_to("/queue", "POST"))
    assert (await _settled(job)).status is JobStatus.CANCELLED


async def test_cancel_on_a_batch_cancels_all_its_pending_jobs_and_refuses_strangers(kit: BotKit) -> None:
    kit.comfy.hold()
    request = JobRequest(OWNER, payloads.CHANNEL_ID, payloads.GUILD_ID, WORKFLOW, {"prompt": PROMPT})
    jobs = await kit.jobs.submit_batch(request, [1, 2, 3])
    message_id = await _queued(kit, jobs)

    refusal = await _click(kit, message_id, "cancel", user_id=STRANGER)
    assert "Only <@" in _ephemeral_text(refusal)
    assert len(kit.comfy.pending_prompt_ids) == 3

    await _click(kit, message_id, "cancel")

    assert kit.comfy.pending_prompt_ids == []
    assert {(await _settled(job)).status for job in jobs} == {JobStatus.CANCELLED}


async def test_retry_of_a_lost_job_resubmits_its_exact_graph_for_the_clicker(kit: BotKit) -> None:
    built = build_workflow(kit.bot.workflows.get(WORKFLOW), {"prompt": PROMPT})
    lost = JobRecord(
        job_id=uuid.uuid4().hex, owner_id=OWNER, guild_id=payloads.GUILD_ID, channel_id=payloads.CHANNEL_ID,
        message_id=None, workflow=WORKFLOW, params=dict(built.values), seed=built.seed or 0,
        prompt_id=str(uuid.uuid4()), batch_id=None, batch_index=None, status=JobStatus.LOST, created_at=time.time(),
        error="ComfyUI restarted", error_kind="lost", graph=built.graph,
    )  # fmt: skip
    await kit.jobs.store.add(lost)
    message_id = int(kit.discord.add_message(_message(CONTROLS.retry(lost).to_components()))["id"])

    answer = await _click(kit, message_id, "retry", user_id=STRANGER)

    assert answer["type"] == 5
    assert _prompts(kit.comfy) == [built.graph]
    (retried,) = await _jobs_of(kit, STRANGER)
    assert retried.seed == lost.seed
    assert retried.job_id != lost.job_id


# ---- persistence ------------------------------------------------------------------------------------------------


async def test_buttons_work_after_a_restart_from_custom_id_and_store_alone(
    tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy
) -> None:
    async with _start(tmp_path, fake_discord, fake_comfy) as first:
        record, message_id = await _result(first)

    async with _start(tmp_path, fake_discord, fake_comfy) as restarted:  # a new process over the same store file
        assert restarted.bot is not first.bot
        info = _ephemeral_text(await _click(restarted, message_id, "info", user_id=STRANGER))
        assert record.prompt_id in info
        assert str(record.seed) in info

        assert (await _click(restarted, message_id, "reroll", user_id=STRANGER))["type"] == 5
        assert _without_seed(_prompts(fake_comfy)[-1]) == _without_seed(_prompts(fake_comfy)[0])

        await _click(restarted, message_id, "delete")
        assert message_id in fake_discord.deleted_messages


async def test_a_button_of_a_job_the_store_does_not_know_answers_privately(kit: BotKit) -> None:
    ghost = JobRecord(
        job_id=uuid.uuid4().hex, owner_id=OWNER, guild_id=None, channel_id=1, message_id=None, workflow=WORKFLOW,
        params={"prompt": PROMPT}, seed=1, prompt_id=None, batch_id=None, batch_index=None, status=JobStatus.DONE,
        created_at=time.time(),
    )  # fmt: skip
    message_id = int(kit.discord.add_message(_message(CONTROLS.result(ghost, upscale=False).to_components()))["id"])

    answer = await _click(kit, message_id, "reroll")

    assert "no longer in the bot's records" in _ephemeral_text(answer)
    assert not _prompts(kit.comfy)
