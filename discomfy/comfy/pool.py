"""ComfyPool: every ComfyUI server the bot feeds, by name, each with its own ComfyService (client_id, socket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from discomfy.comfy.service import ComfyService
from discomfy.comfy.settings import ComfyServer, ComfySettings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PoolServer:
    """One server of the pool: its service, its share of the work, and whether an admin drained it."""

    name: str
    weight: float
    service: ComfyService
    drained: bool = False

    @property
    def connected(self) -> bool:
        return self.service.connected


class ComfyPool:
    """The servers in the order configured; the first is the one a job without a recorded server belongs to."""

    def __init__(self, servers: Sequence[PoolServer]) -> None:
        if not servers:
            raise ValueError("a ComfyPool needs at least one server")
        self._servers = {server.name: server for server in servers}
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    async def open(cls, servers: Sequence[ComfyServer], client_id: Callable[[str], Awaitable[str]]) -> Self:
        """Start a ComfyService per server, each under the client_id `client_id(name)` keeps for it.

        Returns at once: the sockets connect in the background.
        """
        pool = cls(
            [
                PoolServer(s.name, s.weight, ComfyService(s.settings, client_id=await client_id(s.name), name=s.name))
                for s in servers
            ]
        )
        try:
            for server in pool:
                await pool._stack.enter_async_context(server.service)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def close(self) -> None:
        """Close every service; idempotent."""
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ---- lookups ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[PoolServer]:
        return iter(self._servers.values())

    def __len__(self) -> int:
        return len(self._servers)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._servers)

    @property
    def multiple(self) -> bool:
        """More than one server: a job's message then says where it runs."""
        return len(self._servers) > 1

    @property
    def first(self) -> PoolServer:
        return next(iter(self._servers.values()))

    @property
    def settings(self) -> ComfySettings:
        """The tuning every server shares (timeouts, downloads, max_outputs)."""
        return self.first.service.settings

    def get(self, name: str | None) -> PoolServer | None:
        """The server of that name; '' or None (jobs stored before several servers were known) is the first."""
        return self._servers.get(name) if name else self.first

    @property
    def connected(self) -> bool:
        """At least one server's WebSocket is connected."""
        return any(server.connected for server in self)

    async def wait_connected(self, within: float) -> bool:
        """Wait until every server's WebSocket connected; False if one did not within `within` seconds."""
        results = await asyncio.gather(*(server.service.wait_connected(within) for server in self))
        return all(results)
