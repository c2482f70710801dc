"""Running a community, end to end through the fake Discord: settings per channel, category and server set from
Discord's panels and inherited (threads and forum posts from their parent); age-restricted workflows; the prompt
blocklist on every path that starts a job; spoilers; personal defaults under the channel's rules."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from discomfy.bot.controls import JobControls
from discomfy.policy import Scope
from discomfy.store import JobStatus
from discomfy.workflows import build_workflow
from discomfy.workflows.manage import remove_workflow
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI
from testing.records import job_record

ADMIN = payloads.USER_ID + 50
MEMBER = payloads.USER_ID
CATEGORY = payloads.GUILD_ID + 1000
ART = payloads.GUILD_ID + 1001  # a channel in CATEGORY
LOUNGE = payloads.CHANNEL_ID  # a channel in no category
AFTER_DARK = payloads.GUILD_ID + 1002  # age-restricted
FORUM = payloads.GUILD_ID + 1003  # an age-restricted forum
ART_THREAD = payloads.GUILD_ID + 2001
DARK_THREAD = payloads.GUILD_ID + 2002
FORUM_POST = payloads.GUILD_ID + 2003
DM = payloads.GUILD_ID + 3000

ALL_SAFE = {"img2img", "sdxl_alt", "txt2img_sdxl", "wan21_t2v", "flux_dev"}
NSFW = "txt2img_sd15"


def _workflows(tmp_path: Path) -> Path:
    """The shipped workflows, SD 1.5 marked age-restricted, and `sdxl_alt`: a second SDXL the fake can run."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    for source in WORKFLOWS.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    sd15 = folder / "txt2img_sd15.yaml"
    sd15.write_text(sd15.read_text() + "nsfw: true\n")
    alt = (folder / "txt2img_sdxl.yaml").read_text().replace("title: Text to image (SDXL)", "title: Alternative")
    (folder / "sdxl_alt.yaml").write_text(alt)
    return folder


@pytest_asyncio.fixture
async def kit(tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy) -> AsyncIterator[BotKit]:
    fake_discord.add_channel(payloads.category_channel(CATEGORY, name="art"))
    fake_discord.add_channel(payloads.text_channel(ART, name="art", parent_id=CATEGORY))
    fake_discord.add_channel(payloads.text_channel(AFTER_DARK, name="after-dark", nsfw=True))
    fake_discord.add_channel(payloads.forum_channel(FORUM, nsfw=True))
    async with start_bot(
        fake_discord,
        fake_comfy,
        tmp_path,
        workflows=_workflows(tmp_path),
        discord={"guild_ids": [payloads.GUILD_ID], "admin_user_ids": [ADMIN]},
        limits={"cooldown_seconds": 0, "max_pending_per_user": 10},
    ) as started:
        yield started


# ---- where a request comes from ----------------------------------------------------------------------------

CHANNELS: dict[int, dict[str, Any]] = {
    ART: payloads.text_channel(ART, name="art", parent_id=CATEGORY),
    LOUNGE: payloads.text_channel(LOUNGE, name="lounge"),
    AFTER_DARK: payloads.text_channel(AFTER_DARK, name="after-dark", nsfw=True),
    ART_THREAD: payloads.thread_channel(ART_THREAD, parent_id=ART),
    DARK_THREAD: payloads.thread_channel(DARK_THREAD, parent_id=AFTER_DARK),
    FORUM_POST: payloads.thread_channel(FORUM_POST, parent_id=FORUM),
}


def at(channel_id: int, user_id: int = MEMBER) -> dict[str, Any]:
    """The interaction context of `user_id` writing in a channel (DM: a direct message)."""
    if channel_id == DM:
        return {"channel_id": DM, "guild_id": None, "user_id": user_id}
    return {"channel_id": channel_id, "channel": CHANNELS[channel_id], "user_id": user_id}


async def generate(kit: BotKit, where: int, user_id: int = MEMBER, **options: Any) -> payloads.Payload:
    return await kit.command("generate", {"prompt": "a lighthouse at dusk", **options}, **at(where, user_id))


async def offered(kit: BotKit, where: int, user_id: int = MEMBER) -> set[str]:
    """The workflows /generate's autocomplete offers in a channel."""
    payload = payloads.autocomplete("generate", "workflow", "", {"prompt": "x"}, **at(where, user_id))
    await payloads.dispatch_and_wait(kit.bot, payload)
    return {choice["value"] for choice in kit.discord.interaction(payload).autocomplete_choices or []}


