"""A job's output files, fetched as soon as ComfyUI names them and shared with the final result.

An output node's `executed` message names its files before the prompt ends, so downloads start then; the
outcome still comes from `execution_success` / `/history`, which pick the files the result delivers. A file
fetched early and not delivered (or fetched for a job that then failed) is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from discomfy.comfy.client import ComfyClient, reserve
from discomfy.comfy.errors import OutputDownloadError
from discomfy.comfy.models import DownloadedFile, OutputFile
from discomfy.comfy.outputs import safe_filename
from discomfy.ids import short_id
from discomfy.tasks import BackgroundTasks

log = logging.getLogger(__name__)

MAX_PARALLEL_DOWNLOADS = 4  # per job: a batch's files come together without flooding ComfyUI


def take_local(folder: Path, output: OutputFile, directory: Path) -> DownloadedFile | None:
    """ComfyUI's own file, linked (or copied) into `directory`; None when it is not there to take.

    Blocking: file system calls only, run in a worker thread.
    """
    source = (folder / output.subfolder / output.filename).resolve()
    if not source.is_relative_to(folder.resolve()) or not source.is_file():
        return None
    try:
        file, partial, target = reserve(directory, safe_filename(output.filename))
    except OSError as exc:
        log.warning("Cannot save %s on the bot's disk (%s); fetching it over HTTP says why", output.filename, exc)
        return None
    try:
        with file:
            try:
                os.link(source, target)  # no copy on one file system; deleting ours leaves ComfyUI's
            except OSError:
                with source.open("rb") as original:
                    shutil.copyfileobj(original, file)
                file.close()
                partial.replace(target)
    except OSError as exc:
        log.warning("Could not take %s from ComfyUI's folder (%s); fetching it over HTTP", source, exc)
        return None
    finally:
        partial.unlink(missing_ok=True)
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return DownloadedFile(output=output, path=target, size=target.stat().st_size, content_type=content_type)


class OutputFetcher:
    """The downloads of one job: each file fetched once, at most a few at a time, reused by every attempt."""

    def __init__(
        self,
        client: ComfyClient,
        directory: Path,
        prompt_id: str,
        *,
        tasks: BackgroundTasks,
        local: Path | None = None,
    ) -> None:
        self._client = client
        self._tasks = tasks  # the service's: a download still running when it closes is cancelled with it
        self._directory = directory
        self._local = local  # ComfyUI's output folder, if this machine can read it
        self._prompt_id = prompt_id
        self._slots = asyncio.Semaphore(MAX_PARALLEL_DOWNLOADS)
        # a failed download keeps its error as its result: it is the fetch's to raise, not a crash to log
        self._downloads: dict[OutputFile, asyncio.Task[DownloadedFile | OutputDownloadError]] = {}

    @property
    def started(self) -> int:
        """Files being fetched or fetched so far."""
        return len(self._downloads)

    def start(self, outputs: Iterable[OutputFile]) -> None:
        """Begin fetching these files (again, if an earlier attempt failed); returns at once."""
        for output in outputs:
            task = self._downloads.get(output)
            if task is None or (task.done() and not _succeeded(task)):
                name = f"comfy-fetch-{short_id(self._prompt_id)}-{output.filename}"
                self._downloads[output] = self._tasks.spawn(self._download(output), name=name)

    async def fetch(self, outputs: tuple[OutputFile, ...]) -> tuple[DownloadedFile, ...]:
        """Every file of the result, in order; those fetched early are not fetched again.

        Raises:
            OutputDownloadError: a file could not be fetched (the ones that were are kept for the next attempt).
        """
        self.start(outputs)
        files = []
        for output in outputs:
            result = await self._downloads[output]
            if isinstance(result, OutputDownloadError):
                raise result
            files.append(result)
        await self._discard(set(self._downloads) - set(outputs))
        return tuple(files)

    async def discard_all(self) -> None:
        """The job ended without a result: stop fetching and delete what was fetched for it."""
        await self._discard(set(self._downloads))

    async def _download(self, output: OutputFile) -> DownloadedFile | OutputDownloadError:
        async with self._slots:
            if self._local is not None and output.type == "output":
                taken = await asyncio.to_thread(take_local, self._local, output, self._directory)
                if taken is not None:
                    return taken
            try:
                return await self._client.download(output, self._directory)
            except OutputDownloadError as exc:
                return exc

    async def _discard(self, outputs: set[OutputFile]) -> None:
        tasks = [self._downloads.pop(output) for output in outputs]
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, DownloadedFile):
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(result.path.unlink, missing_ok=True)
                log.debug("Deleted %s, fetched for %s but not delivered", result.path, short_id(self._prompt_id))


def _succeeded(task: asyncio.Task[DownloadedFile | OutputDownloadError]) -> bool:
    """A finished download that produced its file (not cancelled, not failed, not raised)."""
    return not task.cancelled() and task.exception() is None and isinstance(task.result(), DownloadedFile)
