"""ComfyUI's HTTP API: one method per route, every transport error wrapped into ComfyError."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

from discomfy.comfy.errors import (
    ComfyConnectionError,
    ComfyError,
    ComfyHTTPError,
    ComfyTimeoutError,
    NodeError,
    OutputDownloadError,
    WorkflowRejectedError,
)
from discomfy.comfy.models import (
    DownloadedFile,
    OutputFile,
    QueueEntry,
    QueueState,
    SystemStats,
    UploadedImage,
)
from discomfy.comfy.outputs import safe_filename
from discomfy.comfy.settings import ComfySettings
from discomfy.ids import short_id
from discomfy.retry import Backoff, retry

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 128 * 1024 * 1024  # an API answer (/history, /queue, /object_info) larger than this is refused
PARSE_OFF_LOOP_BYTES = 1024 * 1024  # JSON answers larger than this are parsed in a worker thread
SUBMIT_BACKOFF = Backoff(first=0.25, cap=8.0, jitter=True)  # a brief hiccup of ComfyUI, not an outage


class ComfyClient:
    """Thin typed wrapper over ComfyUI's routes on a borrowed aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, settings: ComfySettings) -> None:
        self._session = session
        self._settings = settings
        self.base_url = settings.url  # validated without its trailing slash
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout)
        self._headers = dict(settings.headers)

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        """Send one request; return status and body. Raises ComfyConnectionError on transport errors."""
        url = self.base_url + path
        try:
            async with self._session.request(
                method, url, timeout=self._timeout, headers=self._headers, **kwargs
            ) as resp:
                return resp.status, await _read_bounded(resp, method, path)
        except TimeoutError as exc:
            raise ComfyTimeoutError(self.base_url, f"no answer to {method} {path} in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ComfyConnectionError(self.base_url, _describe(exc)) from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = await self._request(method, path, **kwargs)
        if status != 200:
            raise ComfyHTTPError(method, path, status, body.decode("utf-8", "replace"))
        try:
            if len(body) > PARSE_OFF_LOOP_BYTES:  # a big /history or /object_info would stall every other job
                return await asyncio.to_thread(json.loads, body)
            return json.loads(body) if body else None
        except (ValueError, RecursionError) as exc:
            raise ComfyHTTPError(method, path, status, "answer is not JSON") from exc

    async def submit(self, graph: Mapping[str, Any], *, client_id: str, prompt_id: str, front: bool = False) -> int:
        """Queue a prompt under our ids; return its queue number.

        Raises:
            WorkflowRejectedError: ComfyUI refused the workflow (400); never retried.
            ComfyConnectionError: ComfyUI stayed unreachable through every retry.
        """
        body: dict[str, Any] = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        if front:
            body["front"] = True
        retrying = False

        async def post() -> int:
            nonlocal retrying
            if retrying and await self._already_queued(prompt_id):
                log.info("Prompt %s was queued despite the failed attempt", short_id(prompt_id))
                return 0
            retrying = True
            status, raw = await self._request("POST", "/prompt", json=body)
            return _submit_answer(status, raw)

        return await retry(
            post,
            retry_on=(ComfyConnectionError,),
            tries=max(1, self._settings.submit_retries + 1),
            backoff=SUBMIT_BACKOFF,
            what=f"Submitting {short_id(prompt_id)}",
            logger=log,
        )

    async def _already_queued(self, prompt_id: str) -> bool:
        """After a transport error on POST /prompt: did the server take it anyway (queued, or even done)?"""
        try:
            state = await self.queue()
            return state.knows(prompt_id) or await self.history(prompt_id) is not None
        except ComfyError:
            return False

    async def history(self, prompt_id: str) -> Mapping[str, Any] | None:
        """The history entry of a prompt, or None while it is unknown, pending or running."""
        data = await self._json("GET", f"/history/{prompt_id}")
        if isinstance(data, Mapping):
            entry = data.get(prompt_id)
            if isinstance(entry, Mapping):
                return entry
        return None

    async def queue(self) -> QueueState:
        """Running and pending prompts; pending sorted by number (the server sends a heap)."""
        requested_at = time.monotonic()
        data = await self._json("GET", "/queue") or {}
        try:
            running = tuple(_queue_entry(item) for item in data.get("queue_running") or ())
            pending = sorted((_queue_entry(item) for item in data.get("queue_pending") or ()), key=lambda e: e.number)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise ComfyHTTPError("GET", "/queue", 200, f"unexpected queue shape: {exc}") from exc
        return QueueState(running=running, pending=tuple(pending), requested_at=requested_at)

    async def interrupt(self, prompt_id: str | None) -> None:
        """POST /interrupt, scoped to one prompt when given (ComfyUI >= 0.3.56 honours the scope)."""
        await self._ok("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})

    async def delete_pending(self, prompt_ids: list[str]) -> None:
        await self._ok("POST", "/queue", json={"delete": prompt_ids})

    async def clear_pending(self) -> None:
        await self._ok("POST", "/queue", json={"clear": True})

    async def _ok(self, method: str, path: str, **kwargs: Any) -> None:
        status, body = await self._request(method, path, **kwargs)
        if status != 200:
            raise ComfyHTTPError(method, path, status, body.decode("utf-8", "replace"))

    async def upload_image(
        self, data: bytes, filename: str, *, subfolder: str = "", overwrite: bool = False
    ) -> UploadedImage:
        """Store an input image on the server; always use the returned name (it may be renamed)."""
        form = aiohttp.FormData()
        form.add_field("image", data, filename=safe_filename(filename, fallback="input.png"))
        form.add_field("type", "input")
        form.add_field("subfolder", subfolder)
        form.add_field("overwrite", "true" if overwrite else "false")
        answer = await self._json("POST", "/upload/image", data=form)
        if not isinstance(answer, Mapping) or not answer.get("name"):
            raise ComfyHTTPError("POST", "/upload/image", 200, f"no file name in the answer: {str(answer)[:200]}")
        return UploadedImage(
            name=str(answer["name"]),
            subfolder=str(answer.get("subfolder") or ""),
            type=str(answer.get("type") or "input"),
        )

    async def system_stats(self) -> SystemStats:
        data = await self._json("GET", "/system_stats") or {}
        system = data.get("system") or {}
        devices = [d for d in data.get("devices") or () if isinstance(d, dict)]
        names = tuple(str(d.get("name", "?")) for d in devices)
        vram = tuple((_bytes(d.get("vram_free")), _bytes(d.get("vram_total"))) for d in devices)
        return SystemStats(system.get("comfyui_version"), system.get("python_version"), names, vram)

    async def object_info(self) -> dict[str, Any]:
        return await self._json("GET", "/object_info") or {}

    async def download(self, output: OutputFile, directory: Path) -> DownloadedFile:
        """Stream one output file to `directory`: memory stays flat whatever its size, and disk writes overlap
        the network reads. A small file costs one hop to a worker thread; a failed or cancelled download
        leaves nothing behind. Bounded in size (`max_download_mb`) and in time (`download_deadline`).

        Raises:
            OutputDownloadError: the server would not give the file, the transfer broke (`transient`), or the
                file is too large, too slow, or cannot be written to the bot's disk (not transient).
        """
        sink = _FileSink(directory, safe_filename(output.filename))
        try:
            async with asyncio.timeout(self._settings.download_deadline):
                path, size, content_type = await self._fetch_into(output, sink)
        except BaseException as exc:  # whatever ended it, nothing half-written stays behind
            await asyncio.shield(asyncio.to_thread(sink.discard))
            error = self._download_error(output.filename, exc)
            if error is None:
                raise
            raise error from exc
        return DownloadedFile(output=output, path=path, size=size, content_type=content_type)

    def _download_error(self, filename: str, exc: BaseException) -> OutputDownloadError | None:
        """What a failed download means for the job; None for what is not a download's failure (a cancel)."""
        if isinstance(exc, OutputDownloadError):
            return exc
        if isinstance(exc, _DiskError):
            return OutputDownloadError(filename, f"cannot be saved on the bot's disk ({exc.reason})")
        if isinstance(exc, aiohttp.ClientError):  # the connection broke or stalled (sock_read): worth another try
            return OutputDownloadError(filename, _describe(exc), transient=True)
        if isinstance(exc, TimeoutError):  # the whole file's deadline: a trickle that would never end
            return OutputDownloadError(filename, f"it took longer than {self._settings.download_deadline:.0f} s")
        if isinstance(exc, OSError):
            return OutputDownloadError(filename, _describe(exc), transient=True)
        return None

    async def _fetch_into(self, output: OutputFile, sink: _FileSink) -> tuple[Path, int, str]:
        params = {"filename": output.filename, "subfolder": output.subfolder, "type": output.type}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self._settings.request_timeout)
        async with self._session.get(
            self.base_url + "/view", params=params, timeout=timeout, headers=self._headers
        ) as resp:
            if resp.status != 200:
                raise OutputDownloadError(output.filename, f"ComfyUI answered {resp.status}")
            limit = self._settings.max_download_bytes
            if resp.content_length is not None and resp.content_length > limit:
                raise OutputDownloadError(output.filename, _too_large(resp.content_length, limit))
            path, size = await self._stream_to(resp.content, sink, output.filename, limit)
            return path, size, resp.content_type or "application/octet-stream"

    async def _stream_to(
        self, content: aiohttp.StreamReader, sink: _FileSink, filename: str, limit: int
    ) -> tuple[Path, int]:
        """Batches of about `download_chunk_size` bytes go to a worker thread while the next batch is read."""
        batch_size = self._settings.download_chunk_size
        batch: list[bytes] = []
        batched = size = 0
        writing: asyncio.Future[None] | None = None
        try:
            async for chunk in content.iter_chunked(batch_size):
                batch.append(chunk)
                batched += len(chunk)
                size += len(chunk)
                if size > limit:
                    raise OutputDownloadError(filename, _too_large(size, limit, more=True))
                if batched >= batch_size:
                    if writing is not None:
                        await writing  # at most one batch in the air and one filling: memory stays constant
                    writing = asyncio.ensure_future(asyncio.to_thread(sink.write, batch))
                    batch, batched = [], 0
        finally:
            if writing is not None:  # never let the file be discarded under a write still running
                await asyncio.gather(writing, return_exceptions=True)
        if writing is not None:
            writing.result()  # a failed write raises here
        return await asyncio.to_thread(sink.finish, batch), size


class _DiskError(Exception):
    """Writing an output to the bot's own disk failed (full, read-only, name too long): not ComfyUI's fault."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.reason = error.strerror or str(error)


def _too_large(size: int, limit: int, *, more: bool = False) -> str:
    mib = 1024 * 1024
    return f"{'more than ' if more else ''}{size / mib:.0f} MB, larger than the {limit / mib:.0f} MB the bot accepts"


class _FileSink:
    """The file a download goes to, written from worker threads: a `.part` file renamed into place at the end."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self._open: tuple[BinaryIO, Path, Path] | None = None  # the file, its .part path, its final path

    def _opened(self) -> tuple[BinaryIO, Path, Path]:
        if self._open is None:
            self._open = reserve(self.directory, self.name)
        return self._open

    def write(self, chunks: list[bytes]) -> None:
        try:
            self._opened()[0].writelines(chunks)
        except OSError as exc:
            raise _DiskError(exc) from exc

    def finish(self, chunks: list[bytes]) -> Path:
        try:
            file, partial, target = self._opened()
            file.writelines(chunks)
            file.close()
            partial.replace(target)
        except OSError as exc:
            raise _DiskError(exc) from exc
        return target

    def discard(self) -> None:
        if self._open is not None:
            file, partial, _target = self._open
            file.close()
            partial.unlink(missing_ok=True)


async def _read_bounded(resp: aiohttp.ClientResponse, method: str, path: str) -> bytes:
    """The body of an API answer, refused past MAX_ANSWER_BYTES instead of filling memory."""
    if resp.content_length is not None and resp.content_length > MAX_ANSWER_BYTES:
        raise ComfyHTTPError(method, path, resp.status, f"answer of {resp.content_length} bytes is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(1024 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ComfyHTTPError(method, path, resp.status, f"answer of more than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def reserve(directory: Path, name: str) -> tuple[BinaryIO, Path, Path]:
    """A name in `directory` no other output holds: `name`, else `name (2)`... (outputs of different subfolders
    may share a name). Reserved by creating `<name>.part` exclusively, so parallel downloads never collide.

    Returns the open .part file, its path, and the final path it is renamed to when complete.
    """
    directory.mkdir(parents=True, exist_ok=True)
    first = directory / name
    for counter in itertools.count(1):
        target = first if counter == 1 else directory / f"{first.stem} ({counter}){first.suffix}"
        partial = target.with_name(target.name + ".part")
        if target.exists():
            continue
        try:
            file = partial.open("xb")
        except FileExistsError:
            continue
        if target.exists():  # another download finished under this name just now: let it have it
            file.close()
            partial.unlink(missing_ok=True)
            continue
        return file, partial, target
    raise AssertionError("unreachable")


def _submit_answer(status: int, raw: bytes) -> int:
    text = raw.decode("utf-8", "replace")
    if status == 200:
        try:
            answer = json.loads(raw)
            number = int(answer.get("number", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ComfyHTTPError("POST", "/prompt", status, f"not a ComfyUI answer: {text[:200]}") from exc
        if answer.get("node_errors"):  # accepted with some outputs dropped: the user asked for all of them
            error = _rejection(text)
            error.queued_anyway = True
            raise error
        return number
    if status == 400:
        raise _rejection(text)
    raise ComfyHTTPError("POST", "/prompt", status, text)


def _rejection(text: str) -> WorkflowRejectedError:
    """Build a readable error from ComfyUI's 400 body (`error` plus per-node `node_errors`).

    Whatever the body's shape (a proxy's HTML, a JSON list, node errors that are not objects), this returns
    an error: a rejection must never become a crash that leaves the job unsettled.
    """
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        return WorkflowRejectedError("unknown", "ComfyUI refused the workflow without saying why", "", ())
    error = body.get("error")
    error = {"message": error} if isinstance(error, str) else error if isinstance(error, Mapping) else {}
    node_errors = body.get("node_errors")
    nodes = node_errors.items() if isinstance(node_errors, Mapping) else ()
    return WorkflowRejectedError(
        error_type=str(error.get("type") or "invalid_prompt"),
        message=str(error.get("message") or "the workflow is invalid"),
        details=str(error.get("details") or ""),
        node_errors=tuple(e for node_id, info in nodes for e in _node_errors(str(node_id), info)),
    )


def _node_errors(node_id: str, info: object) -> list[NodeError]:
    """One node's entry of `node_errors`, skipping whatever is not shaped like ComfyUI's."""
    if not isinstance(info, Mapping):
        return []
    items = info.get("errors")
    found = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        extra = item.get("extra_info")
        input_name = extra.get("input_name") if isinstance(extra, Mapping) else None
        found.append(
            NodeError(
                node_id=node_id,
                class_type=str(info.get("class_type") or ""),
                input_name=input_name if isinstance(input_name, str) else None,
                kind=str(item.get("type") or ""),
                message=str(item.get("message") or ""),
                details=str(item.get("details") or ""),
            )
        )
    return found


def _bytes(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _queue_entry(item: Any) -> QueueEntry:
    number, prompt_id, prompt, extra = item[0], item[1], item[2], item[3]
    client_id = extra.get("client_id") if isinstance(extra, Mapping) else None
    return QueueEntry(int(number), str(prompt_id), client_id, len(prompt or {}))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
