"""A hostile or broken server in front of the client: whatever it answers, DisComfy settles and says why."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from discomfy.comfy import ComfyHTTPError, ComfySettings, WorkflowRejectedError
from discomfy.comfy.client import ComfyClient

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

    async def prompt(request: web.Request) -> web.Response:
        status, body = answers["/prompt"]
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/prompt", prompt)
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
