"""Several ComfyUI servers behind one bot: one service, client_id and WebSocket each, and jobs that know theirs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from PIL import Image

from discomfy.comfy import PoolServer
from discomfy.health import check_health, write_health
from discomfy.store import JobStatus
from discomfy.store.database import CLIENT_ID_KEY
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

MakeFake = Callable[..., Awaitable[FakeComfy]]


@pytest_asyncio.fixture
async def two(fake_comfy_factory: MakeFake) -> tuple[FakeComfy, FakeComfy]:
    return await fake_comfy_factory(), await fake_comfy_factory()


@contextlib.asynccontextmanager
async def _on_two(
    fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path, names: str, **sections: Any
) -> AsyncIterator[BotKit]:
    """The bot on both fakes, named `names` ("a b"), once both sockets are connected."""
    servers = dict(zip(names.split(), two, strict=True))
    async with start_bot(fake_discord, two[0], tmp_path, servers=servers, **sections) as started:
        assert await started.bot.comfy.wait_connected(10)
        yield started


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path) -> AsyncIterator[BotKit]:
    async with _on_two(fake_discord, two, tmp_path, "default gpu2") as started:
        yield started


async def test_each_server_has_its_own_client_id_and_websocket_kept_in_the_store_by_name(
    kit: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    default, gpu2 = (server.service for server in kit.bot.comfy)
    assert default.client_id != gpu2.client_id
    assert await kit.store.get_meta(CLIENT_ID_KEY) == default.client_id  # comfy.url's key, kept by "default"
    assert await kit.store.get_meta(f"{CLIENT_ID_KEY}:gpu2") == gpu2.client_id
    assert [fake.open_client_ids for fake in two] == [[default.client_id], [gpu2.client_id]]
    kit = await kit.restart()
    assert await kit.bot.comfy.wait_connected(10)
    assert [server.service.client_id for server in kit.bot.comfy] == [default.client_id, gpu2.client_id]


async def test_a_job_is_stored_with_the_server_it_was_sent_to(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a red fox", "steps": 2})
    await kit.settle()
    (record,) = await kit.records(payload)
    assert record.status is JobStatus.DONE
    assert record.server in kit.bot.comfy.names


# ---- routing ------------------------------------------------------------------------------------

FAIR = {"scheduler": {"look_ahead": 2}}


def png() -> bytes:
    image = Image.new("RGB", (64, 64), (200, 60, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest_asyncio.fixture
async def routed(
    fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path
) -> AsyncIterator[BotKit]:
    """Two servers, the bot's look-ahead at its default of 2; `plain` lacks the VAEEncode node img2img needs."""
    two[0].remove_node_class("VAEEncode")
    async with _on_two(fake_discord, two, tmp_path, "plain full", **FAIR) as started:
        await _capabilities_read(started)
        yield started


async def _until(predicate: Callable[[], object]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - the bot's own state, read as it changes
            await asyncio.sleep(0.01)


async def _capabilities_read(kit: BotKit) -> None:
    await _until(lambda: all(server.service.capabilities is not None for server in kit.bot.comfy))


def _server(kit: BotKit, name: str) -> PoolServer:
    server = kit.bot.comfy.get(name)
    assert server is not None
    return server


async def _held_jobs(kit: BotKit, two: tuple[FakeComfy, FakeComfy], first_user: int) -> list[dict[str, Any]]:
    """Four users' jobs while both servers hold everything: what each server got stays in its queue."""
    for fake in two:
        fake.hold()
    return [await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=first_user + i) for i in range(4)]


async def _servers_of(kit: BotKit, payloads_sent: list[dict[str, Any]]) -> list[str | None]:
    return [record.server for payload in payloads_sent for record in await kit.records(payload)]


