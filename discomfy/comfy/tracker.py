"""The one WebSocket to ComfyUI: read by one task, every message routed to its job by prompt_id."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from discomfy.comfy.errors import JobInterruptedError
from discomfy.comfy.job import ComfyJob
from discomfy.comfy.outputs import execution_error
from discomfy.ids import short_id
from discomfy.retry import Backoff

log = logging.getLogger(__name__)

FEATURE_FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_TYPES = {1: "image/jpeg", 2: "image/png"}
_MAX_MESSAGE = 64 * 1024 * 1024


class TrackerListener(Protocol):
    """What the tracker tells the service; the service owns the jobs' lifecycle."""

    def on_connected(self, reconnect: bool) -> None: ...

    def on_queue_changed(self, queue_remaining: int | None) -> None: ...

    def on_prompt_done(self, job: ComfyJob) -> None: ...

    def on_outputs(self, job: ComfyJob, node_id: str, output: Mapping[str, Any]) -> None: ...

    def on_prompt_success(self, job: ComfyJob, timestamp: float | None) -> None: ...


class ComfyTracker:
    """Keeps the WebSocket open (reconnecting with capped, jittered backoff) and dispatches messages."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws_url: str,
        jobs: Mapping[str, ComfyJob],
        listener: TrackerListener,
        *,
        headers: Mapping[str, str] | None = None,
        min_delay: float = 0.5,
        max_delay: float = 30.0,
        handshake_timeout: float = 30.0,
    ) -> None:
        self._session = session
        self._url = ws_url
        self._jobs = jobs
        self._listener = listener
        self._headers = dict(headers or {})
        self._backoff = Backoff(first=min_delay, cap=max_delay, jitter=True)
        self._handshake_timeout = handshake_timeout  # aiohttp's own default is 300 s for a server that never answers
        self._last_job: ComfyJob | None = None  # owner of untagged (legacy) preview frames
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()
        self.queue_remaining: int | None = None  # from the last `status`: what this socket last heard
        self.last_message_at = time.monotonic()
        self.messages = 0
        self.failures = 0  # connection attempts failed in a row: ComfyUI is likely down, not just starting

    async def run(self) -> None:
        """Connect, read, reconnect; until cancelled."""
        self.failures = 0
        connected_before = False
        while True:
            try:
                async with asyncio.timeout(self._handshake_timeout):  # not wait_for: on 3.11 it can eat a cancel
                    socket = await self._session.ws_connect(
                        self._url, headers=self._headers, heartbeat=30.0, max_msg_size=_MAX_MESSAGE
                    )
                async with socket as ws:
                    self._ws = ws
                    await ws.send_json(FEATURE_FLAGS)
                    log.info("WebSocket connected to %s", self._url.split("?")[0])
                    self.failures = 0
                    self.connected.set()
                    self._listener.on_connected(connected_before)
                    connected_before = True
                    await self._read(ws)
                    log.warning("WebSocket to ComfyUI closed (code %s)", ws.close_code)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("WebSocket to ComfyUI failed: %s", exc or type(exc).__name__)
            except Exception:  # a surprise must not stop the one reader for good: log it and reconnect
                log.exception("WebSocket reader failed")
            finally:
                self._ws = None
                self.connected.clear()
            delay = self._backoff.delay(self.failures)
            self.failures += 1
            log.info("Reconnecting to ComfyUI in %.1fs", delay)
            await asyncio.sleep(delay)

    async def reconnect(self) -> None:
        """Close the current socket so `run` opens a fresh one (e.g. after a lost registration)."""
        if self._ws is not None:
            await self._ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.dispatch_text(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                self.dispatch_binary(msg.data)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                log.warning("WebSocket error: %s", ws.exception())
                return

    def dispatch_text(self, raw: str) -> None:
        """Route one JSON message: O(1), a dict lookup by prompt_id; other clients' prompts are ignored."""
        self.last_message_at = time.monotonic()
        self.messages += 1
        try:
            message = json.loads(raw)
            kind = message["type"]
            data = message.get("data") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            kind = None
        if not isinstance(kind, str):
            log.debug("Ignoring malformed WebSocket message: %.200s", raw)
            return
        if kind == "status":
            remaining = _field(_field(_field(data, "status"), "exec_info"), "queue_remaining")
            if not isinstance(remaining, int) or isinstance(remaining, bool):
                log.debug("Ignoring a status message without a queue length: %.200s", raw)
                return
            self.queue_remaining = remaining
            self._listener.on_queue_changed(remaining)
            return
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        job = self._jobs.get(prompt_id) if isinstance(prompt_id, str) else None  # a list would raise TypeError
        if prompt_id is not None:
            # Untagged previews belong to whoever spoke last: never let another client's job's
            # previews land on ours, nor ours after it ended.
            self._last_job = job if kind != "executing" or data.get("node") is not None else None
        if job is None:
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            try:
                handler(self, job, data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("Unexpected %s message for %s: %s", kind, short_id(job.prompt_id), exc)

    def dispatch_binary(self, frame: bytes) -> None:
        """A preview frame: type 4 names its prompt, type 1 belongs to the prompt that last spoke."""
        self.last_message_at = time.monotonic()
        self.messages += 1
        if len(frame) < 8:
            return
        event_type, second = struct.unpack_from(">II", frame)
        if event_type == PREVIEW_IMAGE_WITH_METADATA:
            try:
                meta = json.loads(frame[8 : 8 + second])
            except ValueError:
                return
            if not isinstance(meta, dict):
                return
            prompt_id = meta.get("prompt_id")
            job = self._jobs.get(prompt_id) if isinstance(prompt_id, str) else None
            if job is not None:
                mime = str(meta.get("image_type") or "image/jpeg")
                job._preview(frame[8 + second :], mime, meta.get("node_id"))
        elif event_type == PREVIEW_IMAGE:
            job = self._last_job
            if job is not None and not job.done:
                job._preview(frame[8:], _IMAGE_TYPES.get(second, "image/jpeg"), None)

    # ---- per-type handlers ---------------------------------------------------------------

    def _on_start(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job.start_timestamp = _timestamp(data)
        job._started()

    def _on_cached(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job._cached(tuple(str(n) for n in data.get("nodes") or ()))

    def _on_executing(self, job: ComfyJob, data: dict[str, Any]) -> None:
        node = data.get("node")
        if node is None:
            self._listener.on_prompt_done(job)  # the last message; history is written by now
        else:
            job._node(str(node))

    def _on_progress(self, job: ComfyJob, data: dict[str, Any]) -> None:
        node = data.get("node")
        job._progress(int(data["value"]), int(data["max"]), None if node is None else str(node))

    def _on_error(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job._fail(execution_error(data))

    def _on_interrupted(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job._fail(JobInterruptedError(job.prompt_id, data.get("node_id"), data.get("node_type")))

    def _on_executed(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job.last_activity = time.monotonic()
        output = data.get("output")
        if isinstance(output, Mapping):
            self._listener.on_outputs(job, str(data["node"]), output)

    def _on_success(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job.last_activity = time.monotonic()
        self._listener.on_prompt_success(job, _timestamp(data))

    def _on_other(self, job: ComfyJob, data: dict[str, Any]) -> None:
        job.last_activity = time.monotonic()


def _field(value: object, key: str) -> object:
    """`value[key]` if value is a JSON object, else None: a message of the wrong shape is skipped, not fatal."""
    return value.get(key) if isinstance(value, Mapping) else None


def _timestamp(data: Mapping[str, Any]) -> float | None:
    value = data.get("timestamp")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


_HANDLERS = {
    "execution_start": ComfyTracker._on_start,
    "execution_cached": ComfyTracker._on_cached,
    "executing": ComfyTracker._on_executing,
    "progress": ComfyTracker._on_progress,
    "progress_state": ComfyTracker._on_other,
    "executed": ComfyTracker._on_executed,
    "execution_success": ComfyTracker._on_success,
    "execution_error": ComfyTracker._on_error,
    "execution_interrupted": ComfyTracker._on_interrupted,
}