def refusal(kit: BotKit, payload: payloads.Payload) -> str:
    """The private answer to a refused interaction (nothing public was posted)."""
    callback = kit.callback(payload).json
    assert callback["type"] == 4, callback
    assert callback["data"]["flags"] & FLAG_EPHEMERAL
    return str(callback["data"]["embeds"][0]["description"])


def started(kit: BotKit, payload: payloads.Payload) -> bool:
    return kit.callback(payload).json["type"] == 5


def component(message: payloads.Payload, text: str) -> dict[str, Any]:
    """The select or button of a panel whose placeholder, label or an option's label contains `text`."""
    for row in message["components"]:
        for item in row["components"]:
            labels = [item.get("placeholder") or "", item.get("label") or ""]
            labels += [option["label"] for option in item.get("options", [])]
            if any(text in label for label in labels):
                return dict(item)
    raise AssertionError(f"no component with {text!r} in {message['components']}")


async def choose(kit: BotKit, panel: payloads.Payload, text: str, values: list[str], user_id: int = ADMIN) -> None:
    message = kit.message(panel)
    choice = payloads.select(component(message, text)["custom_id"], values, message=message, user_id=user_id)
    await payloads.dispatch_and_wait(kit.bot, choice)
    assert kit.callback(choice).json["type"] == 7  # the panel itself was updated


async def fill_form(kit: BotKit, panel: payloads.Payload, button: str, fields: dict[str, str], user_id: int) -> None:
    message = kit.message(panel)
    click = payloads.button_click(component(message, button)["custom_id"], message=message, user_id=user_id)
    await payloads.dispatch_and_wait(kit.bot, click)
    modal = kit.callback(click).json
    assert modal["type"] == 9
    submit = payloads.modal_submit(
        modal["data"]["custom_id"], fields, message=message, label_wrapped=True, user_id=user_id
    )
    await payloads.dispatch_and_wait(kit.bot, submit)
    assert kit.callback(submit).json["type"] == 7, kit.callback(submit).json


async def records(kit: BotKit, user_id: int = MEMBER) -> list[Any]:
    return list(reversed(await kit.store.history(user_id, limit=50)))


def category_option() -> dict[str, Any]:
    return {**payloads.category_channel(CATEGORY, name="art"), "permissions": "0"}


# ---- settings per channel, category and server ---------------------------------------------------------------


async def test_category_settings_from_the_panel_hold_in_its_channels_and_threads_not_elsewhere(kit: BotKit) -> None:
    panel = await kit.command("settings", {"channel": category_option()}, subcommand="channel", **at(LOUNGE, ADMIN))
    assert kit.message(panel)["flags"] & FLAG_EPHEMERAL
    await choose(kit, panel, "Allowed workflows", ["txt2img_sdxl", "sdxl_alt"])
    await choose(kit, panel, "Default workflow", ["sdxl_alt"])

    assert await offered(kit, ART) == {"txt2img_sdxl", "sdxl_alt"}
    assert await offered(kit, ART_THREAD) == {"txt2img_sdxl", "sdxl_alt"}  # the thread's parent, fetched once
    assert await offered(kit, LOUNGE) == ALL_SAFE

    refused = await generate(kit, ART, workflow="wan21_t2v")
    assert "not allowed in this channel (set for this channel's category)" in refusal(kit, refused)
    refused_in_thread = await generate(kit, ART_THREAD, workflow="flux_dev")
    assert "not allowed" in refusal(kit, refused_in_thread)
    assert kit.comfy.prompts_received == 0

    default = await generate(kit, ART_THREAD)
    await kit.settle()
    assert started(kit, default)
    assert [r.workflow for r in await records(kit)] == ["sdxl_alt"]


async def test_a_channel_setting_wins_over_its_category_and_the_server(kit: BotKit) -> None:
    policy = kit.bot.policy
    await policy.update_settings(Scope.GUILD, payloads.GUILD_ID, guild_id=payloads.GUILD_ID, by=ADMIN, max_count=1)
    await policy.update_settings(Scope.CATEGORY, CATEGORY, guild_id=payloads.GUILD_ID, by=ADMIN, max_count=3)
    await policy.update_settings(
        Scope.CHANNEL, ART, guild_id=payloads.GUILD_ID, by=ADMIN, workflows=("wan21_t2v", "txt2img_sdxl")
    )
    await policy.update_settings(
        Scope.CATEGORY, CATEGORY, guild_id=payloads.GUILD_ID, by=ADMIN, workflows=("flux_dev",)
    )

    assert await offered(kit, ART) == {"wan21_t2v", "txt2img_sdxl"}
    in_lounge = await generate(kit, LOUNGE, count=2)
    assert "At most 1 image(s) per request in this channel (set for this server)" in refusal(kit, in_lounge)
    in_art = await generate(kit, ART, count=3, workflow="txt2img_sdxl")
    await kit.settle()
    assert started(kit, in_art)

    shown = await kit.command("settings", subcommand="show", **at(ART, ADMIN))
    fields = {f["name"]: f["value"] for f in kit.message(shown)["embeds"][0]["fields"]}
    assert fields["Allowed workflows"] == "`wan21_t2v`, `txt2img_sdxl` · from this channel"
    assert fields["Max count"] == "3 · from the category"


