"""A job handle: the live state of one prompt, an event stream per watcher, and its final result."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from discomfy.comfy.errors import ComfyError
from discomfy.comfy.models import (
    CachedNodes,
    Failed,
    Finished,
    JobEvent,
    JobResult,
    NodeStarted,
    OutputFile,
    Preview,
    Progress,
    PromptStatus,
    Queued,
    Started,
)

if TYPE_CHECKING:
    from discomfy.comfy.fetch import OutputFetcher

_PREVIEW_SLOT = object()  # stands in a watcher's queue for "the newest preview"


class _Watcher:
    """One consumer's queue. Previews are coalesced: a slow watcher only ever holds the newest one."""

    def __init__(self) -> None:
        self._items: deque[object] = deque()
        self._preview: Preview | None = None
        self._wakeup = asyncio.Event()

    def put(self, event: JobEvent) -> None:
        if isinstance(event, Preview):
            if self._preview is None:
                self._items.append(_PREVIEW_SLOT)
            self._preview = event
        else:
            self._items.append(event)
        self._wakeup.set()

    async def get(self) -> JobEvent:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        if item is _PREVIEW_SLOT:
            preview, self._preview = self._preview, None
            assert preview is not None
            return preview
        return item  # type: ignore[return-value]


class ComfyJob:
    """One submitted prompt. Read its state at any time, `async for` its events, or await its result."""

    def __init__(
        self,
        prompt_id: str,
        graph: Mapping[str, Any],
        *,
        output_nodes: Iterable[str] | None = None,
        download: bool = True,
    ) -> None:
        self.prompt_id = prompt_id
        self.graph = graph
        self.output_nodes = tuple(output_nodes) if output_nodes is not None else None
        self.download = download
        self.status = PromptStatus.SUBMITTING
        self.number: int | None = None
        self.position: int | None = None
        self.queue_total: int | None = None
        self.node_id: str | None = None
        self.progress: Progress | None = None
        self.latest_preview: Preview | None = None
        self.cached_nodes: tuple[str, ...] = ()
        self.created_at = time.monotonic()
        self.accepted_at = self.created_at  # when ComfyUI took it; a queue snapshot older than this is blind to it
        self.started_at: float | None = None
        self.last_activity = self.created_at
        self.finishing = False  # a history read (and downloads) for the final result is under way
        self.cancelling = False  # a cancel is deleting it from the queue: absence there is not a loss
        self.unreachable_since: float | None = None  # ComfyUI could not tell this job's fate since then
        self.announced: list[OutputFile] = []  # files its output nodes' `executed` messages named so far
        self.fetcher: OutputFetcher | None = None  # downloads begun before the outcome is known
        self.start_timestamp: float | None = None  # ComfyUI's clock (ms) at execution_start, for the run time
        self._watchers: list[_Watcher] = []
        self._future: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        self._future.add_done_callback(_mark_retrieved)

    # ---- reading ---------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._future.done()

    @property
    def succeeded(self) -> bool:
        """Finished with a result (not failed, not still running)."""
        return self._future.done() and not self._future.cancelled() and self._future.exception() is None

    @property
    def in_flight(self) -> bool:
        return not self._future.done() and self.status is not PromptStatus.SUBMITTING

    @property
    def node_class(self) -> str | None:
        node = self.graph.get(self.node_id) if self.node_id else None
        return node.get("class_type") if isinstance(node, Mapping) else None

    def on_done(self, callback: Callable[[ComfyJob], None]) -> None:
        """Call `callback(job)` once the job has finished or failed (at once if it already has)."""
        self._future.add_done_callback(lambda _future: callback(self))

    async def result(self) -> JobResult:
        """The final result. Raises the ComfyError that ended the job instead, if one did."""
        return await asyncio.shield(self._future)

    def __await__(self) -> Generator[Any, None, JobResult]:
        return self.result().__await__()

    async def events(self) -> AsyncIterator[JobEvent]:
        """Everything that happens from now on, ending with Finished or Failed; one stream per caller."""
        watcher = _Watcher()
        if self._future.done():
            watcher.put(self._terminal_event())
        else:
            self._catch_up(watcher)
            self._watchers.append(watcher)
        try:
            while True:
                event = await watcher.get()
                yield event
                if isinstance(event, Finished | Failed):
                    return
        finally:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def _catch_up(self, watcher: _Watcher) -> None:
        """A late watcher first gets the state so far, so it never waits for an event already past."""
        if self.status is PromptStatus.QUEUED and self.position:
            watcher.put(Queued(self.position, self.queue_total or self.position))
        elif self.status is PromptStatus.RUNNING:
            watcher.put(Started())
            if self.node_id is not None:
                watcher.put(NodeStarted(self.node_id, self.node_class))
            if self.progress is not None:
                watcher.put(self.progress)

    def _terminal_event(self) -> JobEvent:
        error = self._future.exception()
        return Failed(error) if isinstance(error, ComfyError) else Finished(self._future.result())

    # ---- updates from the service (never from outside comfy/) ---------------------------------

    def _emit(self, event: JobEvent) -> None:
        self.last_activity = time.monotonic()
        for watcher in self._watchers:
            watcher.put(event)

    def _accepted(self, number: int) -> None:
        """ComfyUI took the prompt; its position comes with the next queue refresh."""
        self.number = number
        self.accepted_at = self.last_activity = time.monotonic()
        if self.status is PromptStatus.SUBMITTING:
            self.status = PromptStatus.QUEUED

    def _queued(self, position: int, total: int) -> None:
        if self.status in (PromptStatus.SUBMITTING, PromptStatus.QUEUED):
            self.status = PromptStatus.QUEUED
            if (position, total) != (self.position, self.queue_total):
                self.position, self.queue_total = position, total
                self._emit(Queued(position, total))
            else:
                self.last_activity = time.monotonic()

    def _started(self) -> None:
        if self.status in (PromptStatus.SUBMITTING, PromptStatus.QUEUED) and not self.done:
            self.status = PromptStatus.RUNNING
            self.position = None
            self.started_at = time.monotonic()
            self._emit(Started())
        else:
            self.last_activity = time.monotonic()

    def _node(self, node_id: str) -> None:
        self._started()
        self.node_id = node_id
        self._emit(NodeStarted(node_id, self.node_class))

    def _cached(self, node_ids: tuple[str, ...]) -> None:
        self.cached_nodes = node_ids
        if node_ids:
            self._emit(CachedNodes(node_ids))

    def _progress(self, value: int, maximum: int, node_id: str | None) -> None:
        self._started()
        self.progress = Progress(value, maximum, node_id)
        self._emit(self.progress)

    def _preview(self, image: bytes, mime: str, node_id: str | None) -> None:
        self.latest_preview = Preview(image, mime, node_id or self.node_id)
        self._emit(self.latest_preview)

    def _finish(self, result: JobResult) -> None:
        if not self._future.done():
            self.status = PromptStatus.FINISHED
            self._future.set_result(result)
            self._emit(Finished(result))

    def _fail(self, error: ComfyError) -> None:
        if not self._future.done():
            self.status = PromptStatus.FAILED
            self._future.set_exception(error)
            self._emit(Failed(error))


def _mark_retrieved(future: asyncio.Future[JobResult]) -> None:
    """A job nobody awaited must not log 'exception was never retrieved'."""
    if not future.cancelled():
        future.exception()
