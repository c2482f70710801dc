"""`python -m discomfy sweep` and `sheet`: explore a workflow's parameters through the bot's ComfyService, resumable,
with a progress bar, metadata.csv and an HTML contact sheet."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import TextIO

from discomfy.cli.run import StatusLine
from discomfy.cli.server import add_server_options, comfy_settings, load_cli_config, unreachable
from discomfy.comfy import ComfyConnectionError, ComfyService
from discomfy.comfy.cache import CacheUse
from discomfy.comfy.object_info import ObjectInfo
from discomfy.config import Config
from discomfy.errors import DiscomfyError
from discomfy.media import find_ffmpeg
from discomfy.progress import progress_bar
from discomfy.sweep.folder import SweepFolder, find_unfinished
from discomfy.sweep.plan import Plan, make_plan
from discomfy.sweep.runner import SweepRunner, write_outputs
from discomfy.sweep.spec import read_sweep_file
from discomfy.sweep.state import RunState, RunStatus, SweepState, read_states
from discomfy.sweep.target import resolve_workflow

INTERRUPTED = 130


def add_sweep_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `sweep` and `sheet` on the CLI."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a workflow over a grid or a sample of parameter values, resumably, with a contact sheet",
        description="Run the workflow a sweep file names over the values it varies (grid, sobol, lhs or random), "
        "keeping `in_flight` prompts queued in ComfyUI. Everything goes to a new dated folder under the file's "
        "`out:`; re-running the same file, or --resume DIR, continues an interrupted sweep.",
    )
    parser.add_argument("file", type=Path, nargs="?", help="the sweep file (YAML)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the sweep in this folder")
    parser.add_argument("--new", action="store_true", help="start afresh even if this file has an unfinished sweep")
    parser.add_argument("--dry-run", action="store_true", help="check the file and print the plan; submit nothing")
    add_server_options(parser, object_info=False)
    parser.set_defaults(handler=sweep_command)
    sheet = subparsers.add_parser(
        "sheet",
        help="rebuild a sweep folder's contact_sheet.html and metadata.csv",
        description="Rewrite DIR/contact_sheet.html and DIR/metadata.csv from the sweep's plan and run states "
        "(missing thumbnails are made again).",
    )
    sheet.add_argument("folder", type=Path, metavar="DIR", help="a sweep folder")
    sheet.set_defaults(handler=sheet_command)


def sweep_command(args: argparse.Namespace) -> int:
    """Entry point of `sweep`: returns the process exit code."""
    if (args.file is None) == (args.resume is None):
        sys.stderr.write("error: give a sweep file, or --resume DIR\n")
        return 2
    try:
        return asyncio.run(_sweep(args, sys.stdout))
    except KeyboardInterrupt:
        sys.stdout.write("\nStopped. Runs already submitted stay queued in ComfyUI; run the same command to resume.\n")
        return INTERRUPTED
    except ComfyConnectionError as exc:
        return unreachable(exc)
    except DiscomfyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


async def _sweep(args: argparse.Namespace, out: TextIO) -> int:
    config = load_cli_config(args)
    if args.resume is not None:
        folder = SweepFolder(args.resume)
        return await _run(folder, folder.load_plan(), config, args, out, in_flight=_in_flight(folder))
    spec, digest = read_sweep_file(args.file)
    spec = spec.model_copy(update={"out": args.file.parent / spec.out})  # relative to the file, as config paths are
    found = None if args.new or args.dry_run else find_unfinished(spec.out, digest)
    if found is not None:
        out.write(f"Resuming the unfinished sweep of this file in {found.root} (--new starts afresh)\n")
        return await _run(found, found.load_plan(), config, args, out, in_flight=spec.in_flight)
    folder = SweepFolder.new(spec.out, spec.workflow)
    client_id = uuid.uuid4().hex
    settings = comfy_settings(args, config, download_dir=folder.downloads.resolve())
    async with ComfyService(settings, client_id=client_id) as comfy:
        info = await _object_info(comfy, out, required=not args.dry_run)
        workflow = resolve_workflow(
            spec.workflow, base=args.file.parent, workflows_dir=config.workflows.directory, object_info=info
        )
        plan = make_plan(spec, workflow, info, source_sha256=digest)
        out.write(f"{plan.describe()}\n")
        if args.dry_run:
            _print_runs(plan, out)
            return 0
        folder.initialize(plan, args.file.read_text(encoding="utf-8"))
        out.write(f"Sweep folder: {folder.root}\nTime: estimated once the first runs finish.\n")
        state = SweepState.open(folder.root, (run.index for run in plan.runs), client_id=client_id)
        return await _follow(comfy, plan, folder, state, spec.in_flight, out)


async def _run(
    folder: SweepFolder, plan: Plan, config: Config, args: argparse.Namespace, out: TextIO, *, in_flight: int
) -> int:
    """Resume a sweep folder: its own client_id, so ComfyUI's messages for the prompts it left reach us."""
    state = SweepState.open(folder.root, (run.index for run in plan.runs))
    settings = comfy_settings(args, config, download_dir=folder.downloads.resolve())
    out.write(f"{plan.describe()}\nSweep folder: {folder.root}\n{_estimate(state)}\n")
    async with ComfyService(settings, client_id=state.client_id) as comfy:
        await comfy.system_stats()  # fail fast, with the URL, when ComfyUI is not there
        return await _follow(comfy, plan, folder, state, in_flight, out)