async def test_defaults_and_max_count_from_the_form_apply_where_the_user_left_options_out(kit: BotKit) -> None:
    panel = await kit.command("settings", subcommand="server", **at(LOUNGE, ADMIN))
    fields = {"size": "portrait", "steps": "7", "negative": "watermark, text", "max_count": "2"}
    await fill_form(kit, panel, "Size, steps", fields, user_id=ADMIN)

    await generate(kit, LOUNGE)
    await generate(kit, LOUNGE, steps=5, negative="blur")
    too_many = await generate(kit, LOUNGE, count=3)
    await kit.settle()

    first, second = await records(kit)
    assert (first.params["width"], first.params["height"], first.params["steps"]) == (832, 1216, 7)
    assert first.params["negative"] == "watermark, text"
    assert (second.params["steps"], second.params["negative"]) == (5, "blur")  # what the user gave wins
    assert "At most 2 image(s)" in refusal(kit, too_many)
    assert "Size" in {f["name"] for f in kit.message(panel)["embeds"][0]["fields"]}


async def test_a_switched_off_channel_offers_nothing_and_refuses_commands_and_buttons(kit: BotKit) -> None:
    done = await generate(kit, ART)
    await kit.settle()
    panel = await kit.command("settings", subcommand="channel", **at(ART, ADMIN))
    await choose(kit, panel, "Bot answers", ["off"])

    assert await offered(kit, ART) == set()
    assert await offered(kit, LOUNGE) == ALL_SAFE
    refused = await generate(kit, ART_THREAD)
    assert "switched off in this channel" in refusal(kit, refused)
    message = kit.message(done)
    reroll = component(message, "Re-roll")["custom_id"]
    click = payloads.button_click(reroll, message=message, **at(ART))
    await payloads.dispatch_and_wait(kit.bot, click)
    assert "switched off" in refusal(kit, click)
    assert kit.comfy.prompts_received == 1


async def test_buttons_follow_the_channels_current_rules(kit: BotKit) -> None:
    done = await generate(kit, ART, workflow="txt2img_sdxl")
    await kit.settle()
    await kit.bot.policy.update_settings(
        Scope.CHANNEL, ART, guild_id=payloads.GUILD_ID, by=ADMIN, workflows=("sdxl_alt",)
    )
    message = kit.message(done)
    for label in ("Re-roll", "Variations"):
        click = payloads.button_click(component(message, label)["custom_id"], message=message, **at(ART))
        await payloads.dispatch_and_wait(kit.bot, click)
        assert "Text to image (SDXL) (`txt2img_sdxl`) is not allowed in this channel" in refusal(kit, click)
    assert kit.comfy.prompts_received == 1


async def test_only_admins_change_settings(kit: BotKit) -> None:
    refused = await kit.command("settings", subcommand="server", **at(LOUNGE, MEMBER))
    assert "Only DisComfy admins" in refusal(kit, refused)
    blocked = await kit.command("settings", {"pattern": "x"}, group="blocklist", subcommand="add", **at(LOUNGE))
    assert "Only DisComfy admins" in refusal(kit, blocked)
    assert (await kit.bot.policy.blocklist(payloads.GUILD_ID)).rules == ()


# ---- age-restricted workflows ------------------------------------------------------------------------------


async def test_nsfw_workflows_run_only_in_age_restricted_channels_and_their_threads(kit: BotKit) -> None:
    assert NSFW not in await offered(kit, LOUNGE)
    assert NSFW not in await offered(kit, DM)
    assert NSFW in await offered(kit, AFTER_DARK)
    assert NSFW in await offered(kit, DARK_THREAD)
    assert NSFW in await offered(kit, FORUM_POST)

    in_lounge = await generate(kit, LOUNGE, workflow=NSFW)
    in_dm = await generate(kit, DM, workflow=NSFW)
    assert "age-restricted: it runs only in channels marked age-restricted" in refusal(kit, in_lounge)
    assert "never runs in direct messages" in refusal(kit, in_dm)
    assert kit.comfy.prompts_received == 0

    for where in (AFTER_DARK, DARK_THREAD, FORUM_POST):
        assert started(kit, await generate(kit, where, workflow=NSFW))
    await kit.settle()
    assert [r.workflow for r in await records(kit)] == [NSFW] * 3


