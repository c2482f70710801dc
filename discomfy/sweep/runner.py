"""Running a plan through the bot's ComfyService: `in_flight` prompts kept in ComfyUI's queue, so the next one starts
the moment one ends; every state recorded before the step it announces; runs of an earlier, interrupted process
re-attached by prompt_id (as the bot's restart recovery does), lost ones submitted again, finished ones skipped."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from discomfy.comfy import ComfyConnectionError, ComfyError, JobLostError, WorkflowRejectedError
from discomfy.comfy.cache import cache_use
from discomfy.ids import short_id
from discomfy.sweep.metadata import write_metadata
from discomfy.sweep.sheet import write_sheet
from discomfy.sweep.state import RunState, RunStatus

if TYPE_CHECKING:
    from discomfy.comfy import ComfyJob, ComfyService
    from discomfy.sweep.folder import SweepFolder
    from discomfy.sweep.plan import Plan, PlannedRun
    from discomfy.sweep.state import SweepState

log = logging.getLogger(__name__)

REWRITE_INTERVAL = 2.0  # seconds between rewrites of metadata.csv and the sheet while runs finish
RECONNECT_CHECK = 2.0  # seconds between looks at a ComfyUI that could not be reached


class SweepRunner:
    """Runs the unfinished runs of one sweep folder; `run()` returns when every run is done or failed.

    Stopping it (Ctrl-C, cancellation) leaves submitted prompts queued in ComfyUI, recorded with their prompt_ids.
    """

    def __init__(
        self,
        comfy: ComfyService,
        plan: Plan,
        folder: SweepFolder,
        state: SweepState,
        *,
        in_flight: int = 2,
        ffmpeg: str | None = None,
        unreachable_limit: float = 600.0,
        on_change: Callable[[RunState], None] | None = None,
    ) -> None:
        self.comfy = comfy
        self.plan = plan
        self.folder = folder
        self.state = state
        self.in_flight = in_flight
        self.ffmpeg = ffmpeg
        self.unreachable_limit = unreachable_limit
        self.on_change = on_change
        self._runs = {run.index: run for run in plan.runs}
        self._active: dict[asyncio.Task[RunState], int] = {}
        self._written_at = 0.0

    async def run(self) -> None:
        """Re-attach, submit and collect until every run has finished.

        Raises:
            ComfyConnectionError: ComfyUI stayed unreachable for `unreachable_limit` s (the sweep can be resumed).
        """
        pending = deque(i for i, s in sorted(self.state.runs.items()) if s.status is RunStatus.PENDING)
        for index, run_state in sorted(self.state.runs.items()):
            if run_state.status is RunStatus.SUBMITTED and run_state.prompt_id is not None:
                log.info("Run %d: re-attaching to prompt %s", index, short_id(run_state.prompt_id))
                job = self.comfy.track(run_state.prompt_id, self._graph(index), output_nodes=self._outputs)
                self._follow(index, job)
        try:
            while pending or self._active:
                await self._fill(pending)
                if self._active:
                    await self._collect(pending)
        finally:
            for task in self._active:
                task.cancel()
            await asyncio.gather(*self._active, return_exceptions=True)
            self._active.clear()
            await self.write_outputs()

    async def write_outputs(self) -> None:
        """Rewrite metadata.csv and the contact sheet from the states so far."""
        await asyncio.to_thread(write_outputs, self.folder, self.plan, dict(self.state.runs))
        self._written_at = time.monotonic()

    @property
    def _outputs(self) -> tuple[str, ...] | None:
        return self.plan.output_nodes or None

    def _graph(self, index: int) -> dict:
        return self.plan.graph_for(self._runs[index])

    async def _fill(self, pending: deque[int]) -> None:
        """Submit pending runs until `in_flight` prompts are in ComfyUI."""
        unreachable_since: float | None = None
        while pending and len(self._active) < self.in_flight:
            index = pending.popleft()
            try:
                job = await self._submit(self._runs[index])
            except ComfyConnectionError:
                pending.appendleft(index)
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > self.unreachable_limit:
                    raise
                await self.comfy.wait_connected(RECONNECT_CHECK)
                await asyncio.sleep(0.2)  # a socket that connects is not yet a server that takes prompts
                continue
            unreachable_since = None
            if job is not None:
                self._follow(index, job)

    async def _submit(self, run: PlannedRun) -> ComfyJob | None:
        """Record the prompt_id, then submit; None when ComfyUI refused the run (recorded as failed)."""
        prompt_id = str(uuid.uuid4())
        await asyncio.to_thread(self.folder.write_params, self.plan, run)
        attempts = self.state.runs[run.index].attempts + 1
        self._changed(self.state.update(run.index, status=RunStatus.SUBMITTED, prompt_id=prompt_id, attempts=attempts))
        try:
            return await self.comfy.submit(self.plan.graph_for(run), prompt_id=prompt_id, output_nodes=self._outputs)
        except ComfyConnectionError:
            self._changed(self.state.update(run.index, status=RunStatus.PENDING, prompt_id=None))
            raise
        except (WorkflowRejectedError, ComfyError) as exc:
            log.info("Run %d refused by ComfyUI: %s", run.index, exc.for_log)
            self._changed(self.state.update(run.index, status=RunStatus.FAILED, error=str(exc)))
            return None

    def _follow(self, index: int, job: ComfyJob) -> None:
        task = asyncio.create_task(self._finish(index, job), name=f"sweep-run-{index}")
        self._active[task] = index

    async def _collect(self, pending: deque[int]) -> None:
        done, _ = await asyncio.wait(self._active, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            index = self._active.pop(task)
            run_state = task.result()  # a ComfyConnectionError (ComfyUI gone too long) ends the sweep here
            if run_state.status is RunStatus.PENDING:
                pending.appendleft(index)  # lost by ComfyUI (a restart): submitted again, first
        if time.monotonic() - self._written_at >= REWRITE_INTERVAL:
            await self.write_outputs()

    async def _finish(self, index: int, job: ComfyJob) -> RunState:
        """Wait for one run's result, keep its files and record how it ended."""
        try:
            result = await job.result()
        except JobLostError:
            log.info("Run %d: ComfyUI lost prompt %s; it is submitted again", index, short_id(job.prompt_id))
            return self._changed(self.state.update(index, status=RunStatus.PENDING, prompt_id=None))
        except ComfyConnectionError:
            raise
        except ComfyError as exc:
            return self._changed(self.state.update(index, status=RunStatus.FAILED, error=str(exc)))
        run = self._runs[index]
        files = await asyncio.to_thread(self.folder.keep_outputs, run, result.files)
        await asyncio.to_thread(self.folder.make_thumbnail, index, files, self.ffmpeg)
        return self._changed(
            self.state.update(
                index,
                status=RunStatus.DONE,
                seconds=round(result.run_time if result.run_time is not None else result.elapsed, 3),
                cache=cache_use(result, job.graph),
                cached_nodes=tuple(result.cached_nodes),
                files=files,
                error="",
            )
        )

    def _changed(self, run_state: RunState) -> RunState:
        if self.on_change is not None:
            self.on_change(run_state)
        return run_state


def write_outputs(folder: SweepFolder, plan: Plan, states: Mapping[int, RunState]) -> None:
    """metadata.csv and contact_sheet.html from the states so far (blocking: reads every thumbnail)."""
    write_metadata(folder, plan, states)
    write_sheet(folder, plan, states)
