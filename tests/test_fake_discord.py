"""Proves the Discord harness: a throwaway bot runs discord.py's real code against FakeDiscordAPI.

The bot below exists only to exercise the harness; DisComfy's own bot is tested the same way.
"""

from __future__ import annotations

import io
import re
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Self

import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from testing import payloads
from testing.discord_api import FakeDiscordAPI

FOLLOWUP = r"^/webhooks/\d+/[^/]+$"
ORIGINAL = r"^/webhooks/\d+/[^/]+/messages/@original$"
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
WORKFLOWS = ("default", "portrait", "landscape")
ADMIN_ROLE_ID = 1_300_000_000_000_000_900


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size (black pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


RENDER_PNG = _png(4, 3)


# --- the throwaway bot ----------------------------------------------------------------------------


class LikeButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"harness:like:(?P<job>[0-9a-f]+)",
):
    def __init__(self, job: str) -> None:
        super().__init__(discord.ui.Button(label="Like", custom_id=f"harness:like:{job}"))
        self.job = job

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[discord.ui.View],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        assert isinstance(interaction.client, HarnessBot)
        interaction.client.liked.append(self.job)
        await interaction.response.edit_message(content=f"liked {self.job}")


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Feedback", custom_id="harness:feedback:text"
    )

    def __init__(self) -> None:
        super().__init__(custom_id="harness:feedback")

    async def on_submit(self, interaction: discord.Interaction[discord.Client], /) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


