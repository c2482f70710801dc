"""Scheduler: the bot's own queue in front of the ComfyUI servers, deciding which job goes next and where.

Only `scheduler.look_ahead` prompts of ours are in each server's queue at once; the rest wait here, where the
turns are fair (FairQueue). Whenever a server has room (a job there ended, a server connected, a job was
added) the next jobs in fair order are handed to `dispatch` with the server chosen for them. A server away
longer than `scheduler.failover_grace` has its jobs that have not started taken back and sent elsewhere first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from discomfy.comfy import PromptStatus
from discomfy.ids import short_id
from discomfy.scheduler.errors import NoServerCanRunError, UnknownServerError
from discomfy.scheduler.fair import FairQueue
from discomfy.scheduler.routing import Candidate, choose
from discomfy.store import JobStatus
from discomfy.store.errors import StoreError
from discomfy.tasks import BackgroundTasks
from discomfy.workflows.check import missing_pieces

if TYPE_CHECKING:
    from discomfy.comfy import ComfyPool, PoolServer
    from discomfy.comfy.object_info import ObjectInfo
    from discomfy.config import SchedulerSettings
    from discomfy.job import Job
    from discomfy.store import JobRecord, JobStore

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between looks at the servers when nothing else wakes the scheduler
DRAINED_KEY = "server_drained:"  # + a server's name, in the store's meta: "1" while an admin has it drained
TAKE_BACK_KEY = "server_take_back:"  # + a server's name: JSON list of the prompt ids moved off it, not yet deleted

Dispatch = Callable[["Job", "PoolServer"], Coroutine[Any, Any, None]]
Refuse = Callable[["Job", NoServerCanRunError], Coroutine[Any, Any, None]]


class Scheduler:
    """Fair turns across users, at most `look_ahead` of our prompts per server, each to the least loaded one."""

    def __init__(
        self, pool: ComfyPool, settings: SchedulerSettings, dispatch: Dispatch, refuse: Refuse, store: JobStore
    ) -> None:
        self.pool = pool
        self._refuse = refuse  # a waiting job no server can run any more: it fails, saying what is missing
        self.store = store  # where a drained server stays drained across restarts
        self.settings = settings
        self.queue: FairQueue[Job] = FairQueue()
        self._dispatch = dispatch
        self._sent: dict[str, set[Job]] = {server.name: set() for server in pool}  # ours there, not done
        self._wake = asyncio.Event()
        self._tasks = BackgroundTasks()
        self._loop: asyncio.Task[None] | None = None
        self._rotation = 0  # round robin among servers equally loaded
        self._fits: dict[tuple[Job, str], tuple[ObjectInfo, tuple[str, ...]]] = {}  # what a server lacks for it
        self._moved: list[Job] = []  # sent before, taken back (server away, or unreachable): first in line
        self._down_since: dict[str, float] = {}  # servers not connected, since when (time.monotonic)
        self._take_back_lock = asyncio.Lock()
        self._taken_back: set[str] = set()  # prompt ids being taken back when the bot started (load_drained)

    # ---- the queue ----------------------------------------------------------------------------

    def add(self, job: Job) -> None:
        """Queue a stored WAITING job behind the others (its owner's line; an admin's request ahead of everyone's
        with scheduler.admins_first); it goes out when its turn comes."""
        self.queue.add(job.record.owner_id, job, priority=job.record.priority and self.settings.admins_first)
        self.kick()

    def discard(self, job: Job) -> bool:
        """Take a job out of the bot's queue without running it (cancelled); False if it was not waiting."""
        if job in self._moved:
            self._moved.remove(job)
        elif not self.queue.discard(job):
            return False
        self._forget(job)
        job.queue_position = None
        self.kick()
        return True

    def requeue(self, job: Job) -> None:
        """A job sent before goes out again, before every job still waiting (it had its turn)."""
        self.release(job)
        self._moved.append(job)
        self.kick()

    def waiting(self) -> list[Job]:
        """The jobs in the bot's queue in the order they go out: those taken back from a server first."""
        return [*self._moved, *self.queue.order()]

    def restore(self, waiting: list[Job], *, sent: list[JobRecord]) -> None:
        """After a restart: the jobs that waited in the bot's queue wait again in their stored order, and the
        turns go on after the owner whose job went to ComfyUI last."""
        if sent:
            self.queue.served(max(sent, key=lambda r: r.queued_at or r.created_at).owner_id)
        for job in waiting:
            self.add(job)

    async def set_drained(self, name: str, drained: bool) -> PoolServer:
        """Drain a server (what runs there finishes, nothing new goes there) or take it back; kept across restarts.

        Raises:
            UnknownServerError: comfy.servers has no server of that name.
        """
        server = self.pool.get(name) if name else None
        if server is None:
            raise UnknownServerError(name, self.pool.names)
        await self.store.set_meta(DRAINED_KEY + server.name, "1" if drained else "")
        server.drained = drained
        log.info("ComfyUI server %s %s", server.name, "drained" if drained else "resumed")
        self.kick()
        return server

    async def load_drained(self) -> None:
        """At startup: the servers an admin drained before the restart are still drained, and the prompts moved
        off a server that was away are still taken out of its queue when it answers."""
        for server in self.pool:
            server.drained = await self.store.get_meta(DRAINED_KEY + server.name) == "1"
            for prompt_id in await self._to_take_back(server.name):
                self._taken_back.add(prompt_id)
                self._take_back(server, prompt_id)

    def taken_back(self, prompt_id: str) -> bool:
        """The prompt was moved off its server before the restart: its job is to be sent on, not followed there."""
        return prompt_id in self._taken_back

    def _take_back(self, server: PoolServer, prompt_id: str) -> None:
        """Have `server` delete a prompt moved off it once it answers; kept in the store until then, so a restart
        meanwhile does not let the old copy run for nobody."""
        self._tasks.spawn(self._taking_back(server, prompt_id), name=f"take-back-{short_id(prompt_id)}")

    async def _taking_back(self, server: PoolServer, prompt_id: str) -> None:
        await self._note_take_back(server.name, prompt_id, pending=True)
        await server.service.abandon(prompt_id)
        await self._note_take_back(server.name, prompt_id, pending=False)

    async def _to_take_back(self, name: str) -> list[str]:
        return list(json.loads(await self.store.get_meta(TAKE_BACK_KEY + name) or "[]"))

    async def _note_take_back(self, name: str, prompt_id: str, *, pending: bool) -> None:
        try:
            async with self._take_back_lock:  # read, change, write: one at a time
                ids = [i for i in await self._to_take_back(name) if i != prompt_id] + ([prompt_id] if pending else [])
                await self.store.set_meta(TAKE_BACK_KEY + name, json.dumps(ids))
        except StoreError as exc:  # the take-back goes on; only a restart before it is done would forget it
            log.warning("Could not keep in the store that %s is to be taken back on %s: %s", prompt_id, name, exc)

    def adopt(self, job: Job, server: PoolServer) -> None:
        """A job already sent to `server` (resumed after a restart) counts against its look-ahead."""
        self._sent.setdefault(server.name, set()).add(job)

    def release(self, job: Job) -> None:
        """ComfyUI is done with the job (finished, failed, cancelled): its server has room for the next."""
        for jobs in self._sent.values():
            if job in jobs:
                jobs.discard(job)
                self.kick()

    def sent_to(self, name: str) -> int:
        """Our prompts on that server that ComfyUI has not finished."""
        return len(self._sent.get(name, ()))

    # ---- choosing -----------------------------------------------------------------------------

    def select(self, *, inline: bool = False) -> list[tuple[Job, PoolServer]]:
        """Take every job that can go now, in fair order, each with its server; updates the positions shown.

        Synchronous, so nothing else changes the queue meanwhile. `inline` (a user's own request): when no
        server is connected at all, try one anyway, so the user hears at once why it failed, as with one server.
        """
        picks: list[tuple[Job, PoolServer]] = []
        servers = self._usable(inline=inline)
        for job in [*self._moved, *self.queue.order()]:
            if not any(self.sent_to(server.name) < self.settings.look_ahead for server in servers):
                break  # every server is full: the rest keep their places
            server = self._route(job, servers)
            if server is not None:
                self._take(job)
                self._sent.setdefault(server.name, set()).add(job)
                picks.append((job, server))
            elif (error := self._nowhere(job)) is not None:  # a server came back without a node pack it needs
                self._take(job)
                self._tasks.spawn(self._refuse(job, error), name=f"refuse-{short_id(job.job_id)}")
        self._show_positions()
        return picks

    def _take(self, job: Job) -> None:
        if job in self._moved:
            self._moved.remove(job)
        else:
            self.queue.take(job)
        self._forget(job)
        job.queue_position = None

    def _nowhere(self, job: Job) -> NoServerCanRunError | None:
        """Why no server can run the job, once every server's node list is known and each lacks a piece."""
        graph = job.record.graph or {}
        try:
            self.check_runnable(job.spec.title if job.spec else job.record.workflow, graph)
        except NoServerCanRunError as error:
            return error
        return None

    def can_run(self, graph: Mapping[str, Any]) -> bool:
        """Some server can run the graph, as far as the node lists read so far tell."""
        return not all(_lacks(server, graph) for server in self.pool)

    def check_runnable(self, workflow: str, graph: Mapping[str, Any]) -> None:
        """Refuse a graph that no server can run, naming what each lacks (servers not read yet may run it).

        Raises:
            NoServerCanRunError: every server's node list lacks a node class or file the graph needs.
        """
        missing = {server.name: _lacks(server, graph) for server in self.pool}
        if all(missing.values()):
            raise NoServerCanRunError(workflow, missing)

    def server_for_uploads(self, graph: Mapping[str, Any]) -> PoolServer:
        """Where a new request's input images go first: a server that can run it, least loaded, room or not."""
        servers = self._usable(inline=True) or list(self.pool)
        able = [
            s for s in servers if s.service.capabilities is None or not missing_pieces(graph, s.service.capabilities)
        ]
        candidates = [Candidate(server, self._load(server), server.weight) for server in able or servers]
        chosen = choose(candidates, self._rotation)
        assert chosen is not None  # a pool has at least one server
        return chosen

    def _usable(self, *, inline: bool) -> list[PoolServer]:
        servers = [server for server in self.pool if not server.drained]
        connected = [server for server in servers if server.connected]
        return connected if connected or not inline else servers

    def _route(self, job: Job, servers: list[PoolServer]) -> PoolServer | None:
        candidates = [
            Candidate(server, self._load(server), server.weight)
            for server in servers
            if self.sent_to(server.name) < self.settings.look_ahead and self._eligible(job, server)
        ]
        chosen = choose(candidates, self._rotation)
        if chosen is not None:
            self._rotation += 1
        return chosen

    def _eligible(self, job: Job, server: PoolServer) -> bool:
        return _may_run(job, server, self.pool) and self._fit(job, server)

    def _fit(self, job: Job, server: PoolServer) -> bool:
        """The server can run the job's graph (as far as its node list, read at its last connect, tells)."""
        info = server.service.capabilities
        if info is None:
            return True
        known = self._fits.get((job, server.name))
        if known is None or known[0] is not info:
            known = (info, missing_pieces(job.record.graph or {}, info))
            self._fits[job, server.name] = known
        return not known[1]

    def _forget(self, job: Job) -> None:
        for server in self.pool:
            self._fits.pop((job, server.name), None)

    def _load(self, server: PoolServer) -> int:
        """ComfyUI's own queue there (others' prompts) plus ours not finished there."""
        state = server.service.last_queue
        ours = self._sent.get(server.name, set())
        prompt_ids = {job.record.prompt_id for job in ours}
        others = 0 if state is None else sum(e.prompt_id not in prompt_ids for e in (*state.running, *state.pending))
        return others + len(ours)

    def _show_positions(self) -> None:
        """Each waiting job's place: its turn in the bot's queue plus what waits in ComfyUI's queue before it."""
        order = self.queue.order()
        ahead = min((_waiting_in_comfy(s) for s in self.pool if not s.drained), default=0)
        total = len(order) + ahead
        for place, job in enumerate(order, start=1):
            position = (place + ahead, total)
            if job.queue_position != position:
                job.queue_position = position
                job.notify()

    # ---- running ------------------------------------------------------------------------------

    def kick(self) -> None:
        """Look at the queue soon (a job came or went, a server freed up)."""
        self._wake.set()
        if self._loop is None:
            self._loop = self._tasks.spawn(self._run(), name="scheduler")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()
            try:
                self._check_servers()
                self.pump()
            except Exception:  # one bad round must not stop every later job
                log.exception("Scheduling round failed; the next one goes on")

    def pump(self) -> None:
        """Hand every job that can go now to `dispatch`, in the background."""
        for job, server in self.select():
            log.info("%s: its turn, to ComfyUI server %s", job.tag, server.name)
            self._tasks.spawn(self._dispatch(job, server), name=f"dispatch-{short_id(job.job_id)}")

    def _check_servers(self) -> None:
        """Note when servers went away; past the grace period, move their jobs that have not started."""
        now = time.monotonic()
        for server in self.pool:
            if server.connected:
                self._down_since.pop(server.name, None)
            elif now - self._down_since.setdefault(server.name, now) >= self.settings.failover_grace:
                self._fail_over(server)

    def _fail_over(self, server: PoolServer) -> None:
        """Take back the jobs waiting in an absent server's queue that another server can run now; a running one
        stays (it is finished, or Lost with Retry, when the server is back)."""
        others = [other for other in self.pool if other is not server and other.connected and not other.drained]
        for job in list(self._sent.get(server.name, ())):
            handle = job.handle
            started = job.record.status is not JobStatus.QUEUED  # as last known, also from before a restart
            if handle is None or handle.status is not PromptStatus.QUEUED or started:
                continue
            if not any(self._eligible(job, other) for other in others):
                continue
            log.warning(
                "%s: ComfyUI server %s away for %gs; sending it elsewhere",
                job.tag,
                server.name,
                self.settings.failover_grace,
            )
            self._sent[server.name].discard(job)
            job.handle = None
            self._take_back(server, handle.prompt_id)
            self._moved.append(job)
            job.notify()

    async def close(self) -> None:
        """Stop scheduling; jobs waiting here stay in the store and are queued again on the next start."""
        await self._tasks.close()
        self._loop = None


def _may_run(job: Job, server: PoolServer, pool: ComfyPool) -> bool:
    """A job whose input images were uploaded to one server (and are no longer in memory) can only go there,
    unless that server left the config (then anywhere: the server it goes to says the image is missing). A job
    stored before several servers were known ('') has them on the first."""
    if job.inputs is not None or not job.takes_images or (home := pool.get(job.record.server)) is None:
        return True
    return job.record.server is None or home is server


def _lacks(server: PoolServer, graph: Mapping[str, Any]) -> tuple[str, ...]:
    """What the server lacks for the graph; nothing while its node list is unknown (it may well run it)."""
    info = server.service.capabilities
    return () if info is None else missing_pieces(graph, info)


def _waiting_in_comfy(server: PoolServer) -> int:
    state = server.service.last_queue
    return len(state.pending) if state is not None else 0