async def _object_info(comfy: ComfyService, out: TextIO, *, required: bool) -> ObjectInfo | None:
    try:
        return await comfy.object_info()
    except ComfyConnectionError:
        if required:
            raise
        out.write("ComfyUI is not reachable: values are checked against the mapping only.\n")
        return None


async def _follow(
    comfy: ComfyService, plan: Plan, folder: SweepFolder, state: SweepState, in_flight: int, out: TextIO
) -> int:
    progress = _Progress(state, out)
    runner = SweepRunner(
        comfy, plan, folder, state, in_flight=in_flight, ffmpeg=find_ffmpeg(), on_change=progress.changed
    )
    try:
        await runner.run()
    finally:
        state.close()
    progress.finish()
    out.write(_summary(state, folder, progress.started))
    return 1 if state.count(RunStatus.FAILED) else 0


def _in_flight(folder: SweepFolder) -> int:
    """The snapshot's `in_flight`, for a sweep resumed by its folder."""
    try:
        spec, _ = read_sweep_file(folder.config)
    except DiscomfyError:
        return 2
    return spec.in_flight


def _print_runs(plan: Plan, out: TextIO, limit: int = 20) -> None:
    for run in plan.runs[:limit]:
        out.write(f"  {run.name}\n")
    if len(plan.runs) > limit:
        out.write(f"  ... and {len(plan.runs) - limit} more\n")


def _estimate(state: SweepState) -> str:
    seconds = [run.seconds for run in state.runs.values() if run.seconds is not None and run.status is RunStatus.DONE]
    left = sum(1 for run in state.runs.values() if not run.finished)
    if not seconds:
        return f"{left} run(s) left; time: estimated once the first runs finish."
    median = statistics.median(seconds)
    return f"{left} run(s) left; about {_duration(median * left)} at {median:.1f}s a run (ComfyUI's time so far)."


class _Progress:
    """The sweep's progress bar: done / failed / cached / left, and an ETA from the pace of this session."""

    def __init__(self, state: SweepState, out: TextIO) -> None:
        self.state = state
        self.line = StatusLine(out)
        self.started = time.monotonic()
        self.finished_at: list[float] = []
        self.changed(None)

    def changed(self, run: RunState | None) -> None:
        if run is not None and run.finished:
            self.finished_at.append(time.monotonic())
        runs = self.state.runs.values()
        total, done = len(runs), self.state.count(RunStatus.DONE)
        failed = self.state.count(RunStatus.FAILED)
        cached = sum(1 for r in runs if r.status is RunStatus.DONE and r.cache is CacheUse.ALL)
        left = total - done - failed
        self.line.show(
            f"sweep {progress_bar(done + failed, total)} {done} done, {failed} failed, {cached} cached, "
            f"{left} left{self._eta(left)}"
        )

    def _eta(self, left: int) -> str:
        if left == 0 or len(self.finished_at) < 2:
            return ""
        pace = (self.finished_at[-1] - self.finished_at[0]) / (len(self.finished_at) - 1)
        return f", ETA {_duration(pace * left)}"

    def finish(self) -> None:
        self.line.done("")


def _summary(state: SweepState, folder: SweepFolder, started: float) -> str:
    runs = state.runs.values()
    done, failed = state.count(RunStatus.DONE), state.count(RunStatus.FAILED)
    cached = sum(1 for r in runs if r.status is RunStatus.DONE and r.cache is CacheUse.ALL)
    ran = [r for r in runs if r.status is RunStatus.DONE and r.cache is not CacheUse.ALL]
    seconds = [r.seconds for r in ran if r.seconds is not None]
    took = _duration(time.monotonic() - started)
    lines = [f"{done} done, {failed} failed, {cached} served from ComfyUI's cache, in {took}"]
    if seconds:
        lines.append(f"ComfyUI's run time: median {statistics.median(seconds):.2f}s, total {_duration(sum(seconds))}")
    for run in sorted((r for r in runs if r.status is RunStatus.FAILED), key=lambda r: r.index)[:5]:
        lines.append(f"  run {run.index} failed: {run.error.splitlines()[0] if run.error else 'no reason given'}")
    lines += [f"Contact sheet: {folder.sheet}", f"Metadata: {folder.metadata}"]
    return "\n".join(lines) + "\n"


def _duration(span: float) -> str:
    seconds = round(span)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def sheet_command(args: argparse.Namespace) -> int:
    """Entry point of `sheet`: rebuild the contact sheet and metadata of a sweep folder."""
    folder = SweepFolder(args.folder)
    try:
        plan = folder.load_plan()
        states = read_states(folder.root)
    except DiscomfyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    ffmpeg = find_ffmpeg()
    for index, run in states.items():
        if run.status is RunStatus.DONE and not folder.thumbnail(index).is_file():
            folder.make_thumbnail(index, run.files, ffmpeg)
    write_outputs(folder, plan, states)
    sys.stdout.write(f"{folder.sheet}\n")
    return 0
