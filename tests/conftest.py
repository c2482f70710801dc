# --- fake Discord fixtures ---
# Owned by the Discord test harness (testing/discord_api.py, testing/payloads.py).
from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from testing.discord_api import FakeDiscordAPI, guard_loopback


@pytest_asyncio.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscordAPI]:
    """A started FakeDiscordAPI on 127.0.0.1 with ``discord.http.Route.BASE`` (REST, interaction
    callbacks and webhooks) and ``discord.asset.Asset.BASE`` pointing at it.  Resolving or
    connecting to anything but loopback fails the test."""
    guard_loopback(monkeypatch)
    async with FakeDiscordAPI() as fake:
        fake.install(monkeypatch)
        yield fake


# --- end fake Discord fixtures ---


# --- fake ComfyUI fixtures ---
# Owned by the fake ComfyUI server (testing/comfy_server.py, testing/comfy_nodes.py).
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from testing.comfy_server import FakeComfy  # noqa: E402


@pytest_asyncio.fixture
async def fake_comfy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FakeComfy]:
    """A started FakeComfy on 127.0.0.1 (free port, step_delay 0.005 s), closed after the test."""
    async with FakeComfy(output_dir=tmp_path_factory.mktemp("comfy_output")) as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_comfy_factory() -> AsyncIterator[Callable[..., Awaitable[FakeComfy]]]:
    """``await fake_comfy_factory(step_delay=..., output_dir=...)``: more started fakes, all
    closed after the test."""
    fakes: list[FakeComfy] = []

    async def make(**kwargs: Any) -> FakeComfy:
        fake = FakeComfy(**kwargs)
        await fake.start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        await fake.close()


# --- end fake ComfyUI fixtures ---


# --- isolation ---
import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_logging() -> Iterator[None]:
    """Undo what a test's code configured on the root logger (the command line's setup_logging), so that no test
    depends on which tests ran before it in the same process; xdist workers each run a different subset."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- end isolation ---


# --- hypothesis ---
# The same examples on every run and no per-example deadline: a shared CI machine must not turn a run red by
# chance (a property that fails is still found: run with HYPOTHESIS_PROFILE=explore for fresh random examples).
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