async def test_an_nsfw_default_is_passed_over_outside_age_restricted_channels(kit: BotKit) -> None:
    await kit.bot.policy.update_settings(
        Scope.GUILD, payloads.GUILD_ID, guild_id=payloads.GUILD_ID, by=ADMIN, default_workflow=NSFW
    )
    await generate(kit, AFTER_DARK)
    await generate(kit, LOUNGE)
    await kit.settle()
    assert [r.workflow for r in await records(kit)] == [NSFW, "txt2img_sdxl"]  # config.yaml's workflows.default


# ---- the prompt blocklist ------------------------------------------------------------------------------------


async def block(kit: BotKit, pattern: str, **options: Any) -> None:
    added = await kit.command(
        "settings", {"pattern": pattern, **options}, group="blocklist", subcommand="add", **at(LOUNGE, ADMIN)
    )
    answer = kit.callback(added).json
    assert answer["data"]["flags"] & FLAG_EPHEMERAL
    assert "Added" in answer["data"]["content"]


def public_texts(kit: BotKit) -> str:
    """Everything the bot made visible to the channel (not ephemeral)."""
    shown = [m for m in kit.discord.messages.values() if not int(m.get("flags", 0)) & FLAG_EPHEMERAL]
    return repr([(m.get("content"), m.get("embeds")) for m in shown])


