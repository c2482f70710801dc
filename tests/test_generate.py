"""/generate and /batch end to end: real payloads in, real discord.py and ComfyService code, fakes at the edges."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio
from PIL import Image

from discomfy.bot.controls import JobControls
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI
from testing.records import job_record

DEFERRED = 5
IMMEDIATE = 4
AUTOCOMPLETE_RESULT = 8


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
        yield kit


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def png(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(buffer, format="JPEG")
    return buffer.getvalue()


def refusal(kit: BotKit, payload: dict[str, Any]) -> str:
    """The private answer a refused command got at once, as text."""
    callback = kit.callback(payload)
    assert callback.json["type"] == IMMEDIATE
    data = callback.json["data"]
    assert data["flags"] & FLAG_EPHEMERAL
    return data["embeds"][0]["description"]


# ---- the happy path ---------------------------------------------------------------------------------


async def test_generate_defers_shows_progress_and_delivers_the_image_with_its_seed(kit: BotKit) -> None:
    kit.comfy.step_delay = 0.06
    payload = await kit.command("generate", {"prompt": "a red fox in snow", "steps": 20, "cfg": 6.5})

    assert kit.callback(payload).json["type"] == DEFERRED
    await kit.settle()

    titles = [edit.json["embeds"][0]["title"] for edit in kit.original_edits(payload)]
    assert any(t.startswith("Running") for t in titles)
    running = next(e for e in kit.original_edits(payload) if fields(e.json["embeds"][0]).get("Progress"))
    assert "/20" in fields(running.json["embeds"][0])["Progress"]
    assert titles[-1] == "Done"

    (record,) = await kit.records(payload)
    assert record.status == "done"
    assert record.params["steps"] == 20
    assert record.params["cfg"] == 6.5
    message = kit.message(payload)
    (attachment,) = message["attachments"]
    upload = kit.original_edits(payload)[-1].files[0]
    assert attachment["filename"] == upload.filename == Path(record.output_files[0]).name
    assert attachment["content_type"] == "image/png"
    assert upload.size == (await asyncio.to_thread(Path(record.output_files[0]).stat)).st_size
    embed = message["embeds"][0]
    assert fields(embed)["Seed"] == f"`{record.seed}`"
    assert embed["image"]["url"] == attachment["url"]
    custom_ids = [c["custom_id"] for row in message["components"] for c in row["components"]]
    assert f"discomfy:reroll:{record.job_id}" in custom_ids


async def test_batch_sweeps_distinct_seeds_into_one_message_with_a_contact_sheet(kit: BotKit) -> None:
    payload = await kit.command("batch", {"prompt": "lighthouse at dusk", "count": 3, "seed": "100", "steps": 3})
    await kit.settle()

    records = await kit.records(payload)
    assert sorted(r.seed for r in records) == [100, 101, 102]
    assert {r.status for r in records} == {"done"}
    assert len({r.batch_id for r in records}) == 1
    message = kit.message(payload)
    names = [a["filename"] for a in message["attachments"]]
    assert names[0].startswith("contact_sheet")
    assert sorted(names[1:]) == sorted(Path(r.output_files[0]).name for r in records)
    embed = message["embeds"][0]
    assert embed["image"]["url"] == message["attachments"][0]["url"]
    assert embed["title"] == "Batch of 3 · 3 done"
    seeds_field = fields(embed)["Seeds"]
    assert all(f"seed `{seed}`" in seeds_field for seed in (100, 101, 102))
    assert len(kit.discord.calls("POST", r"^/channels/\d+/messages$")) == 0


async def test_generate_with_count_shows_the_jobs_as_one_batch(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "three apples", "count": 2, "steps": 2})
    await kit.settle()

    records = await kit.records(payload)
    assert len(records) == 2
    assert len({r.seed for r in records}) == 2
    assert kit.message(payload)["embeds"][0]["title"] == "Batch of 2 · 2 done"


async def test_workflow_autocomplete_offers_titles_and_descriptions(kit: BotKit) -> None:
    payload = payloads.autocomplete("generate", "workflow", "sdxl", {"prompt": "x"})
    await payloads.dispatch_and_wait(kit.bot, payload)

    choices = kit.discord.interaction(payload).autocomplete_choices
    assert choices is not None
    assert {"name": "Text to image (SDXL) — Stable Diffusion XL base 1.0 at about one megapixel.",
            "value": "txt2img_sdxl"} in choices  # fmt: skip


async def test_image_is_uploaded_to_comfyui_for_an_image_workflow(kit: BotKit) -> None:
    attachment = kit.discord.add_attachment("cat.png", png())
    payload = await kit.command(
        "generate", {"prompt": "a cat, oil painting", "workflow": "img2img", "image": attachment}
    )
    await kit.settle()

    (upload,) = kit.comfy.requests_to("/upload/image", "POST")
    assert upload is not None
    (record,) = await kit.records(payload)
    assert record.status == "done"
    assert (kit.comfy.input_dir / record.params["image"]).read_bytes() == png()  # what LoadImage read
    assert record.params["image"].startswith("discomfy-")  # a name of the bot's choosing, not the user's
    assert record.params["image"].endswith(".png")


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("cat.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("cat.png", b"<!doctype html><html><script>fetch('/api')</script></html>"),
        ("cat.jpg", b"\x00" * 64),
    ],
)
async def test_an_attachment_whose_bytes_are_not_an_image_never_reaches_comfyui(
    kit: BotKit, filename: str, data: bytes
) -> None:
    attachment = kit.discord.add_attachment(filename, data, content_type="image/png")
    payload = await kit.command("generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment})
    await kit.settle()

    assert kit.comfy.requests_to("/upload/image", "POST") == []
    assert kit.comfy.prompts_received == 0
    assert "is not an image ComfyUI can read" in json.dumps(kit.message(payload)["embeds"])


async def test_an_image_named_like_something_else_is_uploaded_as_what_it_is(kit: BotKit) -> None:
    attachment = kit.discord.add_attachment("holiday.png", jpeg(), content_type="image/png")
    payload = await kit.command("generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment})
    await kit.settle()

    (record,) = await kit.records(payload)
    assert record.params["image"].endswith(".jpg")


async def test_a_size_preset_sets_width_and_height_unless_one_is_given(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a tall tower", "size": "portrait", "width": 768, "steps": 1})
    await kit.settle()

    (record,) = await kit.records(payload)
    assert (record.params["width"], record.params["height"]) == (768, 1216)


async def test_a_size_the_workflow_cannot_take_is_refused_in_its_own_words(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "x", "workflow": "txt2img_sd15", "size": "portrait"})

    assert refusal(kit, payload) == "height must be a whole number from 256 to 1024 in steps of 64 (got 1216)."
    assert kit.comfy.prompts_received == 0


# ---- refusals: private, and nothing reaches ComfyUI --------------------------------------------------


async def test_unknown_workflow_is_refused_privately_and_nothing_is_queued(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a cat", "workflow": "no_such_flow"})

    assert "no workflow called 'no_such_flow'" in refusal(kit, payload)
    assert kit.comfy.prompts_received == 0


async def test_an_option_the_workflow_lacks_is_named_with_the_workflow(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a cat", "workflow": "flux_dev", "negative": "dogs"})

    text = refusal(kit, payload)
    assert "Flux dev" in text
    assert "`flux_dev`" in text
    assert "no `negative` option" in text
    assert kit.comfy.prompts_received == 0


async def test_an_image_for_a_workflow_without_one_is_refused(kit: BotKit) -> None:
    attachment = kit.discord.add_attachment("cat.png", png())
    payload = await kit.command("generate", {"prompt": "a cat", "image": attachment})

    assert "no `image` option" in refusal(kit, payload)


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [("notes.txt", b"hello", "is not an image"), ("huge.png", png(256, 256) + b"\0" * 40_000, "MB are accepted")],
)
async def test_a_bad_attachment_is_refused_before_it_is_downloaded(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path, filename: str, data: bytes, expected: str
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits={"max_input_image_mb": 0.03}) as kit:
        attachment = kit.discord.add_attachment(filename, data)
        payload = await kit.command("generate", {"prompt": "x", "workflow": "img2img", "image": attachment})

        assert expected in refusal(kit, payload)
        assert kit.discord.calls("GET", r"^/attachments/") == []
        assert kit.comfy.prompts_received == 0


async def test_a_prompt_over_the_configured_length_is_refused(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits={"max_prompt_length": 20}) as kit:
        payload = await kit.command("generate", {"prompt": "a very long prompt about many things"})

        assert "at most 20 are allowed" in refusal(kit, payload)
        assert kit.comfy.prompts_received == 0


async def test_over_the_per_user_limit_is_refused_privately_and_never_reaches_comfyui(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits={"max_pending_per_user": 1}) as kit:
        kit.comfy.hold()
        await kit.command("generate", {"prompt": "first", "steps": 2})
        second = await kit.command("generate", {"prompt": "second", "steps": 2})

        assert "already have 1 request(s) waiting" in refusal(kit, second)
        assert kit.comfy.prompts_received == 1
        kit.comfy.release()
        await kit.settle()


async def test_admins_are_exempt_from_the_per_user_limit(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    limits = {"max_pending_per_user": 1}
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits=limits,
                         discord={"admin_user_ids": [payloads.USER_ID]}) as kit:  # fmt: skip
        kit.comfy.hold()
        await kit.command("generate", {"prompt": "first", "steps": 2})
        second = await kit.command("generate", {"prompt": "second", "steps": 2})

        assert kit.callback(second).json["type"] == DEFERRED
        assert kit.comfy.prompts_received == 2
        kit.comfy.release()
        await kit.settle()


async def test_a_batch_over_the_configured_maximum_is_refused(kit: BotKit) -> None:
    payload = await kit.command("batch", {"prompt": "x", "count": kit.config.limits.max_batch + 1})

    assert "at most" in refusal(kit, payload)
    assert kit.comfy.prompts_received == 0


# ---- ComfyUI says no ----------------------------------------------------------------------------


async def test_a_workflow_comfyui_rejects_replaces_the_thinking_message_with_node_and_reason(kit: BotKit) -> None:
    kit.comfy.models["checkpoints"].remove("v1-5-pruned-emaonly-fp16.safetensors")
    payload = await kit.command("generate", {"prompt": "a cat", "workflow": "txt2img_sd15"})

    assert kit.callback(payload).json["type"] == DEFERRED
    embed = kit.message(payload)["embeds"][0]
    assert embed["title"] == "ComfyUI refused the workflow"
    node = fields(embed)["Node 4 (CheckpointLoaderSimple)"]
    assert "ckpt_name" in node
    assert "v1-5-pruned-emaonly-fp16.safetensors" in node
    (record,) = await kit.store.history(payloads.USER_ID)
    assert (record.status, record.error_kind) == ("failed", "rejected")


async def test_a_node_failing_while_running_shows_the_node_the_reason_and_a_retry_button(kit: BotKit) -> None:
    async def out_of_memory(run: Any) -> Any:
        raise RuntimeError("Allocation on device: CUDA out of memory")

    kit.comfy.catalog["VAEDecode"].behaviour = out_of_memory
    payload = await kit.command("generate", {"prompt": "a cat", "steps": 2})
    await kit.settle()

    message = kit.message(payload)
    embed = message["embeds"][0]
    assert embed["title"] == "Failed"
    why = fields(embed)["Why"]
    assert "node 8 (VAEDecode)" in why
    assert "CUDA out of memory" in why
    (record,) = await kit.records(payload)
    custom_ids = [c["custom_id"] for row in message["components"] for c in row["components"]]
    assert f"discomfy:retry:{record.job_id}" in custom_ids
    assert message["attachments"] == []


# ---- settings: the workflow's other parameters -------------------------------------------------------


def posted_graph(kit: BotKit) -> dict[str, Any]:
    (post,) = [r for r in kit.comfy.requests if r.method == "POST" and r.path.endswith("/prompt")]
    return post.json["prompt"]


async def test_settings_reach_parameters_that_have_no_option_of_their_own(kit: BotKit) -> None:
    await kit.command("generate", {"prompt": "a red fox", "settings": "sampler=euler scheduler=normal batch_size=2"})
    await kit.settle()

    sampler = posted_graph(kit)["3"]["inputs"]
    assert (sampler["sampler_name"], sampler["scheduler"]) == ("euler", "normal")
    assert posted_graph(kit)["5"]["inputs"]["batch_size"] == 2


async def test_an_unknown_setting_is_refused_naming_the_ones_the_workflow_has(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a red fox", "settings": "denoise=0.5"})

    text = refusal(kit, payload)
    assert "no setting `denoise`" in text
    assert "sampler" in text
    assert kit.comfy.prompts_received == 0


async def test_a_setting_outside_its_choices_is_refused_with_the_allowed_values(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a red fox", "settings": "sampler=warp-drive"})

    text = refusal(kit, payload)
    assert "sampler" in text
    assert "euler" in text
    assert kit.comfy.prompts_received == 0


async def test_settings_autocomplete_offers_the_remaining_parameters_with_defaults(kit: BotKit) -> None:
    payload = payloads.autocomplete("generate", "settings", "sampler=euler", {"prompt": "x"})
    await payloads.dispatch_and_wait(kit.bot, payload)

    values = [c["value"] for c in kit.discord.interaction(payload).autocomplete_choices]
    assert values
    assert all(v.startswith("sampler=euler ") for v in values)
    assert any("scheduler=" in v for v in values)
    assert not any(v.count("sampler=") > 1 for v in values)


async def test_a_batch_that_comfyui_stops_taking_halfway_delivers_what_ran_and_says_why_for_the_rest(
    kit: BotKit,
) -> None:
    kit.comfy.accept_prompts = 2
    payload = await kit.command("batch", {"prompt": "a lighthouse", "count": 4})
    await kit.settle()

    message = kit.message(payload)
    embed = message["embeds"][0]
    assert embed["title"] == "Batch of 4 · 2 done, 2 failed"
    assert "500" in json.dumps(embed)
    assert len([a for a in message["attachments"] if a["filename"] != "preview.jpg"]) >= 2
    statuses = sorted(r.status for r in await kit.records(payload))
    assert statuses == ["done", "done", "failed", "failed"]


async def test_a_channel_where_results_could_not_be_posted_is_refused_naming_the_permissions(kit: BotKit) -> None:
    view_only = str(discord.Permissions(view_channel=True, send_messages=True).value)
    payload = await kit.command("generate", {"prompt": "a red fox"}, app_permissions=view_only)

    text = refusal(kit, payload)
    assert "Embed Links" in text
    assert "Attach Files" in text
    assert kit.comfy.prompts_received == 0


async def test_a_batch_of_a_workflow_without_a_seed_input_is_refused_as_all_alike(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    graph = json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text())
    del graph["3"]["inputs"]["seed"]  # a graph whose every run is the same
    (folder / "fixed.json").write_text(json.dumps(graph))
    mapping = (WORKFLOWS / "txt2img_sdxl.yaml").read_text().replace("graph: txt2img_sdxl.json", "graph: fixed.json")
    (folder / "fixed.yaml").write_text(mapping)
    async with start_bot(
        fake_discord, fake_comfy, tmp_path, workflows=folder, workflow_settings={"default": "fixed"}
    ) as kit:
        batch = await kit.command("batch", {"prompt": "a lighthouse", "count": 3})
        generate = await kit.command("generate", {"prompt": "a lighthouse", "count": 2})
        for payload in (batch, generate):
            answer = kit.callback(payload).json
            assert answer["data"]["flags"] & FLAG_EPHEMERAL
            assert "has no seed input: every image of a batch would be the same" in json.dumps(answer)
        assert kit.comfy.prompts_received == 0
        done = job_record(workflow="fixed", channel_id=payloads.CHANNEL_ID, guild_id=payloads.GUILD_ID)
        await kit.store.add(done)
        components = JobControls().result(done, upscale=False).to_components()
        message = kit.discord.add_message(payloads.message(components=components, author=payloads.bot_user()))
        click = payloads.button_click(f"discomfy:vary:{done.job_id}", message=message)
        await payloads.dispatch_and_wait(kit.bot, click)
        answer = kit.callback(click).json
        assert answer["data"]["flags"] & FLAG_EPHEMERAL
        assert "has no seed input" in json.dumps(answer)  # Variations too: the one admission path checks
        assert kit.comfy.prompts_received == 0
