"""A fake ComfyUI 0.3.64 server for tests: real HTTP + WebSocket on 127.0.0.1, no models.

It reproduces what was recorded from a real server (see ``tests/fixtures/comfy/``): the message
order of a job, who receives which message, the binary preview frames (type 1, or type 4 after a
``feature_flags`` handshake), ``/prompt`` validation errors, the queue (a heap, like the server's),
history, ``/view`` and ``/upload/image``.  Nodes come from :mod:`testing.comfy_nodes`; samplers
sleep ``step_delay`` per step instead of denoising.

Typical use::

    async with FakeComfy(step_delay=0.005) as fake:
        ...  # point the client at fake.url
        await fake.wait_idle()

Test controls: :meth:`FakeComfy.hold` / :meth:`FakeComfy.release`, :meth:`FakeComfy.drop_websockets`,
:meth:`FakeComfy.restart`, :attr:`FakeComfy.stall_http`, :attr:`FakeComfy.post_job_pause`,
:attr:`FakeComfy.output_size`, :attr:`FakeComfy.requests` and friends.

Hooks for subclasses (no-ops here; the benchmarks override them to take time stamps):
:meth:`FakeComfy.request_answered`, :meth:`FakeComfy.prompt_event`, :meth:`FakeComfy.message_sending`,
:meth:`FakeComfy.prompt_finished`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import heapq
import io
import json
import logging
import os
import shutil
import socket
import struct
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

from testing.comfy_nodes import (
    DEFAULT_MODELS,
    Behaviour,
    NodeClass,
    NodeRun,
    ProcessingInterruptedError,
    Validator,
    build_catalog,
    complete_schema,
    generic_behaviour,
    preview_jpeg,
    render_schema,
)

logger = logging.getLogger(__name__)

COMFYUI_VERSION = "0.3.64"
MAX_UPLOAD_SIZE = 100 * 1024 * 1024
MAX_HISTORY = 10000
SERVER_FEATURES: dict[str, Any] = {
    "supports_preview_metadata": True,
    "max_upload_size": MAX_UPLOAD_SIZE,
}
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")

#: Binary WebSocket event types (server.py BinaryEventTypes).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4

SYSTEM_STATS: dict[str, Any] = {
    "system": {
        "os": "posix",
        "ram_total": 25276063744,
        "ram_free": 24235999232,
        "comfyui_version": COMFYUI_VERSION,
        "required_frontend_version": "1.27.10",
        "installed_templates_version": "0.1.95",
        "required_templates_version": "0.1.95",
        "python_version": "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]",
        "pytorch_version": "2.14.1+cu130",
        "embedded_python": False,
        "argv": [
            "main.py",
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            "8188",
            "--disable-api-nodes",
            "--disable-auto-launch",
        ],
    },
    "devices": [
        {
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": 25276063744,
            "vram_free": 24235999232,
            "torch_vram_total": 25276063744,
            "torch_vram_free": 24235999232,
        }
    ],
}

# The two validation tracebacks the recording holds (execution.py at 0.3.64), reused verbatim.
_TB_VALIDATE_PROMPT = (
    '  File "ComfyUI/execution.py", line 1010, in validate_prompt\n'
    "    m = await validate_inputs(prompt_id, prompt, o, validated)\n"
    "        " + "^" * 54 + "\n"
)
_TB_CLASS_LOOKUP = (
    '  File "ComfyUI/execution.py", line 788, in validate_inputs\n'
    "    o_class_type = prompt[o_id]['class_type']\n"
    "                   ~~~~~~^^^^^^\n"
)
_TB_RETURN_INDEX = (
    '  File "ComfyUI/execution.py", line 790, in validate_inputs\n'
    "    received_type = r[val[1]]\n"
    "                    ~^^^^^^^^\n"
)
# Not recorded: the frame of the recursive call, for errors in an upstream node.
_TB_INNER_CALL = (
    '  File "ComfyUI/execution.py", line 805, in validate_inputs\n'
    "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        " + "^" * 57 + "\n"
)

_CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".json": "application/json",
    ".txt": "text/plain",
}


def encode_preview_frame(image: bytes, metadata: Mapping[str, Any] | None = None, image_type: int = 1) -> bytes:
    """A binary preview frame: type 1 (``u32 image_type`` + image) or, with metadata, type 4."""
    if metadata is None:
        return struct.pack(">II", PREVIEW_IMAGE, image_type) + image
    meta = json.dumps(metadata).encode("utf-8")
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + image


def decode_preview_frame(frame: bytes) -> tuple[int, dict[str, Any] | None, bytes]:
    """(event type, metadata or None, image bytes) of a binary frame."""
    (event,) = struct.unpack(">I", frame[:4])
    if event == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack(">I", frame[4:8])
        return event, json.loads(frame[8 : 8 + length]), frame[8 + length :]
    return event, None, frame[8:]


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the fake received (path as sent, ``/api`` prefix included)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    #: ``time.monotonic()`` when the request arrived (before ``stall_http``).
    received_at: float = 0.0

    @property
    def route(self) -> str:
        """The path without the ``/api`` prefix."""
        return self.path[4:] if self.path.startswith("/api/") else self.path


class _ValidationFaultError(Exception):
    """An exception raised where the real validate_inputs raises, with its recorded traceback."""

    def __init__(self, inner: BaseException, frame: str) -> None:
        super().__init__(str(inner))
        self.inner = inner
        self.frames = [frame]


class _NodeFailedError(Exception):
    def __init__(self, node_id: str, details: dict[str, Any]) -> None:
        super().__init__(node_id)
        self.node_id = node_id
        self.details = details


class _NodeInterruptedError(Exception):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


@dataclass
class _CacheEntry:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None


@dataclass
class _PromptRun:
    """State of the prompt being executed."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    client_id: str | None
    outputs_to_execute: list[str]
    messages: list[list[Any]] = field(default_factory=list)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    ui_outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    success: bool = True


