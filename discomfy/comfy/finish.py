"""Ending a job: its outcome (from `execution_success`, or `/history`), its outputs fetched, or the reason why not.

The service hands finished (or doubtful) jobs here; every way a job ends goes through `JobFinisher.complete`, which
retries nothing itself: a transient failure leaves the job for the watchdog to look at again, until
`give_up_after`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from discomfy.comfy.client import ComfyClient
from discomfy.comfy.errors import ComfyConnectionError, ComfyError, JobLostError, OutputDownloadError
from discomfy.comfy.fetch import OutputFetcher
from discomfy.comfy.job import ComfyJob
from discomfy.comfy.models import JobResult
from discomfy.comfy.outputs import HistoryOutcome, parse_history_entry, select_deliverables
from discomfy.comfy.settings import ComfySettings
from discomfy.ids import short_id
from discomfy.retry import Backoff
from discomfy.tasks import BackgroundTasks

log = logging.getLogger(__name__)

HISTORY_RETRIES = (0.1, 0.3, 1.0)  # after `executing: null` the entry is written; allow for lag
TAKE_BACK_BACKOFF = Backoff(first=1.0, cap=30.0)


class JobFinisher:
    """Completes the jobs of one service: outcome, outputs, result or failure, and the job forgotten after."""

    def __init__(
        self, client: ComfyClient, settings: ComfySettings, tasks: BackgroundTasks, jobs: dict[str, ComfyJob]
    ) -> None:
        self._client = client
        self._settings = settings
        self._tasks = tasks
        self._jobs = jobs  # the service's: a job that ended is removed from it

    async def complete(
        self, job: ComfyJob, *, lost_if_absent: bool = False, outcome: HistoryOutcome | None = None
    ) -> None:
        """Fetch the outputs of the outcome (read from /history when not given) and end the job either way."""
        job.finishing = True
        try:
            if outcome is None:
                entry = await self._history_entry(job.prompt_id, retry=not lost_if_absent)
                if entry is None:
                    job._fail(JobLostError(job.prompt_id))
                    log.warning("Job %s lost: ComfyUI knows it no more", short_id(job.prompt_id))
                    return
                outcome = parse_history_entry(job.prompt_id, entry)
            if outcome.error is not None:
                job._fail(outcome.error)
                log.info("Job %s failed: %s", short_id(job.prompt_id), outcome.error.for_log)
                return
            chosen = select_deliverables(outcome.outputs, job.output_nodes)
            deliverables, left_out = chosen[: self._settings.max_outputs], chosen[self._settings.max_outputs :]
            files = await self.fetcher(job).fetch(deliverables) if job.download else ()
            job._finish(
                JobResult(
                    prompt_id=job.prompt_id,
                    outputs=deliverables,
                    files=files,
                    cached_nodes=outcome.cached_nodes or job.cached_nodes,
                    elapsed=time.monotonic() - job.created_at,
                    run_time=outcome.run_time,
                    left_out=left_out,
                )
            )
            log.info("Job %s finished with %d file(s)", short_id(job.prompt_id), len(deliverables))
        except ComfyError as exc:
            if transient(exc) and not self.give_up([job], exc):
                log.warning(
                    "Job %s: ComfyUI did not answer (%s); the watchdog will look again", short_id(job.prompt_id), exc
                )
                job.last_activity = time.monotonic()
                return
            job._fail(exc)
            log.warning("Job %s could not be completed: %s", short_id(job.prompt_id), exc.for_log)
        except Exception as exc:  # a bug or a surprise answer must end the job with a reason, not hang it
            log.exception("Job %s: unexpected error while completing", short_id(job.prompt_id))
            job._fail(ComfyError(f"DisComfy could not read the job's result from ComfyUI: {exc}"))
        finally:
            job.finishing = False
            if job.done:
                self._jobs.pop(job.prompt_id, None)

    def give_up(self, jobs: list[ComfyJob], error: ComfyError) -> bool:
        """Note that ComfyUI could not tell these jobs' fate; fail those it has not answered for too long."""
        now = time.monotonic()
        for job in jobs:
            if job.unreachable_since is None:
                job.unreachable_since = now
            elif now - job.unreachable_since > self._settings.give_up_after:
                job._fail(error)
                self._jobs.pop(job.prompt_id, None)
                log.warning(
                    "Job %s given up: ComfyUI unreachable for %.0f s",
                    short_id(job.prompt_id),
                    now - job.unreachable_since,
                )
        return all(job.done for job in jobs)

    async def _history_entry(self, prompt_id: str, *, retry: bool) -> Mapping[str, Any] | None:
        entry = await self._client.history(prompt_id)
        for delay in HISTORY_RETRIES if retry else ():
            if entry is not None:
                break
            await asyncio.sleep(delay)
            entry = await self._client.history(prompt_id)
        return entry

    def fetcher(self, job: ComfyJob) -> OutputFetcher:
        """The job's downloads, made on first use; a job that ends without a result has them deleted."""
        if job.fetcher is None:
            directory = Path(self._settings.download_dir) / job.prompt_id
            fetcher = OutputFetcher(
                self._client, directory, job.prompt_id, tasks=self._tasks, local=self._settings.local_output_dir
            )
            job.fetcher = fetcher
            job.on_done(lambda done: None if done.succeeded else self._discard(fetcher))
        return job.fetcher

    def _discard(self, fetcher: OutputFetcher) -> None:
        self._tasks.spawn(fetcher.discard_all(), name="comfy-discard-fetched")

    async def take_back(self, prompt_id: str) -> None:
        """Take back a submission reported as failed, should ComfyUI have queued it after all: it must neither
        run for nobody nor run twice once the user presses Retry. Tried until ComfyUI answers (`give_up_after`)."""
        give_up = time.monotonic() + self._settings.give_up_after
        failures = 0
        while time.monotonic() < give_up:
            try:
                state = await self._client.queue()
                if state.is_running(prompt_id):
                    await self._client.interrupt(prompt_id)
                elif state.knows(prompt_id):
                    await self._client.delete_pending([prompt_id])
                else:
                    return  # never queued (or already over): nothing to take back
                log.info("Took back %s, queued although its submission failed", short_id(prompt_id))
                return
            except ComfyError:
                await asyncio.sleep(TAKE_BACK_BACKOFF.delay(failures))
                failures += 1


def transient(error: ComfyError) -> bool:
    """A failure to reach ComfyUI (worth another look), rather than ComfyUI saying no."""
    return isinstance(error, ComfyConnectionError) or (isinstance(error, OutputDownloadError) and error.transient)