class WorkflowSelectView(discord.ui.View):
    """A persistent view (timeout None, fixed custom_id) answering with a deferred update."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.select(
        custom_id="harness:workflow",
        options=[discord.SelectOption(label=w, value=w) for w in WORKFLOWS],
    )
    async def choose(self, interaction: discord.Interaction[discord.Client], select: discord.ui.Select[Self]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"workflow: {select.values[0]}")


class RecordingTree(app_commands.CommandTree[discord.Client]):
    errors: list[BaseException]

    async def on_error(
        self,
        interaction: discord.Interaction[discord.Client],
        error: app_commands.AppCommandError,
        /,
    ) -> None:
        self.errors.append(getattr(error, "original", error))


@app_commands.command()
async def render(interaction: discord.Interaction[HarnessBot], prompt: str) -> None:
    """Render an image."""
    await interaction.response.defer(thinking=True)
    for step in (1, 2):
        embed = discord.Embed(title="Rendering", description=prompt)
        embed.add_field(name="Progress", value=f"{step}/2")
        await interaction.edit_original_response(embed=embed)
    view = discord.ui.View(timeout=None)
    view.add_item(LikeButton("3f2a"))
    interaction.client.last_followup = await interaction.followup.send(
        content="done",
        file=discord.File(io.BytesIO(RENDER_PNG), filename="render.png"),
        view=view,
        wait=True,
    )


@app_commands.command()
async def pick(interaction: discord.Interaction[discord.Client], workflow: str) -> None:
    """Pick a workflow."""
    await interaction.response.send_message(workflow)


@pick.autocomplete("workflow")
async def _workflow_choices(
    interaction: discord.Interaction[discord.Client], current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=w, value=w) for w in WORKFLOWS if current in w]


@app_commands.command()
async def describe(interaction: discord.Interaction[discord.Client], image: discord.Attachment) -> None:
    """Describe an uploaded image."""
    data = await image.read()
    await interaction.response.send_message(f"{image.filename}:{image.size}:{len(data)}:{image.content_type}")


@app_commands.command()
@app_commands.checks.has_role(ADMIN_ROLE_ID)
async def admin(interaction: discord.Interaction[discord.Client]) -> None:
    """Admins only."""
    await interaction.response.send_message("admin ok", ephemeral=True)


queue = app_commands.Group(name="queue", description="The render queue.")


@queue.command()
async def clear(interaction: discord.Interaction[discord.Client], force: bool = False) -> None:
    """Clear the queue."""
    await interaction.response.send_message(f"cleared force={force}")


@app_commands.command()
async def feedback(interaction: discord.Interaction[discord.Client]) -> None:
    """Open the feedback form."""
    await interaction.response.send_modal(FeedbackModal())


class HarnessBot(commands.Bot):
    tree: RecordingTree  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=RecordingTree,
        )
        self.tree.errors = []
        self.liked: list[str] = []
        self.last_followup: discord.WebhookMessage | None = None

    async def setup_hook(self) -> None:
        self.add_dynamic_items(LikeButton)
        self.add_view(WorkflowSelectView())
        for command in (render, pick, describe, admin, queue, feedback):
            self.tree.add_command(command)
        guild = discord.Object(payloads.GUILD_ID)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)


@pytest_asyncio.fixture
async def bot(fake_discord: FakeDiscordAPI) -> AsyncIterator[HarnessBot]:
    harness = HarnessBot()
    async with harness:
        await harness.login("test-token")
        yield harness
    assert harness.tree.errors == []
    assert fake_discord.unhandled == []


def command(name: str, options: dict[str, object] | None = None) -> payloads.Payload:
    """A guild slash command, as the copied-to-guild commands are invoked."""
    return payloads.slash_command(name, options, command_guild_id=payloads.GUILD_ID)


# --- tests ---------------------------------------------------------------------------------------


async def test_login_reads_identity_and_syncs_guild_commands(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    assert bot.application_id == payloads.APPLICATION_ID
    assert bot.user is not None
    assert bot.user.id == payloads.BOT_USER_ID
    (me,) = fake_discord.calls("GET", r"^/users/@me$")
    assert me.headers["Authorization"] == "Bot test-token"
    (sync,) = fake_discord.calls("PUT", rf"^/applications/\d+/guilds/{payloads.GUILD_ID}/commands$")
    assert {c["name"] for c in sync.json} == {"render", "pick", "describe", "admin", "queue", "feedback"}
    assert fake_discord.command_id("render", payloads.GUILD_ID) > 0


async def test_render_defers_edits_original_with_embeds_then_sends_file_followup(
    fake_discord: FakeDiscordAPI, bot: HarnessBot
) -> None:
    await payloads.dispatch_and_wait(bot, command("render", {"prompt": "a cat"}))

    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json == {"type": 5}
    edits = fake_discord.calls("PATCH", ORIGINAL)
    assert [e.json["embeds"][0]["fields"][0]["value"] for e in edits] == ["1/2", "2/2"]
    assert edits[0].json["embeds"][0]["title"] == "Rendering"
    assert edits[0].json["embeds"][0]["description"] == "a cat"

    (followup,) = fake_discord.calls("POST", FOLLOWUP)
    assert followup.multipart
    assert followup.query["wait"] == "1"
    (part,) = followup.files
    assert (part.name, part.filename, part.size) == ("files[0]", "render.png", len(RENDER_PNG))
    assert part.content_type == "application/octet-stream"  # discord.py labels every part so
    assert part.data == RENDER_PNG
    assert followup.json["attachments"] == [{"id": 0, "filename": "render.png"}]

    sent = bot.last_followup
    assert sent is not None
    (attachment,) = sent.attachments
    assert (attachment.filename, attachment.size) == ("render.png", len(RENDER_PNG))
    assert attachment.content_type == "image/png"
    assert (attachment.width, attachment.height) == (4, 3)
    assert await attachment.read() == RENDER_PNG


async def test_autocomplete_is_answered_with_type_8_choices(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    payload = payloads.autocomplete("pick", "workflow", "scape", command_guild_id=payloads.GUILD_ID)
    await payloads.dispatch_and_wait(bot, payload)

    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json["type"] == 8
    assert [c["value"] for c in callback.json["data"]["choices"]] == ["landscape"]
    assert fake_discord.interaction(payload).autocomplete_choices is not None


async def test_attachment_option_is_downloaded_from_the_fake_cdn(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    upload = fake_discord.add_attachment("cat.png", RENDER_PNG)
    await payloads.dispatch_and_wait(bot, command("describe", {"image": upload}))

    (download,) = fake_discord.calls("GET", r"^/attachments/")
    assert download.status == 200
    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json["type"] == 4
    size = len(RENDER_PNG)
    assert callback.json["data"]["content"] == f"cat.png:{size}:{size}:image/png"


async def test_dynamic_button_click_is_routed_by_custom_id(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    await payloads.dispatch_and_wait(bot, command("render", {"prompt": "a cat"}))
    assert bot.last_followup is not None
    message = fake_discord.messages[bot.last_followup.id]

    click = payloads.button_click("harness:like:3f2a", message=message, user_id=42)
    await payloads.dispatch_and_wait(bot, click)

    assert bot.liked == ["3f2a"]
    callback = fake_discord.calls("POST", CALLBACK)[-1]
    assert callback.json["type"] == 7
    assert callback.json["data"]["content"] == "liked 3f2a"
    assert fake_discord.messages[bot.last_followup.id]["content"] == "liked 3f2a"


async def test_subcommand_options_reach_the_subcommand(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    payload = payloads.slash_command("queue", {"force": True}, subcommand="clear", command_guild_id=payloads.GUILD_ID)
    await payloads.dispatch_and_wait(bot, payload)

    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json["data"]["content"] == "cleared force=True"


async def test_modal_submission_reaches_the_modal_the_bot_sent(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    await payloads.dispatch_and_wait(bot, command("feedback"))
    (opened,) = fake_discord.calls("POST", CALLBACK)
    assert opened.json["type"] == 9
    assert opened.json["data"]["custom_id"] == "harness:feedback"

    submit = payloads.modal_submit("harness:feedback", {"harness:feedback:text": "great"})
    await payloads.dispatch_and_wait(bot, submit)

    answer = fake_discord.calls("POST", CALLBACK)[-1]
    assert answer.json["type"] == 4
    assert answer.json["data"]["content"] == "thanks: great"
    assert answer.json["data"]["flags"] == 64  # ephemeral


async def test_rate_limited_followup_is_waited_out_then_delivered(
    fake_discord: FakeDiscordAPI, bot: HarnessBot
) -> None:
    fake_discord.fail_next("POST", FOLLOWUP, 429, retry_after=0.2)

    await payloads.dispatch_and_wait(bot, command("render", {"prompt": "a cat"}))

    limited, delivered = fake_discord.calls("POST", FOLLOWUP)
    assert (limited.status, limited.injected) == (429, True)
    assert limited.response == {
        "message": "You are being rate limited.",
        "retry_after": 0.2,
        "global": False,
    }
    assert delivered.status == 200
    assert delivered.received_at - limited.received_at >= 0.19  # retry_after was honoured
    assert delivered.files[0].size == len(RENDER_PNG)  # the file was re-sent from the start
    assert bot.last_followup is not None
    assert bot.last_followup.id in fake_discord.messages
    assert fake_discord.pending_faults == 0


async def test_rate_limited_channel_send_is_waited_out_by_the_http_client(
    fake_discord: FakeDiscordAPI, bot: HarnessBot
) -> None:
    fake_discord.fail_next("POST", r"^/channels/\d+/messages$", 429, retry_after=0.2)
    channel = bot.get_partial_messageable(payloads.CHANNEL_ID)

    sent = await channel.send("hello")

    statuses = [r.status for r in fake_discord.calls("POST", r"^/channels/\d+/messages$")]
    assert statuses == [429, 200]
    assert fake_discord.messages[sent.id]["content"] == "hello"


async def test_server_error_on_followup_is_retried(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    fake_discord.fail_next("POST", FOLLOWUP, 500)

    await payloads.dispatch_and_wait(bot, command("render", {"prompt": "a cat"}))

    assert [r.status for r in fake_discord.calls("POST", FOLLOWUP)] == [500, 200]
    assert bot.last_followup is not None
    assert bot.last_followup.attachments[0].filename == "render.png"


async def test_editing_a_message_the_user_deleted_raises_not_found(
    fake_discord: FakeDiscordAPI, bot: HarnessBot
) -> None:
    await payloads.dispatch_and_wait(bot, command("render", {"prompt": "a cat"}))
    followup = bot.last_followup
    assert followup is not None
    fake_discord.delete_message(payloads.CHANNEL_ID, followup.id)

    with pytest.raises(discord.NotFound) as raised:
        await followup.edit(content="too late")

    assert raised.value.code == 10008
    assert fake_discord.calls("PATCH", rf"/messages/{followup.id}$")[0].status == 404


async def test_editing_a_deleted_channel_message_raises_not_found(
    fake_discord: FakeDiscordAPI, bot: HarnessBot
) -> None:
    sent = await bot.get_partial_messageable(payloads.CHANNEL_ID).send("hello")
    fake_discord.delete_message(payloads.CHANNEL_ID, sent.id)

    with pytest.raises(discord.NotFound) as raised:
        await sent.edit(content="too late")

    assert raised.value.code == 10008


async def test_select_on_a_persistent_view_defers_the_update_and_edits_its_message(
    fake_discord: FakeDiscordAPI, bot: HarnessBot
) -> None:
    choice = payloads.select("harness:workflow", ["portrait"], message_id=payloads.snowflake())
    await payloads.dispatch_and_wait(bot, choice)

    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json == {"type": 6}
    (edit,) = fake_discord.calls("PATCH", ORIGINAL)
    assert edit.json["content"] == "workflow: portrait"
    assert fake_discord.messages[int(choice["message"]["id"])]["content"] == "workflow: portrait"


async def test_role_checks_resolve_roles_from_the_guild_cache(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    payloads.guild_create(bot, payloads.guild(roles=[payloads.role(ADMIN_ROLE_ID, name="ComfyAdmin")]))

    await payloads.dispatch_and_wait(bot, command("admin"))  # a member without the role
    admin_call = payloads.slash_command("admin", roles=[ADMIN_ROLE_ID], command_guild_id=payloads.GUILD_ID)
    await payloads.dispatch_and_wait(bot, admin_call)

    assert [type(e) for e in bot.tree.errors] == [app_commands.MissingRole]
    bot.tree.errors.clear()
    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json["data"]["content"] == "admin ok"


async def test_dm_interaction_parses_without_any_guild(fake_discord: FakeDiscordAPI, bot: HarnessBot) -> None:
    seen: list[discord.Interaction[discord.Client]] = []

    async def on_interaction(interaction: discord.Interaction[discord.Client]) -> None:
        seen.append(interaction)

    bot.add_listener(on_interaction)

    await payloads.dispatch_and_wait(bot, payloads.slash_command("pick", {"workflow": "x"}, guild_id=None))

    (interaction,) = seen
    assert interaction.guild is None
    assert isinstance(interaction.user, discord.User)
    assert isinstance(interaction.channel, discord.DMChannel)
    (callback,) = fake_discord.calls("POST", CALLBACK)
    assert callback.json["data"]["content"] == "x"


def test_only_loopback_is_reachable(fake_discord: FakeDiscordAPI) -> None:
    assert fake_discord.api_base == discord.http.Route.BASE
    with pytest.raises(AssertionError, match="only loopback"):
        socket.getaddrinfo("discord.com", 443)