class _ServerState:
    """Everything a real server process holds in memory; replaced on restart()."""

    def __init__(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.sockets_metadata: dict[str, dict[str, Any]] = {}
        self.ws_handlers: dict[web.WebSocketResponse, tuple[web.Request, asyncio.Task[Any]]] = {}
        self.queue: list[tuple[Any, ...]] = []
        self.currently_running: dict[int, tuple[Any, ...]] = {}
        self.task_counter = 0
        self.history: dict[str, dict[str, Any]] = {}
        self.number = 0
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.cache: dict[str, _CacheEntry] = {}
        self.outbox: asyncio.Queue[tuple[Any, Any, str | None]] = asyncio.Queue()
        self.interrupted = False
        self.interrupt_event = asyncio.Event()
        self.work_event = asyncio.Event()
        self.current: _PromptRun | None = None
        self.worker: asyncio.Task[None] | None = None
        self.publisher: asyncio.Task[None] | None = None

    def tasks_remaining(self) -> int:
        return len(self.queue) + len(self.currently_running)


class _Engine:
    """The server side offered to node behaviours for one prompt (see comfy_nodes.Engine)."""

    def __init__(self, fake: FakeComfy, st: _ServerState, run: _PromptRun) -> None:
        self._fake = fake
        self._st = st
        self._run = run

    @property
    def step_delay(self) -> float:
        return self._fake.step_delay

    @property
    def output_size(self) -> int | None:
        return self._fake.output_size

    @property
    def output_dir(self) -> Path:
        return self._fake.output_dir

    @property
    def temp_dir(self) -> Path:
        return self._fake.temp_dir

    @property
    def input_dir(self) -> Path:
        return self._fake.input_dir

    def check_interrupt(self) -> None:
        if self._st.interrupted:
            raise ProcessingInterruptedError

    async def interruptible_sleep(self, seconds: float) -> None:
        self.check_interrupt()
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._st.interrupt_event.wait(), timeout=seconds)
        self.check_interrupt()

    async def report_progress(self, node_id: str, value: int, total: int, preview: bool) -> None:
        await self._fake._report_progress(self._st, self._run, node_id, value, total, preview)

    async def write_output_file(self, path: Path, data: bytes) -> None:
        await asyncio.to_thread(_write_file, path, data, self._fake.output_size)


@contextlib.contextmanager
def _reserved(port: int) -> Iterator[None]:
    """Hold 127.0.0.1:port bound but not listening: connecting is refused, and no other socket (another
    test worker's server, or an outgoing connection) is given the port until the fake listens on it again."""
    with socket.socket() as placeholder:
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        placeholder.bind(("127.0.0.1", port))
        yield


