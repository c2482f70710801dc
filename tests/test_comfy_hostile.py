"""A hostile or broken server in front of the client: whatever it answers, DisComfy settles and says why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from discomfy.comfy import ComfyConnectionError, ComfyHTTPError, ComfyService, ComfySettings, WorkflowRejectedError
from discomfy.comfy import client as client_module
from discomfy.comfy.client import ComfyClient
from testing.comfy_server import FakeComfy
from tests.test_comfy_service import sampler_graph

HOSTILE_400 = [
    ("[1, 2, 3]", "without saying why"),
    ('"just a string"', "without saying why"),
    ("<html><body>Bad Request</body></html>", "without saying why"),
    ('{"error": 5, "node_errors": [1, 2]}', "the workflow is invalid"),
    ('{"error": {"message": "Prompt outputs failed validation"}, "node_errors": {"3": 7, "4": [1]}}', "failed"),
    ('{"error": "bad", "node_errors": {"3": {"errors": [1, {"type": 2, "extra_info": [5]}], "class_type": 9}}}', "bad"),
]


@pytest_asyncio.fixture
async def hostile() -> AsyncIterator[tuple[ComfyClient, dict[str, tuple[int, str]]]]:
    """A server on loopback that answers POST /prompt with whatever the test puts in `answers`."""
    answers: dict[str, tuple[int, str]] = {}

    async def answer(request: web.Request) -> web.Response:
        status, body = answers[request.path]
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/prompt", answer)
    app.router.add_get("/queue", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield ComfyClient(session, ComfySettings(url=f"http://127.0.0.1:{port}", submit_retries=0)), answers
    await runner.cleanup()


@pytest.mark.parametrize(("body", "reason"), HOSTILE_400)
async def test_any_400_body_becomes_a_rejection_with_a_reason(hostile, body: str, reason: str) -> None:
    client, answers = hostile
    answers["/prompt"] = (400, body)
    with pytest.raises(WorkflowRejectedError) as caught:
        await client.submit({"1": {"class_type": "X", "inputs": {}}}, client_id="c", prompt_id="p")
    assert reason in str(caught.value)


@pytest.mark.parametrize("body", ["[1]", '"ok"', '{"number": "x"}', "<html>"])
async def test_a_200_that_is_not_comfyuis_answer_is_an_http_error_not_a_crash(hostile, body: str) -> None:
    client, answers = hostile
    answers["/prompt"] = (200, body)
    with pytest.raises(ComfyHTTPError):
        await client.submit({}, client_id="c", prompt_id="p")


@dataclass
class SilentServer:
    """A server that accepts TCP connections and never answers anything (a hung ComfyUI or proxy)."""

    url: str
    connections: list[asyncio.StreamWriter] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)


@pytest_asyncio.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    silent = SilentServer("")

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.connections.append(writer)
        async with silent.arrived:
            silent.arrived.notify_all()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    silent.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield silent
    for writer in silent.connections:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_comfyui_that_never_answers_is_reported_within_seconds_not_minutes(
    silent_server: SilentServer, tmp_path: Path
) -> None:
    settings = ComfySettings(url=silent_server.url, request_timeout=2.0, download_dir=tmp_path)
    async with ComfyService(settings) as comfy:
        async with silent_server.arrived:  # the WebSocket's handshake times out: ComfyUI is down
            await asyncio.wait_for(silent_server.arrived.wait_for(lambda: comfy.tracker.failures > 0), 10)
        submitting = asyncio.create_task(comfy.submit({"1": {"class_type": "X", "inputs": {}}}))
        # 5 POSTs of `request_timeout` plus queue checks between them took 21 s here (4.5 minutes at the default
        # 30 s); with the WebSocket down the whole submission has a few seconds.
        with pytest.raises(ComfyConnectionError, match="not reachable"):
            await asyncio.wait_for(submitting, 15)


async def test_the_websocket_handshake_gives_up_on_the_request_timeout_and_tries_again(
    silent_server: SilentServer, tmp_path: Path
) -> None:
    settings = ComfySettings(
        url=silent_server.url, request_timeout=0.3, reconnect_min_delay=0.05, download_dir=tmp_path
    )
    async with ComfyService(settings), silent_server.arrived:
        # aiohttp's own handshake timeout is 300 s: a second connection would never come within the test
        await asyncio.wait_for(silent_server.arrived.wait_for(lambda: len(silent_server.connections) >= 2), 10)


async def test_an_answer_larger_than_the_cap_is_refused_not_held_in_memory(
    hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, answers = hostile
    monkeypatch.setattr(client_module, "MAX_ANSWER_BYTES", 1024 * 1024)  # the real cap is 128 MiB
    pending = [[n, f"p{n}", {}, {"client_id": "x" * 2000}, []] for n in range(1000)]  # about 2 MB
    answers["/queue"] = (200, json.dumps({"queue_running": [], "queue_pending": pending}))
    with pytest.raises(ComfyHTTPError) as caught:
        await client.queue()
    assert "too large" in caught.value.for_log


async def test_a_large_answer_under_the_cap_is_read_whole(hostile) -> None:
    client, answers = hostile
    pending = [[n, f"p{n}", {}, {"client_id": "x" * 2000}, []] for n in range(1000)]  # parsed off the event loop
    answers["/queue"] = (200, json.dumps({"queue_running": [], "queue_pending": pending}))
    state = await client.queue()
    assert len(state.pending) == 1000


async def test_a_submission_whose_answer_came_too_late_is_taken_back(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    """The job is reported failed, so it must not run for nobody (nor twice once the user presses Retry)."""
    fake_comfy.hold()
    fake_comfy.delay_answers["/prompt"] = 2.0  # queued at once, answered after the deadline
    settings = ComfySettings(url=fake_comfy.url, submit_deadline=0.5, submit_retries=0, download_dir=tmp_path)
    async with ComfyService(settings) as comfy:
        assert await comfy.wait_connected(5)
        with pytest.raises(ComfyConnectionError):
            await comfy.submit(sampler_graph(steps=1))
        fake_comfy.delay_answers.clear()
        deletes = lambda: [r for r in fake_comfy.requests_to("/queue", "POST") if (r.json or {}).get("delete")]  # noqa: E731
        await fake_comfy.wait_until(lambda: bool(deletes()), timeout=10)
        fake_comfy.release()
        await fake_comfy.wait_idle()
    assert fake_comfy.prompts_accepted == 1  # ComfyUI had taken it all the same
    assert fake_comfy.history == {}  # and it never ran


async def test_a_job_cancelled_while_the_answer_to_its_submission_is_on_its_way_never_runs(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.hold()
    fake_comfy.delay_answers["/prompt"] = 1.0  # queued at once, answered a second later
    async with ComfyService(ComfySettings(url=fake_comfy.url, download_dir=tmp_path)) as comfy:
        assert await comfy.wait_connected(5)
        submitting = asyncio.create_task(comfy.submit(sampler_graph(steps=1)))
        await fake_comfy.wait_until(lambda: fake_comfy.prompts_accepted == 1)
        (prompt_id,) = comfy.jobs
        assert await comfy.cancel(prompt_id)  # the user pressed Cancel
        job = await submitting
        assert job.done
        fake_comfy.delay_answers.clear()
        await fake_comfy.wait_until(lambda: not fake_comfy.pending_prompt_ids)
        fake_comfy.release()
        await fake_comfy.wait_idle()
    assert fake_comfy.history == {}
