"""/sweep end to end: real payloads through discord.py, real jobs on the fake ComfyUI, one message per grid."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from PIL import Image, ImageChops

from discomfy.media.xy_grid import AxisText, build_xy_grid, render_label
from discomfy.store import JobRecord, JobStatus
from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

DEFERRED = 5
IMMEDIATE = 4
PROMPT = "a lighthouse at dusk"
OWNER = payloads.USER_ID
STRANGER = OWNER + 1


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits={"max_sweep_cells": 8}) as kit:
        yield kit


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def refusal(kit: BotKit, payload: dict[str, Any]) -> str:
    callback = kit.callback(payload).json
    assert callback["type"] == IMMEDIATE
    assert callback["data"]["flags"] & FLAG_EPHEMERAL
    return callback["data"]["embeds"][0]["description"]


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components", []) for c in row["components"]]


def graphs(comfy: FakeComfy) -> list[dict[str, Any]]:
    return [r.json["prompt"] for r in comfy.requests_to("/prompt", "POST")]


async def sweep(kit: BotKit, **options: Any) -> dict[str, Any]:
    return await kit.command("sweep", {"prompt": PROMPT, **options})


async def test_a_sweep_delivers_one_message_with_the_xy_grid_every_cell_and_its_controls(
    kit: BotKit, tmp_path: Path
) -> None:
    payload = await sweep(kit, x="cfg", x_values="3,5,7", y="seed", y_values="2", seed="100", settings="steps=3")
    assert kit.callback(payload).json["type"] == DEFERRED
    await kit.settle()

    records = await kit.records(payload)
    assert [(r.params["cfg"], r.seed) for r in records] == [(3, 100), (5, 100), (7, 100), (3, 101), (5, 101), (7, 101)]
    assert {r.status for r in records} == {JobStatus.DONE}
    assert len({r.batch_id for r in records}) == 1
    assert all(r.params["steps"] == 3 for r in records)
    sent = graphs(kit.comfy)
    assert [(g["3"]["inputs"]["cfg"], g["3"]["inputs"]["seed"]) for g in sent] == [
        (r.params["cfg"], r.seed) for r in records
    ]

    message = kit.message(payload)
    names = [a["filename"] for a in message["attachments"]]
    assert names[0] == "xy_grid.png"
    assert sorted(names[1:]) == sorted(Path(r.output_files[0]).name for r in records)
    embed = message["embeds"][0]
    assert embed["title"] == "Sweep of 6 · cfg × seed · 6 done"
    assert embed["image"]["url"] == message["attachments"][0]["url"]
    assert "` 2` cfg 5 · seed `100` · done" in fields(embed)["Cells"]
    uploaded = next(f for f in kit.original_edits(payload)[-1].files if f.filename == "xy_grid.png")
    with Image.open(io.BytesIO(uploaded.data)) as image:
        posted = image.convert("RGB")
    cells = [Path(r.output_files[0]) for r in records]
    axes = AxisText("cfg", ("3", "5", "7")), AxisText("seed", ("100", "101"))
    expected = await build_xy_grid(cells, *axes, tmp_path / "expected.png", ffmpeg=None)
    assert posted.size == expected.size
    for label in expected.labels:  # the posted grid has every axis name and value where this layout puts it
        drawn = posted.crop(label.box)
        assert ImageChops.difference(drawn, render_label(label.text, expected.font_size)).getbbox() is None
    assert [label.text for label in expected.labels] == ["cfg", "3", "5", "7", "seed", "100", "101"]
    (resweep, info, delete, cells) = components(message)
    assert resweep["custom_id"] == f"discomfy:resweep:{records[0].job_id}"
    assert (info["custom_id"], delete["custom_id"]) == (
        f"discomfy:info:{records[0].job_id}",
        f"discomfy:delete:{records[0].job_id}",
    )
    assert cells["custom_id"] == f"discomfy:cell:{records[0].job_id}:0"
    assert [o["label"] for o in cells["options"]][:2] == ["1. cfg 3 · seed 100", "2. cfg 5 · seed 100"]


async def test_the_message_follows_every_cell_while_the_sweep_runs(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await sweep(kit, x="sampler", x_values="euler, uni_pc", settings="steps=2")
    queued = kit.original_edits(payload)[-1].json["embeds"][0]
    assert queued["title"] == "Sweep of 2 · sampler · 0 done"
    first, second = fields(queued)["Cells"].splitlines()
    assert first.startswith("` 1` sampler euler · queued")
    assert second.startswith("` 2` sampler uni_pc · queued")
    assert fields(queued)["Seed"].strip("`").isdigit()  # the one seed every cell shares
    kit.comfy.release()
    await kit.settle()
    records = await kit.records(payload)
    assert len({r.seed for r in records}) == 1  # the cells differ only in what is swept
    assert [g["3"]["inputs"]["sampler_name"] for g in graphs(kit.comfy)] == ["euler", "uni_pc"]


async def test_a_grid_over_the_cap_is_refused_privately_with_the_size_asked_and_the_cap(kit: BotKit) -> None:
    payload = await sweep(kit, x="cfg", x_values="1..5", y="seed", y_values="2")
    assert refusal(kit, payload) == ("This sweep has 10 cells; at most 8 are allowed here (limits.max_sweep_cells).")
    assert graphs(kit.comfy) == []


async def test_a_bad_value_is_refused_naming_the_parameter_and_its_limits(kit: BotKit) -> None:
    payload = await sweep(kit, x="cfg", x_values="3,20")
    assert refusal(kit, payload) == "cfg must be a number from 1 to 15 (got 20)."
    payload = await sweep(kit, x="steps", x_values="10,20", y="sampler", y_values="euler,warp")
    assert "sampler must be one of: dpmpp_2m, dpmpp_2m_sde, dpmpp_sde, euler, euler_ancestral, uni_pc" in refusal(
        kit, payload
    )
    payload = await sweep(kit, x="prompt", x_values="a,b")
    assert "A sweep can vary: seed, width, height" in refusal(kit, payload)
    payload = await sweep(kit, x="cfg", x_values="3,5", settings="cfg=4")
    assert "`cfg` is swept by the grid" in refusal(kit, payload)
    assert graphs(kit.comfy) == []


async def test_a_sweep_counts_as_one_request_against_the_users_limits(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    limits = {"max_sweep_cells": 8, "max_pending_per_user": 1, "max_pending_total": 6}
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits=limits) as kit:
        kit.comfy.hold()
        first = await sweep(kit, x="cfg", x_values="3,5,7,9")
        assert len(await kit.records(first)) == 4
        second = await sweep(kit, x="cfg", x_values="3,5")
        assert "You already have 1 request(s) waiting (at most 1)" in refusal(kit, second)
        third = await sweep(kit, x="cfg", x_values="3,5,7", user_id=STRANGER)
        assert "The queue is full (4 jobs waiting, at most 6)" in refusal(kit, third)
        kit.comfy.release()
        await kit.settle()


# ---- the controls -------------------------------------------------------------------------------------


async def _swept(kit: BotKit, **options: Any) -> tuple[list[JobRecord], int]:
    payload = await sweep(kit, **options)
    await kit.settle()
    return await kit.records(payload), kit.message_id(payload)


async def _use(kit: BotKit, message_id: int, cell: int, *, user_id: int = STRANGER) -> dict[str, Any]:
    message = kit.discord.messages[message_id]
    select = next(c for c in components(message) if c["custom_id"].startswith("discomfy:cell:"))
    payload = payloads.select(select["custom_id"], [str(cell)], message=message, user_id=user_id)
    await payloads.dispatch_and_wait(kit.bot, payload, timeout=15)
    return payload


async def test_use_a_cell_starts_a_generate_with_exactly_that_cells_values_and_seed(kit: BotKit) -> None:
    records, message_id = await _swept(kit, x="cfg", x_values="3,5", y="sampler", y_values="euler,uni_pc")
    cell = records[3]
    payload = await _use(kit, message_id, 3)
    assert kit.callback(payload).json["type"] == DEFERRED
    await kit.settle()

    (used,) = await kit.store.history(STRANGER)
    assert (used.params, used.seed, used.batch_id) == (cell.params, cell.seed, None)
    assert graphs(kit.comfy)[-1] == cell.graph
    result = kit.message(payload)
    assert result["embeds"][0]["title"] == "Done"
    assert f"discomfy:reroll:{used.job_id}" in [c["custom_id"] for c in components(result)]


async def test_rerun_makes_the_same_grid_with_new_seeds_for_the_clicker(kit: BotKit) -> None:
    records, message_id = await _swept(kit, x="steps", x_values="2,3", y="seed", y_values="2", seed="10")
    message = kit.discord.messages[message_id]
    payload = payloads.button_click(f"discomfy:resweep:{records[0].job_id}", message=message, user_id=STRANGER)
    await payloads.dispatch_and_wait(kit.bot, payload, timeout=15)
    await kit.settle()

    again = await kit.records(payload)
    assert [r.owner_id for r in again] == [STRANGER] * 4
    assert [r.params["steps"] for r in again] == [2, 3, 2, 3]
    assert again[0].seed == again[1].seed != again[2].seed == again[3].seed
    assert {r.seed for r in again}.isdisjoint({10, 11})
    assert kit.message(payload)["embeds"][0]["title"] == "Sweep of 4 · steps × seed · 4 done"


async def test_a_sweep_in_progress_is_delivered_as_a_grid_after_a_restart_and_its_controls_work(
    kit: BotKit,
) -> None:
    kit.comfy.hold()
    payload = await sweep(kit, x="cfg", x_values="2,4", y="scheduler", y_values="karras,normal")
    kit = await kit.restart()
    kit.comfy.release()
    await kit.settle()

    message = kit.message(payload)
    assert message["attachments"][0]["filename"] == "xy_grid.png"
    assert message["embeds"][0]["title"] == "Sweep of 4 · cfg × scheduler · 4 done"
    records = await kit.records(payload)
    kit = await kit.restart()
    used = await _use(kit, kit.message_id(payload), 1, user_id=OWNER)
    await kit.settle()
    (single,) = await kit.records(used)
    assert (single.params["cfg"], single.params["scheduler"], single.seed) == (4, "karras", records[1].seed)


# ---- served from ComfyUI's cache ----------------------------------------------------------------------


async def test_an_identical_resubmission_says_it_was_served_from_comfyuis_cache(kit: BotKit) -> None:
    first = await kit.command("generate", {"prompt": PROMPT, "seed": "5", "steps": 3})
    await kit.settle()
    assert "Cache" not in fields(kit.message(first)["embeds"][0])  # nothing was cached yet
    again = await kit.command("generate", {"prompt": PROMPT, "seed": "5", "steps": 3})
    await kit.settle()

    embed = kit.message(again)["embeds"][0]
    assert fields(embed)["Cache"] == "Served from ComfyUI's cache: nothing ran again."
    other = await kit.command("generate", {"prompt": PROMPT, "seed": "6", "steps": 3})
    await kit.settle()
    partly = fields(kit.message(other)["embeds"][0])["Cache"]
    assert partly.startswith("Partly served from ComfyUI's cache: ")
    assert "CheckpointLoaderSimple #4" in partly
    assert "CLIPTextEncode #6" in partly
    assert "KSampler" not in partly


async def test_the_cache_line_is_kept_with_the_job_and_shown_after_a_restart(kit: BotKit) -> None:
    await kit.command("generate", {"prompt": PROMPT, "seed": "5", "steps": 3})
    await kit.settle()
    kit.comfy.hold()
    again = await kit.command("generate", {"prompt": PROMPT, "seed": "5", "steps": 3})
    kit = await kit.restart()
    kit.comfy.release()
    await kit.settle()

    (record,) = await kit.records(again)
    assert "Served from ComfyUI's cache: nothing ran again." in record.notes
    embed = kit.message(again)["embeds"][0]
    assert fields(embed)["Cache"] == "Served from ComfyUI's cache: nothing ran again."
    assert "Not uploaded" not in fields(embed)


async def test_a_sweep_cell_served_from_the_cache_says_so_on_its_line(kit: BotKit) -> None:
    await kit.command("generate", {"prompt": PROMPT, "seed": "5", "steps": 3, "cfg": 4})
    await kit.settle()
    payload = await sweep(kit, x="cfg", x_values="4,6", seed="5", settings="steps=3")
    await kit.settle()
    lines = fields(kit.message(payload)["embeds"][0])["Cells"].splitlines()
    assert lines[0].endswith("done, from ComfyUI's cache")
    assert lines[1].endswith("· done")
    assert json.dumps(kit.message(payload)).count("from ComfyUI's cache") == 1