def _write_file(path: Path, data: bytes, size: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        if size is None:
            f.write(data)
            return
        head = data[:size]
        f.write(head)
        remaining = size - len(head)
        chunk = b"\0" * min(1 << 20, max(remaining, 0))
        while remaining > 0:
            n = min(len(chunk), remaining)
            f.write(chunk[:n])
            remaining -= n


def _now_ms() -> int:
    return int(time.time() * 1000)


def _format_value(x: Any) -> Any:
    if x is None or isinstance(x, (int, float, bool, str)):
        return x
    return str(x)


def _full_type_name(klass: type) -> str:
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def _validate_node_input(received_type: Any, input_type: Any) -> bool:
    if received_type == input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    received = {t.strip() for t in received_type.split(",")}
    wanted = {t.strip() for t in input_type.split(",")}
    if "*" in received or "*" in wanted:
        return True
    return bool(received & wanted)


class FakeComfy:
    """A fake ComfyUI server (aiohttp) with test controls.  See the module docstring."""

    def __init__(self, *, step_delay: float = 0.005, output_dir: Path | None = None) -> None:
        self.step_delay: float = step_delay
        #: When set, every output file written from now on is exactly this many bytes.
        self.output_size: int | None = None
        #: When set, every prompt runs at least this many seconds (a fixed simulated GPU time, on top of the nodes'
        #: own steps; an interrupt cuts it short).
        self.job_duration: float | None = None
        #: Seconds every HTTP request (not the WebSocket) waits before being handled.
        self.stall_http: float = 0.0
        #: Per route (without /api), seconds to hold an answer AFTER it was computed: a slow network
        #: on a big answer, so the client reads a snapshot older than its own later requests.
        self.delay_answers: dict[str, float] = {}
        #: Seconds between 64 KiB pieces of a /view answer (0: as fast as loopback goes), a slow link.
        self.view_trickle: float = 0.0
        #: When set, accept this many more POST /prompt, then answer 500 (a server in trouble).
        self.accept_prompts: int | None = None
        #: Seconds the server stalls right after a prompt, as ComfyUI's prompt worker does when it runs
        #: ``gc.collect()`` holding the GIL (main.py ``prompt_worker``, ~0.25 s on a real server): the messages
        #: still to send and every HTTP answer wait until it is over.
        self.post_job_pause: float = 0.0
        #: Where the stall starts: "success", once ``execution_success`` is out (then ``status`` and
        #: ``executing {node: null}`` wait); "execution", as soon as the last node has run, wherever the sending
        #: of the message tail is (a real server: before ``executed``, ``execution_success`` or ``executing null``).
        self.pause_from: str = "success"
        #: At most one stall per this many seconds (a real server: 10, ``gc_collect_interval``); 0: after every job.
        self.pause_interval: float = 0.0
        #: (start, end) in ``time.monotonic()`` of every such pause so far.
        self.pauses: list[tuple[float, float]] = []
        #: Image bytes (JPEG) for every preview frame; None: a small JPEG drawn per step.
        self.preview_image: bytes | None = None
        #: Model files per folder, shown in loader combos and checked by validation.
        self.models: dict[str, list[str]] = copy.deepcopy(DEFAULT_MODELS)
        #: Every HTTP request received (including the WebSocket upgrades), oldest first.
        self.requests: list[RecordedRequest] = []
        #: POST /prompt requests received (whatever the answer).
        self.prompts_received = 0
        #: POST /prompt requests answered 200.
        self.prompts_accepted = 0
        #: WebSocket connections accepted so far (all generations).
        self.ws_connections = 0
        self.catalog: dict[str, NodeClass] = build_catalog()
        self.url = ""
        self.port = 0
        self._own_root = Path(tempfile.mkdtemp(prefix="fake-comfy-"))
        self._output_dir = Path(output_dir) if output_dir is not None else self._own_root / "output"
        self._input_dir = self._own_root / "input"
        self._temp_dir = self._own_root / "temp"
        for d in (self._output_dir, self._input_dir, self._temp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._held = False
        self._paused_until = 0.0
        self._starts_left: int | None = None  # release(count): prompts to start before holding again
        self._state = _ServerState()
        self._runner: web.AppRunner | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port (the same port again after restart) and serve."""
        await self._start_server(self.port)

    async def close(self) -> None:
        """Stop serving and delete the directories the fake created."""
        if self._closed:
            return
        self._closed = True
        await self._stop_server()
        shutil.rmtree(self._own_root, ignore_errors=True)

    async def __aenter__(self) -> FakeComfy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def restart(self, downtime: float = 0.0, *, keep_queue: bool = False) -> None:
        """Restart like a real server: sockets drop (1006), refused for ``downtime`` s, then empty state.

        ``keep_queue``: a network outage instead: the same server is back with its queue and history (hold it
        first, so that nothing is running when it goes away).
        """
        # Queue, history, cache and the number counter start afresh; running and pending jobs
        # vanish without a message; files on disk (output, input, temp) stay; hold() stays.
        if keep_queue and self._state.currently_running:
            raise RuntimeError("restart(keep_queue=True) while a prompt runs; hold() and wait for it first")
        await self._stop_server()
        with _reserved(self.port):  # refused meanwhile, and no other process can take the port
            if downtime > 0:
                await asyncio.sleep(downtime)
            if keep_queue:
                self._state.sockets.clear()
                self._state.ws_handlers.clear()
            else:
                self._state = _ServerState()
            await self._start_server(self.port)

    async def _start_server(self, port: int) -> None:
        st = self._state
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_UPLOAD_SIZE)
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}"
        st.publisher = asyncio.create_task(self._publisher(st), name="fake-comfy-publisher")
        st.worker = asyncio.create_task(self._worker(st), name="fake-comfy-worker")

    async def _stop_server(self) -> None:
        st = self._state
        await self._abort_sockets(st)
        for task in (st.worker, st.publisher):
            if task is not None:
                task.cancel()
        for task in (st.worker, st.publisher):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        st.worker = st.publisher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ hooks for subclasses

    def request_answered(self, request: RecordedRequest, response: web.StreamResponse) -> None:
        """Hook: ``request`` (in ``requests`` since it arrived) was handled and ``response`` is about to go out."""

    def prompt_event(self, prompt_id: str, event: str) -> None:
        """Hook: the executor recorded ``event`` (``execution_start``, ``executed``, ...) for ``prompt_id``."""

    def message_sending(self, event: str, payload: Any) -> None:
        """Hook: ``payload`` (a JSON object, or a binary frame's bytes) is about to be written to a client's socket."""

    def prompt_finished(self, prompt_id: str) -> None:
        """Hook: the prompt's history entry was written; it is finished on the server."""

    # ------------------------------------------------------------------ test controls

    def hold(self) -> None:
        """Keep the worker from starting the next prompt (queued jobs stay pending)."""
        self._held = True
        self._starts_left = None

    def release(self, count: int | None = None) -> None:
        """Let the worker pick up prompts again after :meth:`hold`; with ``count``, start that many, then hold."""
        if count is not None and count < 1:
            raise ValueError("release(count) needs a count of at least 1")
        self._held = False
        self._starts_left = count
        self._state.work_event.set()

    def stall(self, seconds: float) -> None:
        """Delay every HTTP answer by ``seconds`` (0 turns it off); same as ``stall_http``."""
        self.stall_http = seconds

    async def drop_websockets(self) -> None:
        """Close every WebSocket abruptly (no close frame: 1006); the server keeps running."""
        await self._abort_sockets(self._state)

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a test helper
        """Wait until no prompt is queued or running and every WS message has been sent."""

        async def idle() -> None:
            while True:
                st = self._state
                if not st.queue and not st.currently_running and st.outbox.empty():
                    await st.outbox.join()
                    if not st.queue and not st.currently_running and st.outbox.empty():
                        return
                await asyncio.sleep(0.002)

        await asyncio.wait_for(idle(), timeout)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` until it is true (raises TimeoutError after ``timeout``)."""

        async def poll() -> None:
            while not predicate():  # noqa: ASYNC110 - polling is the point
                await asyncio.sleep(0.002)

        await asyncio.wait_for(poll(), timeout)

    async def wait_running(self, prompt_id: str | None = None, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        """Wait until a prompt (or this one) is running; returns its prompt_id."""
        await self.wait_until(
            lambda: self.running_prompt_id is not None and (prompt_id is None or self.running_prompt_id == prompt_id),
            timeout,
        )
        assert self.running_prompt_id is not None
        return self.running_prompt_id

    def add_node_class(
        self,
        name: str,
        schema: Mapping[str, Any],
        behaviour: Behaviour | None = None,
        *,
        validator: Validator | None = None,
        validate_inputs: tuple[str, ...] = (),
    ) -> NodeClass:
        """Add (or replace) a node class.  ``schema`` is an /object_info entry; missing keys
        (name, input_order, output_is_list, ...) are filled in.  ``behaviour`` is an async
        callable taking a :class:`NodeRun` and returning a :class:`NodeResult`; without one the
        node returns placeholders and no UI output."""
        node = NodeClass(
            name,
            complete_schema(name, schema),
            behaviour,
            validator=validator,
            validate_inputs=validate_inputs,
        )
        self.catalog[name] = node
        return node

    def remove_node_class(self, name: str) -> None:
        """Leave a node class out of /object_info and refuse prompts using it, as a server without that custom
        node pack does (``add_node_class`` puts one back)."""
        self.catalog.pop(name, None)

    def ws_url(self, client_id: str | None = None) -> str:
        """The WebSocket URL, with ``?clientId=`` when given."""
        base = self.url.replace("http://", "ws://", 1) + "/ws"
        return f"{base}?clientId={client_id}" if client_id else base

    def requests_to(self, route: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests to ``route`` (``/api`` prefix ignored), optionally of one method."""
        return [r for r in self.requests if r.route == route and (method is None or r.method == method.upper())]

    # ------------------------------------------------------------------ read-only views

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    @property
    def input_dir(self) -> Path:
        return self._input_dir

    @property
    def temp_dir(self) -> Path:
        return self._temp_dir

    @property
    def held(self) -> bool:
        return self._held

    @property
    def running_prompt_id(self) -> str | None:
        """The prompt_id being executed, or None."""
        running = list(self._state.currently_running.values())
        return running[0][1] if running else None

    @property
    def pending_prompt_ids(self) -> list[str]:
        """Queued prompt_ids in execution order."""
        return [item[1] for item in sorted(self._state.queue, key=lambda i: i[0])]

    @property
    def queue_remaining(self) -> int:
        return self._state.tasks_remaining()

    @property
    def history(self) -> dict[str, dict[str, Any]]:
        """A copy of the history (prompt_id -> entry)."""
        return copy.deepcopy(self._state.history)

    @property
    def open_client_ids(self) -> list[str]:
        """Client ids the server can currently address."""
        return list(self._state.sockets)

    # ------------------------------------------------------------------ plumbing

    def _add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/ws", self._ws_handler),
            ("GET", "/prompt", self._get_prompt),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue),
            ("POST", "/interrupt", self._post_interrupt),
            ("GET", "/history", self._get_history),
            ("GET", "/history/{prompt_id}", self._get_history_one),
            ("POST", "/history", self._post_history),
            ("GET", "/object_info", self._get_object_info),
            ("GET", "/object_info/{node_class}", self._get_object_info_one),
            ("GET", "/view", self._get_view),
            ("POST", "/upload/image", self._post_upload_image),
            ("GET", "/system_stats", self._get_system_stats),
            ("GET", "/features", self._get_features),
            ("GET", "/embeddings", self._get_empty_list),
            ("GET", "/extensions", self._get_empty_list),
            ("GET", "/models", self._get_models),
            ("GET", "/models/{folder}", self._get_models_folder),
            ("POST", "/free", self._post_free),
        ]
        for method, path, handler in routes:
            for prefix in ("", "/api"):
                if method == "GET":  # GET routes answer HEAD too, like the real server's
                    app.router.add_get(prefix + path, handler)
                else:
                    app.router.add_route(method, prefix + path, handler)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        received_at = time.monotonic()
        body: Any = None
        if request.method == "POST" and not request.content_type.startswith("multipart/"):
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        record = RecordedRequest(request.method, request.path, dict(request.query), body, received_at)
        self.requests.append(record)
        if self.stall_http > 0 and record.route != "/ws":
            await asyncio.sleep(self.stall_http)
        response: web.StreamResponse = await handler(request)
        if self.delay_answers.get(record.route):
            await asyncio.sleep(self.delay_answers[record.route])
        await self._while_paused()
        self.request_answered(record, response)
        return response

    def _send(self, st: _ServerState, event: Any, data: Any, sid: str | None) -> None:
        """server.send_sync: queue a message for the publisher (sid None = broadcast)."""
        payload = data if isinstance(data, (bytes, bytearray)) else copy.deepcopy(data)
        st.outbox.put_nowait((event, payload, sid))

    async def _while_paused(self) -> None:
        """Wait out a post-job pause, as everything on a real server does while its GIL is held."""
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _publisher(self, st: _ServerState) -> None:
        while True:
            event, payload, sid = await st.outbox.get()
            await self._while_paused()
            try:
                if sid is None:
                    targets = list(st.sockets.values())
                else:
                    ws = st.sockets.get(sid)
                    targets = [ws] if ws is not None else []
                for ws in targets:
                    await self._send_to_socket(ws, event, payload)
            finally:
                st.outbox.task_done()

    async def _send_to_socket(self, ws: web.WebSocketResponse, event: Any, payload: Any) -> None:
        if ws.closed:
            return
        self.message_sending(event, payload)
        try:
            if isinstance(payload, (bytes, bytearray)):
                await ws.send_bytes(bytes(payload))
            else:
                await ws.send_json({"type": event, "data": payload})
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("fake comfy: send to a closing socket failed: %r", exc)

    def _queue_updated(self, st: _ServerState) -> None:
        self._send(st, "status", {"status": self._queue_info(st)}, None)

    @staticmethod
    def _queue_info(st: _ServerState) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": st.tasks_remaining()}}

    async def _abort_sockets(self, st: _ServerState) -> None:
        handlers = list(st.ws_handlers.items())
        for _ws, (request, _task) in handlers:
            transport = request.transport
            if transport is not None:
                transport.abort()
        tasks = [task for _ws, (_req, task) in handlers if not task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    # ------------------------------------------------------------------ WebSocket

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        st = self._state
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connections += 1
        sid = request.query.get("clientId", "")
        if sid:
            st.sockets.pop(sid, None)  # reusing the id: the old socket gets nothing more
        else:
            sid = uuid.uuid4().hex
        st.sockets[sid] = ws
        st.sockets_metadata[sid] = {"feature_flags": {}}
        task = asyncio.current_task()
        assert task is not None
        st.ws_handlers[ws] = (request, task)
        try:
            await self._send_to_socket(ws, "status", {"status": self._queue_info(st), "sid": sid})
            if st.client_id == sid and st.last_node_id is not None:
                await self._send_to_socket(ws, "executing", {"node": st.last_node_id})
            first_message = True
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                        if first_message and data.get("type") == "feature_flags":
                            st.sockets_metadata[sid]["feature_flags"] = data.get("data", {})
                            target = st.sockets.get(sid)
                            if target is not None:
                                await self._send_to_socket(target, "feature_flags", SERVER_FEATURES)
                        first_message = False
                    except json.JSONDecodeError:
                        logger.warning("fake comfy: invalid JSON from client %s", sid)
                    except Exception:
                        logger.exception("fake comfy: error processing a WebSocket message")
        finally:
            # The real server pops by id, even when the id now belongs to a newer socket.
            st.sockets.pop(sid, None)
            st.sockets_metadata.pop(sid, None)
            st.ws_handlers.pop(ws, None)
        return ws

    def _supports_metadata(self, st: _ServerState, sid: str | None) -> bool:
        if sid is None or sid not in st.sockets_metadata:
            return False
        flags = st.sockets_metadata[sid].get("feature_flags", {})
        return flags.get("supports_preview_metadata", False) is True

    # ------------------------------------------------------------------ HTTP: queue & prompts

    async def _get_prompt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._queue_info(self._state))

    async def _post_prompt(self, request: web.Request) -> web.StreamResponse:
        self.prompts_received += 1
        if self.accept_prompts is not None:
            if self.accept_prompts <= 0:
                raise web.HTTPInternalServerError(text="500 Internal Server Error\n\nServer got itself in trouble")
            self.accept_prompts -= 1
        st = self._state
        json_data = await request.json()  # not JSON: 500, like the real server
        if "number" in json_data:
            number: float = float(json_data["number"])
        else:
            number = st.number
            if json_data.get("front"):
                number = -number
            st.number += 1
        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = json_data["prompt"]
        prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
        valid = self._validate_prompt(prompt, json_data.get("partial_execution_targets"))
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if not valid[0]:
            return web.json_response({"error": valid[1], "node_errors": valid[3]}, status=400)
        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        heapq.heappush(st.queue, (number, prompt_id, prompt, extra_data, valid[2], sensitive))
        self._queue_updated(st)
        st.work_event.set()
        self.prompts_accepted += 1
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": valid[3]})

    async def _get_queue(self, request: web.Request) -> web.StreamResponse:
        st = self._state
        return web.json_response(
            {
                "queue_running": [list(x[:5]) for x in st.currently_running.values()],
                "queue_pending": [list(x[:5]) for x in st.queue],
            }
        )

    async def _post_queue(self, request: web.Request) -> web.StreamResponse:
        st = self._state
        json_data = await request.json()
        if json_data.get("clear"):
            st.queue = []
            self._queue_updated(st)
        if "delete" in json_data:
            for id_to_delete in json_data["delete"]:
                for x in range(len(st.queue)):
                    if st.queue[x][1] == id_to_delete:
                        st.queue.pop(x)
                        heapq.heapify(st.queue)
                        self._queue_updated(st)
                        break
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.StreamResponse:
        st = self._state
        try:
            json_data = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        prompt_id = json_data.get("prompt_id")
        if prompt_id:
            if any(item[1] == prompt_id for item in st.currently_running.values()):
                self._interrupt(st)
            else:
                logger.info("fake comfy: prompt %s is not running, interrupt skipped", prompt_id)
        else:
            self._interrupt(st)
        return web.Response(status=200)

    @staticmethod
    def _interrupt(st: _ServerState) -> None:
        st.interrupted = True
        st.interrupt_event.set()

    async def _get_history(self, request: web.Request) -> web.StreamResponse:
        st = self._state
        q = request.query
        max_items = int(q["max_items"]) if "max_items" in q else None
        offset = int(q["offset"]) if "offset" in q else -1
        out: dict[str, Any] = {}
        if offset < 0 and max_items is not None:
            offset = len(st.history) - max_items
        for i, (k, v) in enumerate(st.history.items()):
            if i >= offset:
                out[k] = v
                if max_items is not None and len(out) >= max_items:
                    break
        return web.json_response(out)

    async def _get_history_one(self, request: web.Request) -> web.StreamResponse:
        prompt_id = request.match_info["prompt_id"]
        entry = self._state.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def _post_history(self, request: web.Request) -> web.StreamResponse:
        st = self._state
        json_data = await request.json()
        if json_data.get("clear"):
            st.history.clear()
        for prompt_id in json_data.get("delete", []):
            st.history.pop(prompt_id, None)
        return web.Response(status=200)

    # ------------------------------------------------------------------ HTTP: catalog & misc

    def _render(self, node: NodeClass) -> Any:
        return render_schema(node.schema, self, self.models)

    async def _get_object_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({name: self._render(n) for name, n in self.catalog.items()})

    async def _get_object_info_one(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["node_class"]
        node = self.catalog.get(name)
        return web.json_response({name: self._render(node)} if node is not None else {})

    async def _get_system_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(SYSTEM_STATS)

    async def _get_features(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(SERVER_FEATURES)

    async def _get_empty_list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([])

    async def _get_models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(list(self.models))

    async def _get_models_folder(self, request: web.Request) -> web.StreamResponse:
        folder = request.match_info["folder"]
        if folder not in self.models:
            return web.Response(status=404)
        return web.json_response(list(self.models[folder]))

    async def _post_free(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    # ------------------------------------------------------------------ HTTP: files

    def _dir_by_type(self, dir_type: str | None) -> Path | None:
        return {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}.get(dir_type or "input")

    async def _get_view(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if "filename" not in q:
            return web.Response(status=404)
        filename = q["filename"]
        output_dir: Path | None = None
        for suffix, kind in ((" [output]", "output"), (" [input]", "input"), (" [temp]", "temp")):
            if filename.endswith(suffix):
                filename, output_dir = filename[: -len(suffix)], self._dir_by_type(kind)
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        if output_dir is None:
            output_dir = self._dir_by_type(q.get("type", "output"))
        if output_dir is None:
            return web.Response(status=400)
        path = await asyncio.to_thread(_view_path, output_dir, q.get("subfolder"), filename)
        if path is None:
            return web.Response(status=403)
        filename = path.name
        if not await asyncio.to_thread(path.is_file):
            return web.Response(status=404)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        if "preview" in q:
            body, fmt = await asyncio.to_thread(_reencode_preview, path, q["preview"], q.get("channel", ""))
            return web.Response(body=body, content_type=f"image/{fmt}", headers=disposition)
        channel = q.get("channel", "rgba")
        if channel in ("rgb", "a"):
            body = await asyncio.to_thread(_reencode_channel, path, channel)
            return web.Response(body=body, content_type="image/png", headers=disposition)
        content_type = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        if self.view_trickle:
            return await self._trickle(request, path, {**disposition, "Content-Type": content_type})
        return web.FileResponse(path, headers={**disposition, "Content-Type": content_type})

    async def _trickle(self, request: web.Request, path: Path, headers: dict[str, str]) -> web.StreamResponse:
        """A file sent 64 KiB at a time with `view_trickle` seconds in between: a slow link to ComfyUI."""
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        data = await asyncio.to_thread(path.read_bytes)
        for start in range(0, len(data), 64 * 1024):
            await response.write(data[start : start + 64 * 1024])
            await asyncio.sleep(self.view_trickle)
        await response.write_eof()
        return response

    async def _post_upload_image(self, request: web.Request) -> web.StreamResponse:
        post = await request.post()
        image = post.get("image")
        overwrite = post.get("overwrite")
        upload_type = post.get("type")
        upload_type = upload_type if isinstance(upload_type, str) else None
        upload_dir = self._dir_by_type(upload_type)
        if upload_dir is None:
            raise ValueError(f"unknown upload type {upload_type!r}")  # the real server: 500
        if not isinstance(image, web.FileField):
            return web.Response(status=400)
        if not image.filename:
            return web.Response(status=400)
        subfolder = post.get("subfolder", "")
        subfolder = subfolder if isinstance(subfolder, str) else ""
        data = await asyncio.to_thread(image.file.read)
        result = await asyncio.to_thread(
            _store_upload,
            upload_dir,
            subfolder,
            image.filename,
            data,
            overwrite in ("true", "1"),
        )
        if result is None:
            return web.Response(status=400)
        return web.json_response({"name": result, "subfolder": subfolder, "type": upload_type or "input"})

    # ------------------------------------------------------------------ validation

    def _validate_prompt(
        self, prompt: Any, partial_targets: list[str] | None
    ) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
        outputs: list[str] = []
        for x in prompt:
            if "class_type" not in prompt[x]:
                return (
                    False,
                    _error(
                        "invalid_prompt",
                        "Cannot execute because a node is missing the class_type property.",
                        f"Node ID '#{x}'",
                    ),
                    [],
                    {},
                )
            class_type = prompt[x]["class_type"]
            node = self.catalog.get(class_type) if isinstance(class_type, str) else None
            if node is None:
                return (
                    False,
                    _error(
                        "invalid_prompt",
                        f"Cannot execute because node {class_type} does not exist.",
                        f"Node ID '#{x}'",
                    ),
                    [],
                    {},
                )
            if node.output_node and (partial_targets is None or x in partial_targets):
                outputs.append(x)
        if not outputs:
            return False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}

        good_outputs: list[str] = []
        errors: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
        schemas: dict[str, Any] = {}
        for o in outputs:
            try:
                valid, reasons = self._validate_inputs(prompt, o, validated, schemas)[:2]
            except Exception as ex:  # the real server reports any exception as a node error
                inner, frames = _unwrap_fault(ex)
                reasons = [
                    {
                        "type": "exception_during_validation",
                        "message": "Exception when validating node",
                        "details": str(inner),
                        "extra_info": {
                            "exception_type": _full_type_name(type(inner)),
                            "traceback": [_TB_VALIDATE_PROMPT, *frames],
                        },
                    }
                ]
                valid = False
                validated[o] = (False, reasons, o)
            if valid is True:
                good_outputs.append(o)
                continue
            errors.append((o, reasons))
            for node_id, result in validated.items():
                if result[0] is not True and len(result[1]) > 0:
                    if node_id not in node_errors:
                        node_errors[node_id] = {
                            "errors": result[1],
                            "dependent_outputs": [],
                            "class_type": prompt[node_id]["class_type"],
                        }
                    node_errors[node_id]["dependent_outputs"].append(o)
        if not good_outputs:
            details = "\n".join(f"{err['message']}: {err['details']}" for _o, errs in errors for err in errs)
            return (
                False,
                _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details),
                [],
                node_errors,
            )
        return True, None, good_outputs, node_errors

    def _validate_inputs(
        self,
        prompt: dict[str, Any],
        unique_id: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]],
        schemas: dict[str, Any],
    ) -> tuple[bool, list[dict[str, Any]], str]:
        if unique_id in validated:
            return validated[unique_id]
        inputs = prompt[unique_id]["inputs"]
        class_type = prompt[unique_id]["class_type"]
        node = self.catalog[class_type]
        if class_type not in schemas:
            schemas[class_type] = self._render(node)
        class_inputs = schemas[class_type]["input"]
        required = class_inputs.get("required", {})
        optional = class_inputs.get("optional", {})
        errors: list[dict[str, Any]] = []
        valid = True
        for x in [*required, *(k for k in optional if k not in required)]:
            category = "required" if x in required else "optional"
            spec = required[x] if x in required else optional[x]
            input_type = spec[0]
            extra_info = spec[1] if len(spec) > 1 else {}
            info = [input_type, extra_info]
            if x not in inputs:
                if category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": f"{x}",
                            "extra_info": {"input_name": x},
                        }
                    )
                continue
            val = inputs[x]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            "details": f"{x}",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_value": val,
                            },
                        }
                    )
                    continue
                o_id = val[0]
                try:
                    o_class_type = prompt[o_id]["class_type"]
                except Exception as ex:
                    raise _ValidationFaultError(ex, _TB_CLASS_LOOKUP) from ex
                r = self.catalog[o_class_type].return_types
                try:
                    received_type = r[val[1]]
                except Exception as ex:
                    raise _ValidationFaultError(ex, _TB_RETURN_INDEX) from ex
                if x not in node.validate_inputs and not _validate_node_input(received_type, input_type):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_type": received_type,
                                "linked_node": val,
                            },
                        }
                    )
                    continue
                try:
                    r2 = self._validate_inputs(prompt, o_id, validated, schemas)
                    if r2[0] is False:
                        valid = False
                        continue
                except Exception as ex:
                    inner, frames = _unwrap_fault(ex)
                    valid = False
                    validated[o_id] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(inner),
                                "extra_info": {
                                    "input_name": x,
                                    "input_config": info,
                                    "exception_message": str(inner),
                                    "exception_type": _full_type_name(type(inner)),
                                    "traceback": [_TB_INNER_CALL, *frames],
                                    "linked_node": val,
                                },
                            }
                        ],
                        o_id,
                    )
                    continue
            else:
                try:
                    if isinstance(val, dict) and "__value__" in val:
                        val = val["__value__"]
                        inputs[x] = val
                    if input_type == "INT":
                        val = int(val)
                        inputs[x] = val
                    if input_type == "FLOAT":
                        val = float(val)
                        inputs[x] = val
                    if input_type == "STRING":
                        val = str(val)
                        inputs[x] = val
                    if input_type == "BOOLEAN":
                        val = bool(val)
                        inputs[x] = val
                except Exception as ex:
                    errors.append(
                        {
                            "type": "invalid_input_type",
                            "message": f"Failed to convert an input value to a {input_type} value",
                            "details": f"{x}, {val}, {ex}",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_value": val,
                                "exception_message": str(ex),
                            },
                        }
                    )
                    continue
                if x in node.validate_inputs:
                    continue
                if "min" in extra_info and val < extra_info["min"]:
                    errors.append(
                        {
                            "type": "value_smaller_than_min",
                            "message": f"Value {val} smaller than min of {extra_info['min']}",
                            "details": f"{x}",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_value": val,
                            },
                        }
                    )
                    continue
                if "max" in extra_info and val > extra_info["max"]:
                    errors.append(
                        {
                            "type": "value_bigger_than_max",
                            "message": f"Value {val} bigger than max of {extra_info['max']}",
                            "details": f"{x}",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_value": val,
                            },
                        }
                    )
                    continue
                if isinstance(input_type, list) or input_type == "COMBO":
                    options = input_type if isinstance(input_type, list) else extra_info.get("options", [])
                    if val not in options:
                        input_config: Any = info
                        if len(options) > 20:
                            list_info = f"(list of length {len(options)})"
                            input_config = None
                        else:
                            list_info = str(options)
                        errors.append(
                            {
                                "type": "value_not_in_list",
                                "message": "Value not in list",
                                "details": f"{x}: '{val}' not in {list_info}",
                                "extra_info": {
                                    "input_name": x,
                                    "input_config": input_config,
                                    "received_value": val,
                                },
                            }
                        )
                        continue
        if node.validator is not None and node.validate_inputs:
            given = {x: inputs[x] for x in node.validate_inputs if x in inputs and not isinstance(inputs[x], list)}
            missing = [x for x in node.validate_inputs if x not in inputs]
            if missing:
                raise TypeError(f"VALIDATE_INPUTS() missing 1 required positional argument: '{missing[0]}'")
            ret = node.validator(self, given)
            if ret is not True:
                for x in given:
                    details = f"{x}" if ret is False else f"{x} - {ret}"
                    errors.append(
                        {
                            "type": "custom_validation_failed",
                            "message": "Custom validation failed for node",
                            "details": details,
                            "extra_info": {"input_name": x},
                        }
                    )
        result = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
        validated[unique_id] = result
        return result

    # ------------------------------------------------------------------ worker / executor

    async def _worker(self, st: _ServerState) -> None:
        while True:
            while not st.queue or self._held:
                st.work_event.clear()
                await st.work_event.wait()
            item = heapq.heappop(st.queue)
            if self._starts_left is not None:
                self._starts_left -= 1
                if self._starts_left == 0:
                    self.hold()
            item_id = st.task_counter
            st.currently_running[item_id] = item
            st.task_counter += 1
            self._queue_updated(st)
            number, prompt_id, prompt, extra_data, outputs_to_execute, _sensitive = item
            run = _PromptRun(number, prompt_id, prompt, extra_data.get("client_id"), list(outputs_to_execute))
            try:
                await self._execute(st, run)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("fake comfy: executor bug")
                run.success = False
            if self.pause_from == "execution":
                self._pause_after_job()
            await st.outbox.join()  # execute() sent its messages (execution_success last) before the worker goes on
            st.currently_running.pop(item_id, None)
            if len(st.history) > MAX_HISTORY:
                st.history.pop(next(iter(st.history)))
            st.history[prompt_id] = {
                "prompt": [number, prompt_id, prompt, extra_data, list(outputs_to_execute)],
                "outputs": run.ui_outputs if run.success else {},
                "status": {
                    "status_str": "success" if run.success else "error",
                    "completed": run.success,
                    "messages": run.messages,
                },
                "meta": run.meta if run.success else {},
            }
            self.prompt_finished(prompt_id)
            self._queue_updated(st)
            if st.client_id is not None:
                self._send(st, "executing", {"node": None, "prompt_id": prompt_id}, st.client_id)
            st.current = None
            if self.pause_from == "success":
                self._pause_after_job()

    def _pause_after_job(self) -> None:
        """ComfyUI's gc.collect() after a job: everything stalls, at most once per `pause_interval`."""
        now = time.monotonic()
        if self.post_job_pause <= 0 or (self.pauses and now - self.pauses[-1][0] < self.pause_interval):
            return
        self._paused_until = now + self.post_job_pause
        self.pauses.append((now, self._paused_until))

    def _add_message(
        self, st: _ServerState, run: _PromptRun, event: str, data: dict[str, Any], *, broadcast: bool
    ) -> None:
        data = {**data, "timestamp": _now_ms()}
        run.messages.append([event, data])
        self.prompt_event(run.prompt_id, event)
        if st.client_id is not None or broadcast:
            self._send(st, event, data, st.client_id)

    def _progress_entry(self, run: _PromptRun, node_id: str, value: Any, max_: Any, state: str) -> dict[str, Any]:
        return {
            "value": value,
            "max": max_,
            "state": state,
            "node_id": node_id,
            "prompt_id": run.prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
        }

    def _send_progress_state(self, st: _ServerState, run: _PromptRun) -> None:
        self._send(st, "progress_state", {"prompt_id": run.prompt_id, "nodes": run.progress}, run.client_id)

    def _finish_progress(self, st: _ServerState, run: _PromptRun, node_id: str) -> None:
        entry = run.progress.get(node_id)
        if entry is None:
            entry = run.progress[node_id] = self._progress_entry(run, node_id, 0, 1, "pending")
        entry["state"] = "finished"
        entry["value"] = entry["max"]
        self._send_progress_state(st, run)

    async def _report_progress(
        self, st: _ServerState, run: _PromptRun, node_id: str, value: int, total: int, preview: bool
    ) -> None:
        entry = run.progress.get(node_id)
        if entry is None:
            entry = run.progress[node_id] = self._progress_entry(run, node_id, 0, 1, "running")
        entry.update(value=value, max=total, state="running")
        self._send_progress_state(st, run)
        image = None
        if preview:
            image = self.preview_image if self.preview_image is not None else preview_jpeg(value, total)
        with_metadata = self._supports_metadata(st, run.client_id)
        if image is not None and with_metadata:
            metadata = {
                "node_id": node_id,
                "prompt_id": run.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
                "image_type": "image/jpeg",
            }
            self._send(st, PREVIEW_IMAGE_WITH_METADATA, encode_preview_frame(image, metadata), run.client_id)
        self._send(
            st,
            "progress",
            {"value": value, "max": total, "prompt_id": run.prompt_id, "node": node_id},
            run.client_id,
        )
        if image is not None and not with_metadata:
            self._send(st, PREVIEW_IMAGE, encode_preview_frame(image), run.client_id)

    async def _execute(self, st: _ServerState, run: _PromptRun) -> None:
        st.current = run
        st.interrupted = False
        st.interrupt_event.clear()
        st.client_id = run.client_id
        prompt = run.prompt
        self._add_message(st, run, "execution_start", {"prompt_id": run.prompt_id}, broadcast=False)
        sigs: dict[str, str] = {}
        for nid in prompt:
            self._signature(prompt, nid, sigs, set())
        keep = set(sigs.values())
        st.cache = {k: v for k, v in st.cache.items() if k in keep}
        cached = [nid for nid in prompt if sigs[nid] in st.cache]
        self._add_message(st, run, "execution_cached", {"nodes": cached, "prompt_id": run.prompt_id}, broadcast=False)
        order = self._plan(prompt, run.outputs_to_execute, sigs, st.cache)
        outputs = set(run.outputs_to_execute)
        if self.job_duration:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.job_duration):
                    await st.interrupt_event.wait()  # the first node then sees the interrupt
        try:
            for nid in order:
                await self._execute_node(st, run, nid, sigs[nid], nid in outputs)
        except _NodeInterruptedError as ex:
            run.success = False
            self._add_message(
                st,
                run,
                "execution_interrupted",
                {
                    "prompt_id": run.prompt_id,
                    "node_id": ex.node_id,
                    "node_type": prompt[ex.node_id]["class_type"],
                    "executed": list(run.executed),
                },
                broadcast=True,
            )
        except _NodeFailedError as ex:
            run.success = False
            self._add_message(
                st,
                run,
                "execution_error",
                {
                    "prompt_id": run.prompt_id,
                    "node_id": ex.node_id,
                    "node_type": prompt[ex.node_id]["class_type"],
                    "executed": list(run.executed),
                    **ex.details,
                    "current_outputs": list(prompt),
                },
                broadcast=False,
            )
        else:
            self._add_message(st, run, "execution_success", {"prompt_id": run.prompt_id}, broadcast=False)
        finally:
            st.last_node_id = None

    def _signature(self, prompt: dict[str, Any], nid: str, sigs: dict[str, str], visiting: set[str]) -> str:
        if nid in sigs:
            return sigs[nid]
        visiting.add(nid)
        node = prompt[nid]
        cls = self.catalog.get(node["class_type"])
        parts: list[Any] = [node["class_type"]]
        if cls is not None and cls.is_changed is not None:
            parts.append(cls.is_changed(self, node["inputs"]))
        if cls is not None and cls.unique_id_in_key:
            parts.append(nid)
        for key in sorted(node["inputs"]):
            v = node["inputs"][key]
            if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and v[0] in prompt:
                if v[0] in visiting:
                    parts.append([key, "cycle", v[0]])
                else:
                    parts.append([key, "link", self._signature(prompt, v[0], sigs, visiting), v[1]])
            else:
                parts.append([key, json.dumps(v, sort_keys=True, default=str)])
        visiting.discard(nid)
        sig = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
        sigs[nid] = sig
        return sig

    @staticmethod
    def _plan(
        prompt: dict[str, Any], outputs: list[str], sigs: dict[str, str], cache: dict[str, _CacheEntry]
    ) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(nid: str) -> None:
            if nid in seen:
                return
            seen.add(nid)
            if sigs[nid] not in cache:
                for v in prompt[nid]["inputs"].values():
                    if isinstance(v, list) and len(v) == 2 and v[0] in prompt:
                        visit(v[0])
            order.append(nid)

        for o in outputs:
            visit(o)
        return order

    async def _execute_node(self, st: _ServerState, run: _PromptRun, nid: str, sig: str, is_output: bool) -> None:
        node = run.prompt[nid]
        class_type = node["class_type"]
        entry = st.cache.get(sig)
        if entry is not None:
            run.values[nid] = entry.outputs
            if not is_output:
                return
            if run.client_id is not None:
                self._send(
                    st,
                    "executed",
                    {
                        "node": nid,
                        "display_node": nid,
                        "output": entry.ui,
                        "prompt_id": run.prompt_id,
                    },
                    run.client_id,
                )
            if entry.ui is not None:
                run.ui_outputs[nid] = entry.ui
                run.meta[nid] = _meta(nid)
            self._finish_progress(st, run, nid)
            return
        run.progress[nid] = self._progress_entry(run, nid, 0.0, 1.0, "running")
        self._send_progress_state(st, run)
        if run.client_id is not None:
            st.last_node_id = nid
            self._send(st, "executing", {"node": nid, "display_node": nid, "prompt_id": run.prompt_id}, run.client_id)
        if st.interrupted:
            raise _NodeInterruptedError(nid)
        cls = self.catalog[class_type]
        inputs = self._resolve_inputs(run, node, cls)
        behaviour = cls.behaviour or generic_behaviour
        noderun = NodeRun(nid, class_type, inputs, cls.schema, _Engine(self, st, run))
        try:
            result = await behaviour(noderun)
        except ProcessingInterruptedError:
            raise _NodeInterruptedError(nid) from None
        except Exception as ex:
            raise _NodeFailedError(
                nid,
                {
                    "exception_message": f"{ex}\n",
                    "exception_type": _full_type_name(type(ex)),
                    "traceback": traceback.format_tb(ex.__traceback__),
                    "current_inputs": {k: [_format_value(v)] for k, v in inputs.items()},
                },
            ) from ex
        outputs = tuple(result.outputs)
        run.values[nid] = outputs
        ui = result.ui or None
        if ui is not None:
            run.ui_outputs[nid] = ui
            run.meta[nid] = _meta(nid)
            if run.client_id is not None:
                self._send(
                    st,
                    "executed",
                    {
                        "node": nid,
                        "display_node": nid,
                        "output": ui,
                        "prompt_id": run.prompt_id,
                    },
                    run.client_id,
                )
        st.cache[sig] = _CacheEntry(outputs, copy.deepcopy(ui))
        run.executed.append(nid)
        self._finish_progress(st, run, nid)

    @staticmethod
    def _resolve_inputs(run: _PromptRun, node: dict[str, Any], cls: NodeClass) -> dict[str, Any]:
        declared = cls.schema.get("input", {})
        names = set(declared.get("required", {})) | set(declared.get("optional", {}))
        resolved: dict[str, Any] = {}
        for key, v in node["inputs"].items():
            if isinstance(v, list) and len(v) == 2 and v[0] in run.prompt:
                produced = run.values.get(v[0], ())
                resolved[key] = produced[v[1]] if v[1] < len(produced) else None
            elif key in names:
                resolved[key] = v
        return resolved


def _meta(nid: str) -> dict[str, Any]:
    return {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}


def _error(type_: str, message: str, details: str) -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": {}}


def _unwrap_fault(ex: BaseException) -> tuple[BaseException, list[str]]:
    if isinstance(ex, _ValidationFaultError):
        return ex.inner, list(ex.frames)
    return ex, traceback.format_tb(ex.__traceback__)


def _view_path(output_dir: Path, subfolder: str | None, filename: str) -> Path | None:
    """The file /view serves, or None when the subfolder escapes the directory (403)."""
    base = os.path.abspath(output_dir)
    if subfolder is not None:
        full = os.path.join(base, subfolder)
        if os.path.commonpath((os.path.abspath(full), base)) != base:
            return None
        base = full
    return Path(base) / os.path.basename(filename)


def _store_upload(upload_dir: Path, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str | None:
    """POST /upload/image's file handling: dedupe identical bytes, rename different ones."""
    base = os.path.abspath(upload_dir)
    folder = os.path.join(base, os.path.normpath(subfolder))
    filepath = os.path.abspath(os.path.join(folder, filename))
    if os.path.commonpath((base, filepath)) != base:
        return None
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(filename)
    if not overwrite:
        i = 1
        digest = hashlib.sha256(data).hexdigest()
        while os.path.exists(filepath):
            with open(filepath, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == digest:
                    return filename  # duplicate: no new file
            filename = f"{stem} ({i}){ext}"
            filepath = os.path.join(folder, filename)
            i += 1
    with open(filepath, "wb") as f:
        f.write(data)
    return filename


def _reencode_preview(path: Path, preview: str, channel: str) -> tuple[bytes, str]:
    with Image.open(path) as img:
        info = preview.split(";")
        fmt = info[0]
        if fmt not in ("webp", "jpeg") or "a" in channel:
            fmt = "webp"
        quality = int(info[-1]) if info[-1].isdigit() else 90
        out: Image.Image = img
        if fmt == "jpeg" or channel == "rgb":
            out = img.convert("RGB")
        buf = io.BytesIO()
        out.save(buf, format=fmt.upper(), quality=quality)
        return buf.getvalue(), fmt


def _reencode_channel(path: Path, channel: str) -> bytes:
    with Image.open(path) as img:
        if channel == "rgb":
            out = img.convert("RGB")
        else:
            rgba = img.convert("RGBA")
            alpha = rgba.split()[3]
            out = Image.new("RGBA", rgba.size)
            out.putalpha(alpha)
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        return buf.getvalue()


__all__ = [
    "COMFYUI_VERSION",
    "PREVIEW_IMAGE",
    "PREVIEW_IMAGE_WITH_METADATA",
    "SERVER_FEATURES",
    "FakeComfy",
    "RecordedRequest",
    "decode_preview_frame",
    "encode_preview_frame",
]