async def test_blocked_prompts_are_refused_privately_on_commands_and_logged_without_the_prompt(
    kit: BotKit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await block(kit, "red fox")
    await block(kit, r"gr[a4]y\w*", regex=True)

    by_prompt = await generate(kit, LOUNGE, prompt="a quiet RED\u200b  Fox in deep snow")
    by_negative = await generate(kit, LOUNGE, prompt="a cat", negative="GR4YISH tones")
    by_batch = await kit.command("batch", {"prompt": "red fox, sketch"}, **at(ART))
    in_dm = await generate(kit, DM, prompt="red fox at night")
    by_sweep = await kit.command("sweep", {"prompt": "red fox", "x": "steps", "x_values": "2,3"}, **at(LOUNGE))

    assert "Your prompt contains something this server does not allow (blocklist rule 1)" in refusal(kit, by_prompt)
    assert "||RED  Fox||" in refusal(kit, by_prompt)  # the requester alone is told what matched
    assert "Your negative prompt contains" in refusal(kit, by_negative)
    assert "blocklist rule 1" in refusal(kit, by_batch)
    assert "blocklist" in refusal(kit, in_dm)  # a DM is checked against the servers' lists
    assert "blocklist rule 1" in refusal(kit, by_sweep)
    assert kit.comfy.prompts_received == 0
    assert "fox" not in public_texts(kit).lower()
    audit = [r.getMessage() for r in caplog.records if "Refused by the rules" in r.getMessage()]
    assert len(audit) == 5
    assert f"user {MEMBER} in channel {LOUNGE}" in audit[0]
    assert "blocklist rule 1 (word 'red fox') on prompt" in audit[0]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "snow" not in logged
    assert "tones" not in logged


async def test_the_blocklist_matches_whole_words_unless_told_otherwise(kit: BotKit) -> None:
    await block(kit, "ash")
    await block(kit, "moo", partial=True)

    allowed = await generate(kit, LOUNGE, prompt="a flash of lightning over Ashford")
    whole = await generate(kit, LOUNGE, prompt="grey ash falling")
    partial = await generate(kit, LOUNGE, prompt="smooth stones")
    await kit.settle()

    assert started(kit, allowed)
    assert "blocklist rule 1" in refusal(kit, whole)
    assert "blocklist rule 2" in refusal(kit, partial)


async def test_the_blocklist_holds_on_every_button_and_the_edit_form(kit: BotKit) -> None:
    done = await generate(kit, ART, prompt="a lighthouse at dusk", negative="fog")
    await kit.settle()
    await block(kit, "lighthouse")
    message = kit.message(done)

    for label in ("Re-roll", "Variations"):
        click = payloads.button_click(component(message, label)["custom_id"], message=message, **at(ART))
        await payloads.dispatch_and_wait(kit.bot, click)
        assert "blocklist rule 1" in refusal(kit, click)

    edit = payloads.button_click(component(message, "Edit")["custom_id"], message=message, **at(ART))
    await payloads.dispatch_and_wait(kit.bot, edit)
    modal = kit.callback(edit).json["data"]
    submit = payloads.modal_submit(
        modal["custom_id"], {"prompt": "a castle", "negative": "a LIGHTHOUSE"}, label_wrapped=True, **at(ART)
    )
    await payloads.dispatch_and_wait(kit.bot, submit)
    assert "Your negative prompt contains" in refusal(kit, submit)
    assert kit.comfy.prompts_received == 1


async def test_blocklist_rules_are_listed_privately_and_removed_by_number(kit: BotKit) -> None:
    await block(kit, "red fox")
    await block(kit, "owl")
    listed = await kit.command("settings", group="blocklist", subcommand="list", **at(LOUNGE, ADMIN))
    description = kit.message(listed)["embeds"][0]["description"]
    assert kit.message(listed)["flags"] & FLAG_EPHEMERAL
    assert description.splitlines() == ["`1` word: ||red fox||", "`2` word: ||owl||"]

    await kit.command("settings", {"pattern": "1"}, group="blocklist", subcommand="remove", **at(LOUNGE, ADMIN))
    assert started(kit, await generate(kit, LOUNGE, prompt="a red fox"))
    await kit.settle()
    assert "blocklist rule 1" in refusal(kit, await generate(kit, LOUNGE, prompt="an owl"))


async def test_an_invalid_regex_is_refused_with_the_reason(kit: BotKit) -> None:
    added = await kit.command(
        "settings", {"pattern": "fox(", "regex": True}, group="blocklist", subcommand="add", **at(LOUNGE, ADMIN)
    )
    assert "not a valid regular expression" in refusal(kit, added)


# ---- spoilers ------------------------------------------------------------------------------------------------


async def test_a_spoiler_channel_posts_results_and_previews_as_spoilers_never_in_the_embed(kit: BotKit) -> None:
    await kit.bot.policy.update_settings(Scope.CATEGORY, CATEGORY, guild_id=payloads.GUILD_ID, by=ADMIN, spoiler=True)
    kit.comfy.step_delay = 0.03
    single = await generate(kit, ART_THREAD, steps=30)
    batch = await kit.command("batch", {"prompt": "a lighthouse", "count": 2, "steps": 2}, **at(ART))
    plain = await generate(kit, LOUNGE)
    await kit.settle()

    edits = kit.edits_of(kit.message_id(single))
    previews = [f.filename for edit in edits for f in edit.files if "preview" in f.filename]
    assert previews
    assert set(previews) == {"SPOILER_preview.jpg"}
    assert all("image" not in edit.json["embeds"][0] for edit in edits if edit.json and edit.json.get("embeds"))
    for payload in (single, batch):
        message = kit.message(payload)
        assert message["attachments"]
        assert all(a["filename"].startswith("SPOILER_") for a in message["attachments"])
        assert "image" not in message["embeds"][0]
    assert [r.spoiler for r in await records(kit)] == [True, True, True, False]
    assert not any(a["filename"].startswith("SPOILER_") for a in kit.message(plain)["attachments"])


# ---- personal defaults ---------------------------------------------------------------------------------------


async def test_preferences_apply_under_the_channels_rules(kit: BotKit) -> None:
    panel = await kit.command("preferences", **at(LOUNGE))
    assert kit.message(panel)["flags"] & FLAG_EPHEMERAL
    await choose(kit, panel, "No default workflow of my own", ["sdxl_alt"], user_id=MEMBER)
    await choose(kit, panel, "Post my results as spoilers", ["on"], user_id=MEMBER)
    await fill_form(kit, panel, "Size and negative", {"size": "640x768", "negative": "lowres"}, user_id=MEMBER)
    await kit.bot.policy.update_settings(
        Scope.CHANNEL, ART, guild_id=payloads.GUILD_ID, by=ADMIN, workflows=("txt2img_sdxl",), negative="jpeg"
    )

    await generate(kit, LOUNGE)
    await generate(kit, ART)  # the channel does not allow sdxl_alt: its own rules win
    await generate(kit, LOUNGE, user_id=MEMBER + 1)  # someone else: nothing of MEMBER's applies
    await kit.settle()

    mine_here, mine_there = await records(kit)
    (theirs,) = await records(kit, MEMBER + 1)
    assert (mine_here.workflow, mine_here.params["width"], mine_here.params["height"]) == ("sdxl_alt", 640, 768)
    assert mine_here.params["negative"] == "lowres"
    assert mine_here.spoiler
    assert mine_there.workflow == "txt2img_sdxl"
    assert mine_there.params["negative"] == "lowres"  # a personal default beats a channel's default text
    assert theirs.workflow == "txt2img_sdxl"
    assert not theirs.spoiler
    fields = {f["name"]: f["value"] for f in kit.message(panel)["embeds"][0]["fields"]}
    assert fields["Workflow"] == "`sdxl_alt`"
    assert fields["Size"] == "640x768"


async def test_a_bad_size_in_the_form_is_refused_privately_and_nothing_changes(kit: BotKit) -> None:
    panel = await kit.command("preferences", **at(LOUNGE))
    message = kit.message(panel)
    click = payloads.button_click(component(message, "Size and negative")["custom_id"], message=message, **at(LOUNGE))
    await payloads.dispatch_and_wait(kit.bot, click)
    modal = kit.callback(click).json["data"]
    submit = payloads.modal_submit(
        modal["custom_id"], {"size": "huge", "negative": ""}, message=message, label_wrapped=True, **at(LOUNGE)
    )
    await payloads.dispatch_and_wait(kit.bot, submit)
    assert "is not WIDTHxHEIGHT" in refusal(kit, submit)
    assert await kit.bot.policy.preferences(MEMBER) == type(await kit.bot.policy.preferences(MEMBER))()


# ---- the rules where the features meet: autocomplete of a named workflow, Retry of a removed one ----------------


async def _choices(kit: BotKit, command: str, option: str, where: int, **options: str) -> list[str]:
    payload = payloads.autocomplete(command, option, "", {"prompt": "x", **options}, **at(where))
    await payloads.dispatch_and_wait(kit.bot, payload)
    return [choice["value"] for choice in kit.discord.interaction(payload).autocomplete_choices or []]


async def test_an_age_restricted_workflow_named_outside_its_channels_offers_nothing_of_itself(kit: BotKit) -> None:
    """Typing an nsfw workflow's name in a normal channel or a DM must not list its parameters and choices."""
    assert "cfg" in await _choices(kit, "sweep", "x", AFTER_DARK, x="cfg", x_values="1", workflow=NSFW)
    for where in (LOUNGE, DM):
        assert await _choices(kit, "sweep", "x", where, x="cfg", x_values="1", workflow=NSFW) == []
        assert await _choices(kit, "sweep", "settings", where, x="cfg", x_values="1", workflow=NSFW) == []
        assert await _choices(kit, "generate", "settings", where, workflow=NSFW) == []


async def test_retry_of_a_job_whose_workflow_was_removed_is_refused_like_every_other_button(kit: BotKit) -> None:
    """Its graph would otherwise run unchecked: the channel allows only txt2img_sdxl, the job was sdxl_alt's."""
    await kit.bot.policy.update_settings(
        Scope.CHANNEL, LOUNGE, guild_id=payloads.GUILD_ID, by=ADMIN, workflows=("txt2img_sdxl",)
    )
    built = build_workflow(kit.bot.workflows.get("sdxl_alt"), {"prompt": "a lighthouse"})
    lost = job_record(
        job_id=uuid.uuid4().hex, owner_id=payloads.USER_ID, guild_id=payloads.GUILD_ID, channel_id=LOUNGE,
        message_id=None, workflow="sdxl_alt", params=dict(built.values), seed=built.seed or 0,
        prompt_id=str(uuid.uuid4()), status=JobStatus.LOST, created_at=time.time(),
        error="ComfyUI restarted", error_kind="lost", graph=built.graph,
    )  # fmt: skip
    await kit.bot.jobs.store.add(lost)
    remove_workflow(kit.bot.workflows, "sdxl_alt")
    message = kit.discord.add_message(
        payloads.message(components=JobControls().retry(lost).to_components(), author=payloads.bot_user())
    )
    click = payloads.button_click(f"discomfy:retry:{lost.job_id}", message=message, **at(LOUNGE))
    await payloads.dispatch_and_wait(kit.bot, click)

    answer = kit.callback(click).json
    assert answer["type"] == 4, answer
    assert answer["data"]["flags"] & FLAG_EPHEMERAL
    assert "sdxl_alt" in answer["data"]["embeds"][0]["description"]
    assert kit.comfy.prompts_received == 0