async def test_jobs_go_to_the_least_loaded_server_taking_turns_when_equal(
    routed: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    sent = await _held_jobs(routed, two, 700)
    assert sorted(await _servers_of(routed, sent)) == ["full", "full", "plain", "plain"]
    assert [len(fake.pending_prompt_ids) for fake in two] == [2, 2]
    for fake in two:
        fake.release()
    await routed.settle()


async def test_other_clients_prompts_count_as_load(routed: BotKit, two: tuple[FakeComfy, FakeComfy]) -> None:
    plain, _full = two
    plain.hold()
    busy = _server(routed, "plain")
    graph = json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))
    for _ in range(2):  # another ComfyUI client's prompts, straight to the server
        await busy.service.client.submit(graph, client_id="someone-else", prompt_id=str(uuid.uuid4()))
    await busy.service.refresh_queue()  # as the next `status` broadcast would
    assert busy.service.last_queue is not None
    assert len(busy.service.last_queue.pending) == 2
    sent = [await routed.command("generate", {"prompt": "a fox", "steps": 2}, user_id=710 + i) for i in range(2)]
    assert await _servers_of(routed, sent) == ["full", "full"]
    plain.release()
    await routed.settle()


async def test_a_workflow_only_one_server_can_run_goes_there_with_its_image_even_when_the_other_is_idle(
    routed: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    plain, full = two
    full.hold()
    sent = []
    for user in (720, 721, 722):
        attachment = routed.discord.add_attachment("cat.png", png())
        sent.append(
            await routed.command(
                "generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment}, user_id=user
            )
        )
    assert await _servers_of(routed, sent) == ["full", "full", "full"]  # the third waits for room there
    assert (await routed.records(sent[2]))[0].status is JobStatus.WAITING
    assert plain.requests_to("/upload/image", "POST") == []
    assert plain.prompts_received == 0
    full.release()
    await routed.settle()
    records = [r for payload in sent for r in await routed.records(payload)]
    assert {r.status for r in records} == {JobStatus.DONE}
    assert all((full.input_dir / r.params["image"]).exists() for r in records)


async def test_when_no_server_can_run_a_workflow_the_user_is_told_what_is_missing(
    routed: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    _plain, full = two
    full.remove_node_class("VAEEncode")
    await full.drop_websockets()  # the node list is read again when the socket reconnects
    full_server = _server(routed, "full")
    await _until(
        lambda: full_server.service.capabilities and not full_server.service.capabilities.has_class("VAEEncode")
    )
    attachment = routed.discord.add_attachment("cat.png", png())
    payload = await routed.command("generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment})
    text = json.dumps(routed.message(payload)["embeds"])
    assert "No ComfyUI server can run Image to image" in text
    assert "plain lacks the node 'VAEEncode'" in text
    assert "full lacks the node 'VAEEncode'" in text
    assert "not reachable" not in text
    assert full.prompts_received == 0


async def test_a_restart_resumes_jobs_on_both_servers_each_from_its_own(
    routed: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    sent = await _held_jobs(routed, two, 730)
    kit = await routed.restart()
    assert await kit.bot.comfy.wait_connected(10)
    for fake in two:
        fake.release()
    await kit.settle()
    records = [r for payload in sent for r in await kit.records(payload)]
    assert {r.status for r in records} == {JobStatus.DONE}
    plain, full = two
    assert {r.prompt_id for r in records if r.server == "plain"} == set(plain.history)
    assert {r.prompt_id for r in records if r.server == "full"} == set(full.history)
    assert len(plain.history) == len(full.history) == 2


# ---- failover -----------------------------------------------------------------------------------

FAILOVER = {"scheduler": {"look_ahead": 2, "failover_grace": 0.3}}


@pytest_asyncio.fixture
async def failing(
    fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path
) -> AsyncIterator[BotKit]:
    async with _on_two(
        fake_discord, two, tmp_path, "a b", comfy_settings={"reconnect_max_delay": 0.5}, **FAILOVER
    ) as kit:
        yield kit


async def test_a_server_away_past_the_grace_period_has_its_waiting_jobs_finish_elsewhere_exactly_once(
    failing: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    away, other = two
    sent = await _held_jobs(failing, two, 740)
    assert sorted(await _servers_of(failing, sent)) == ["a", "a", "b", "b"]
    old_prompts = set(away.pending_prompt_ids)
    outage = asyncio.create_task(away.restart(downtime=3.0, keep_queue=True))  # back with its queue intact
    other.release()
    await failing.settle(30)
    await outage
    records = [r for payload in sent for r in await failing.records(payload)]
    assert {(r.status, r.server) for r in records} == {(JobStatus.DONE, "b")}
    assert {r.prompt_id for r in records} == set(other.history)  # each ran once, all on b
    assert not old_prompts & {r.prompt_id for r in records}  # the moved ones went under new prompt ids
    await away.wait_until(lambda: not away.pending_prompt_ids, 15)  # taken back once a answered again
    away.release()
    await away.wait_idle()
    assert away.history == {}  # nothing ran twice
    uploads = [
        r for r in failing.discord.requests if r.status == 200 and any(f.filename != "preview.jpg" for f in r.files)
    ]
    assert len(uploads) == 4
    assert {json.dumps(failing.message(p)["embeds"][0]["title"]) for p in sent} == {'"Done"'}


async def test_a_moved_prompt_is_still_taken_back_when_its_server_answers_after_a_bot_restart(
    failing: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    away, other = two
    sent = await _held_jobs(failing, two, 750)
    old_prompts = set(away.pending_prompt_ids)
    assert old_prompts
    outage = asyncio.create_task(away.restart(downtime=6.0, keep_queue=True))
    other.release()
    await failing.settle(30)  # moved to b and delivered from there
    assert not outage.done()  # a is still away when the bot restarts: only the store remembers the old prompts
    kit = await failing.restart()
    await outage
    await away.wait_until(lambda: not away.pending_prompt_ids, 15)
    away.release()
    await away.wait_idle()
    assert away.history == {}  # the old copies never ran for nobody
    records = [r for payload in sent for r in await kit.records(payload)]
    assert {(r.status, r.server) for r in records} == {(JobStatus.DONE, "b")}


async def test_a_job_running_on_a_server_that_restarted_is_lost_and_its_retry_routes_afresh(
    failing: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    first, second = two
    first.step_delay = 0.2
    payload = await failing.command("generate", {"prompt": "a lighthouse", "steps": 50}, user_id=760)
    (record,) = await failing.records(payload)
    running_on = first if record.server == "a" else second
    await running_on.wait_running()
    await running_on.restart(downtime=0.5)  # it started: it is not moved, ComfyUI forgets it
    await failing.settle(30)
    message = failing.message(payload)
    assert message["embeds"][0]["title"] == "Lost"
    retry = next(c for row in message["components"] for c in row["components"] if ":retry:" in c["custom_id"])
    running_on.hold()  # busy now: the retry goes to the other server
    busy = _server(failing, record.server or "")
    graph = json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))
    await busy.service.client.submit(graph, client_id="someone-else", prompt_id=str(uuid.uuid4()))
    await busy.service.refresh_queue()
    click = payloads.button_click(retry["custom_id"], message=message, user_id=760)
    await payloads.dispatch_and_wait(failing.bot, click)
    await failing.settle(30)
    retried = [r for r in await failing.store.history(760, limit=5) if r.job_id != record.job_id]
    assert [(r.status, r.server) for r in retried] == [(JobStatus.DONE, "b" if record.server == "a" else "a")]
    running_on.release()


# ---- /queue, /server drain|resume, the message, health ---------------------------------------------

ADMIN = payloads.USER_ID + 1


@pytest_asyncio.fixture
async def admin_kit(
    fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path
) -> AsyncIterator[BotKit]:
    admins = {"admin_user_ids": [ADMIN]}
    async with _on_two(fake_discord, two, tmp_path, "a b", scheduler={"look_ahead": 1}, discord=admins) as started:
        yield started


def _embed(kit: BotKit, payload: dict[str, Any]) -> dict[str, Any]:
    return kit.message(payload)["embeds"][0]


def _field(embed: dict[str, Any], name: str) -> str:
    return next(f["value"] for f in embed.get("fields", []) if f["name"] == name)


async def test_queue_shows_each_server_its_gpu_and_the_bots_own_queue(
    admin_kit: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    for fake in two:
        fake.hold()
    for user in (780, 781, 782):
        await admin_kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=user)
    payload = await admin_kit.command("queue", user_id=ADMIN)
    embed = _embed(admin_kit, payload)
    servers = _field(embed, "Servers").splitlines()
    assert servers == [
        "**a** · connected · 0 running, 1 waiting (1 ours) · cpu · 22.6 of 23.5 GB free",
        "**b** · connected · 0 running, 1 waiting (1 ours) · cpu · 22.6 of 23.5 GB free",
    ]
    assert "⏳ waiting on a" in embed["description"]
    assert "⏳ waiting on b" in embed["description"]
    assert "`#1` 🕒 in the bot's queue" in embed["description"]
    for fake in two:
        fake.release()
    await admin_kit.settle()


async def test_a_drained_server_gets_no_new_jobs_even_after_a_restart_until_resumed(
    admin_kit: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    refused = await admin_kit.command("server", {"name": "b"}, subcommand="drain", user_id=payloads.USER_ID)
    assert "Only DisComfy admins" in json.dumps(admin_kit.callback(refused).json)
    assert not _server(admin_kit, "b").drained
    done = await admin_kit.command("server", {"name": "b"}, subcommand="drain", user_id=ADMIN)
    assert "is drained" in json.dumps(admin_kit.callback(done).json)
    kit = await admin_kit.restart()
    assert await kit.bot.comfy.wait_connected(10)
    assert _server(kit, "b").drained  # kept in the store
    sent = [await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=790 + i) for i in range(3)]
    await kit.settle()
    assert await _servers_of(kit, sent) == ["a", "a", "a"]
    queue = _embed(kit, await kit.command("queue", user_id=ADMIN))
    assert "drained (nothing new goes there)" in _field(queue, "Servers").splitlines()[1]
    await kit.command("server", {"name": "b"}, subcommand="resume", user_id=ADMIN)
    two[0].hold()  # a is busy: the next job goes to b again
    more = [await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=795 + i) for i in range(2)]
    assert sorted(await _servers_of(kit, more)) == ["a", "b"]
    two[0].release()
    await kit.settle()


async def test_with_several_servers_a_jobs_message_says_where_it_ran(admin_kit: BotKit) -> None:
    payload = await admin_kit.command("generate", {"prompt": "a fox", "steps": 2})
    await admin_kit.settle()
    (record,) = await admin_kit.records(payload)
    assert _field(_embed(admin_kit, payload), "Server") == record.server


async def test_the_heartbeat_names_each_server_and_stays_healthy_while_one_is_connected(
    admin_kit: BotKit, two: tuple[FakeComfy, FakeComfy], tmp_path: Path
) -> None:
    await _until(admin_kit.bot.health_path.exists)
    beat = json.loads(admin_kit.bot.health_path.read_text(encoding="utf-8"))
    assert beat["servers"] == {"a": True, "b": True}
    path = tmp_path / "beat.json"
    write_health(path, discord_ready=True, comfy_connected=True, servers={"a": True, "b": False})
    healthy, reason = check_health(path)
    assert healthy
    assert "ComfyUI server(s) b not connected" in reason
    assert json.loads(path.read_text(encoding="utf-8"))["status"] == "healthy"
    write_health(path, discord_ready=True, comfy_connected=False, servers={"a": False, "b": False})
    assert not check_health(path)[0]
    assert json.loads(path.read_text(encoding="utf-8"))["status"] == "degraded"
