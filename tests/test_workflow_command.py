"""/workflow add|list|remove|reload|show end to end: real payloads through discord.py, the fake ComfyUI's node list,
files in a workflows folder of the test's own, and /generate using the result without a restart."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from discomfy.workflows import load_workflows
from discomfy.workflows.manage import remove_workflow
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

MEMBER = payloads.USER_ID
ADMIN = MEMBER + 1
UI_SAVE = Path(__file__).parent / "fixtures" / "workflows_ui" / "templates" / "default.json"
REFUSAL = "Only DisComfy admins"


@pytest_asyncio.fixture
async def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, copy)
    return copy


@pytest_asyncio.fixture
async def kit(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path, folder: Path
) -> AsyncIterator[BotKit]:
    fake_comfy.models.setdefault("checkpoints", []).append("v1-5-pruned-emaonly-fp16.safetensors")
    async with start_bot(
        fake_discord, fake_comfy, tmp_path, workflows=folder, discord={"admin_user_ids": [ADMIN]}
    ) as kit:
        yield kit


async def workflow(kit: BotKit, subcommand: str, options: dict[str, Any] | None = None, user: int = ADMIN) -> Any:
    payload = await kit.command("workflow", options, subcommand=subcommand, user_id=user)
    return payload, kit.message(payload)


def text_of(message: dict[str, Any]) -> str:
    embed = message["embeds"][0]
    fields = " ".join(f"{f['name']}: {f['value']}" for f in embed.get("fields", []))
    return " ".join(str(embed.get(key) or "") for key in ("title", "description")) + " " + fields


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def button_of(message: dict[str, Any], label: str) -> dict[str, Any]:
    buttons = [c for row in message.get("components", []) for c in row["components"] if c["type"] == 2]
    (button,) = [b for b in buttons if b["label"].startswith(label)]
    return button


async def add_ui_save(kit: BotKit, name: str = "sd15_saved") -> dict[str, Any]:
    upload = kit.discord.add_attachment("My SD15 workflow.json", UI_SAVE.read_bytes(), content_type="application/json")
    _, message = await workflow(kit, "add", {"file": upload, "name": name, "title": "SD 1.5 as saved"})
    return message


async def test_an_admin_adds_a_ui_save_and_generate_uses_it_without_a_restart(kit: BotKit, folder: Path) -> None:
    message = await add_ui_save(kit)

    assert message["flags"] & FLAG_EPHEMERAL
    text = text_of(message)
    assert "Added SD 1.5 as saved (`sd15_saved`)" in text
    assert "`prompt` str, `negative` str" in text
    assert "Seeds: `3.seed`" in text
    assert "can run it" in text
    graph = json.loads((folder / "sd15_saved.json").read_text())
    assert graph == json.loads(UI_SAVE.with_suffix(".api.json").read_text())  # what Export (API) writes
    assert "title: SD 1.5 as saved" in (folder / "sd15_saved.yaml").read_text()

    completion = payloads.autocomplete("generate", "workflow", "sd15_s", {"prompt": "x"})
    await payloads.dispatch_and_wait(kit.bot, completion)
    assert [c["value"] for c in kit.discord.interaction(completion).autocomplete_choices or []] == ["sd15_saved"]

    job = await kit.command("generate", {"prompt": "a red fox in snow", "workflow": "sd15_saved"})
    await kit.settle()
    (record,) = await kit.records(job)
    assert record.status == "done"
    posted = next(r.json for r in kit.comfy.requests if r.method == "POST" and r.path.endswith("/prompt"))
    assert posted["prompt"]["6"]["inputs"]["text"] == "a red fox in snow"


async def test_the_title_and_description_form_rewrites_the_mapping_live(kit: BotKit, folder: Path) -> None:
    message = await add_ui_save(kit)
    click = payloads.button_click(button_of(message, "Set title")["custom_id"], message=message, user_id=ADMIN)
    await payloads.dispatch_and_wait(kit.bot, click)
    modal = kit.callback(click).json["data"]
    form = payloads.modal_submit(
        modal["custom_id"],
        {"title": "Fox painter", "description": "SD 1.5, saved from the UI"},
        message=message,
        user_id=ADMIN,
    )
    await payloads.dispatch_and_wait(kit.bot, form)

    spec = kit.bot.workflows.get("sd15_saved")
    assert (spec.title, spec.description) == ("Fox painter", "SD 1.5, saved from the UI")
    assert "description: SD 1.5, saved from the UI" in (folder / "sd15_saved.yaml").read_text()


async def test_a_bad_file_gets_the_precise_message_and_nothing_is_written(kit: BotKit, folder: Path) -> None:
    before = files_in(folder)
    data = json.loads(UI_SAVE.read_text())
    data["nodes"].append({"id": 99, "type": "ImpactWildcardEncode", "mode": 0, "inputs": [], "outputs": []})
    upload = kit.discord.add_attachment("impact.json", json.dumps(data).encode(), content_type="application/json")
    _, message = await workflow(kit, "add", {"file": upload})

    text = text_of(message)
    assert "impact.json: cannot convert this UI-format workflow" in text
    assert "node '99' (ImpactWildcardEncode): the ComfyUI server has no node class 'ImpactWildcardEncode'" in text
    assert "ComfyUI-Impact-Pack" in text
    garbage = kit.discord.add_attachment("broken.json", b'{"3": {"class_type": ', content_type="application/json")
    _, message = await workflow(kit, "add", {"file": garbage})
    assert "broken.json:1: invalid JSON" in text_of(message)
    assert files_in(folder) == before
    assert "impact" not in kit.bot.workflows


async def test_non_admins_cannot_use_workflow_commands(kit: BotKit, folder: Path) -> None:
    upload = kit.discord.add_attachment("x.json", UI_SAVE.read_bytes(), content_type="application/json")
    for subcommand, options in (("add", {"file": upload}), ("reload", None), ("remove", {"name": "img2img"})):
        _, message = await workflow(kit, subcommand, options, user=MEMBER)
        assert REFUSAL in text_of(message)
    assert (folder / "img2img.yaml").exists()
    assert not (folder / "x.json").exists()


async def test_list_says_which_server_can_run_each_workflow(kit: BotKit) -> None:
    _, message = await workflow(kit, "list")
    text = text_of(message)
    assert "**Text to image (SDXL)** (`txt2img_sdxl`)\n  ✓ ComfyUI at 127.0.0.1:" in text
    assert "(`flux_dev`)\n  ✗ ComfyUI at 127.0.0.1:" in text  # the fake has no Flux text encoders


async def test_remove_asks_first_then_deletes_the_files_and_the_choice(kit: BotKit, folder: Path) -> None:
    _, message = await workflow(kit, "remove", {"name": "img2img"})
    assert "Remove this workflow?" in text_of(message)
    keep = payloads.button_click(button_of(message, "No")["custom_id"], message=message, user_id=ADMIN)
    await payloads.dispatch_and_wait(kit.bot, keep)
    assert "img2img" in kit.bot.workflows

    _, message = await workflow(kit, "remove", {"name": "img2img"})
    yes = payloads.button_click(button_of(message, "Yes")["custom_id"], message=message, user_id=ADMIN)
    await payloads.dispatch_and_wait(kit.bot, yes)
    assert "img2img" not in kit.bot.workflows
    assert not (folder / "img2img.yaml").exists()
    assert not (folder / "img2img.json").exists()
    job = await kit.command("generate", {"prompt": "x", "workflow": "img2img"})
    assert "There is no workflow called 'img2img'" in text_of(kit.message(job))


async def test_reload_reports_every_problem_and_keeps_the_previous_set_live(kit: BotKit, folder: Path) -> None:
    (folder / "img2img.yaml").write_text("name: img2img\ngraph: missing.json\n")
    (folder / "extra.yaml").write_text("name: [oops\n")
    _, message = await workflow(kit, "reload")

    text = text_of(message)
    assert "Nothing changed: the previous workflows stay live." in text
    assert "missing.json: file not found" in text
    assert "extra.yaml:2: invalid YAML" in text
    assert "img2img" in kit.bot.workflows

    (folder / "extra.yaml").unlink()
    shutil.copy(WORKFLOWS / "img2img.yaml", folder / "img2img.yaml")
    (folder / "txt2img_sd15.yaml").unlink()
    _, message = await workflow(kit, "reload")
    assert "Reloaded 4 workflow(s)" in text_of(message)
    assert "txt2img_sd15" not in kit.bot.workflows


async def test_show_sends_the_mapping_privately(kit: BotKit) -> None:
    _, message = await workflow(kit, "show", {"name": "img2img"})
    assert message["flags"] & FLAG_EPHEMERAL
    assert message["embeds"][0]["description"].startswith("```yaml\n")
    assert "graph: img2img.json" in message["embeds"][0]["description"]
    assert [a["filename"] for a in message["attachments"]] == ["img2img.yaml"]


async def test_workflow_names_are_autocompleted_for_admins_only(kit: BotKit) -> None:
    for user, expected in ((ADMIN, ["img2img"]), (MEMBER, [])):
        typing = payloads.autocomplete("workflow", "name", "img2", subcommand="show", user_id=user)
        await payloads.dispatch_and_wait(kit.bot, typing)
        assert [c["value"] for c in kit.discord.interaction(typing).autocomplete_choices or []] == expected


async def test_an_api_format_file_is_added_as_it_is(kit: BotKit, folder: Path) -> None:
    api = UI_SAVE.with_suffix(".api.json")
    upload = kit.discord.add_attachment("sd15.api.json", api.read_bytes(), content_type="application/json")
    _, message = await workflow(kit, "add", {"file": upload})
    assert "Added Sd15 (`sd15`)" in text_of(message)
    assert json.loads((folder / "sd15.json").read_text()) == json.loads(api.read_text())
    assert "sd15" in kit.bot.workflows
    _, again = await workflow(kit, "add", {"file": upload})
    assert "a workflow called 'sd15' exists; remove it first" in text_of(again)


async def test_a_workflow_without_a_text_input_is_added_with_a_word_on_the_prompt(kit: BotKit) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "copy"}},
    }
    upload = kit.discord.add_attachment("copy.json", json.dumps(graph).encode(), content_type="application/json")
    _, message = await workflow(kit, "add", {"file": upload, "name": "copy"})
    assert "Added" in text_of(message)
    assert "No text input was found for `prompt`" in text_of(message)
    assert "No text input" not in text_of(await add_ui_save(kit))  # its CLIPTextEncode became the prompt


def test_a_removed_workflow_leaves_the_live_set_even_beside_a_file_broken_by_hand(folder: Path) -> None:
    library = load_workflows(folder)
    (folder / "broken.yaml").write_text("graph: missing.json\nparameters: [\n")  # edited by hand, not reloaded yet
    removed = remove_workflow(library, "txt2img_sd15")
    assert "txt2img_sd15" not in library
    assert not removed.mapping_path.exists()
    assert "txt2img_sdxl" in library  # the rest stays as it was
