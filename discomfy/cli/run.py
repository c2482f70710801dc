"""`python -m discomfy run`: submit any API-format workflow through the same service the bot uses."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from dotenv import load_dotenv
from pydantic import ValidationError

from discomfy.comfy import (
    ComfyConnectionError,
    ComfyError,
    ComfyService,
    ComfySettings,
    Failed,
    Finished,
    JobResult,
    NodeStarted,
    Progress,
    Queued,
    Started,
    WorkflowRejectedError,
)
from discomfy.config import DEFAULT_CONFIG_PATH, load_config
from discomfy.errors import DiscomfyError
from discomfy.progress import progress_bar
from discomfy.workflows import apply_overrides, find_seed_inputs, load_graph, randomize_seeds

DEFAULT_URL = "http://127.0.0.1:8188"


def add_run_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `run` on the CLI."""
    parser = subparsers.add_parser(
        "run",
        help="run an API-format workflow on ComfyUI and save its outputs",
        description="Submit WORKFLOW.json (ComfyUI 'Export (API)' format) with fresh seeds, show its "
        "progress, and write its outputs to --out/<prompt_id>/. Checks the bot's connection to ComfyUI. "
        "Credentials for a ComfyUI behind a proxy come from the environment or .env (COMFY_API_KEY, or "
        "COMFY_USERNAME and COMFY_PASSWORD).",
    )
    parser.add_argument("workflow", type=Path, help="an API-format workflow JSON file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NODE_ID.INPUT=VALUE",
        help="set one node input, e.g. --set 3.steps=20 --set '6.text=a red fox' (repeatable)",
    )
    parser.add_argument("--seed", type=int, help="seed for every seed input (default: a fresh random one)")
    parser.add_argument("--out", type=Path, default=Path("output"), help="where to write outputs (default: output/)")
    parser.add_argument("--url", help=f"ComfyUI URL (default: comfy.url from --config, else {DEFAULT_URL})")
    parser.add_argument("--config", type=Path, help="config.yaml to read comfy.url and timeouts from")
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Entry point of `run`: returns the process exit code."""
    try:
        settings = _settings(args)
        graph = load_graph(args.workflow)
        overrides = _parse_overrides(args.overrides)
        set_seeds = [ref for ref in find_seed_inputs(graph) if str(ref) in overrides]
        if set_seeds and args.seed is not None:
            names = ", ".join(str(ref) for ref in set_seeds)
            raise DiscomfyError(f"--seed and --set {names} both set a seed: use one of them")
        if overrides:
            graph = apply_overrides(graph, overrides)
        graph, seeds = randomize_seeds(graph, seed=args.seed, keep=set_seeds)
    except DiscomfyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if seeds:
        sys.stdout.write("seeds: " + ", ".join(f"{ref}={value}" for ref, value in seeds.items()) + "\n")
    try:
        result = asyncio.run(_run(settings, graph, args.timeout, sys.stdout))
    except ComfyConnectionError as exc:
        sys.stderr.write(
            f"error: {exc.for_log}\nIs ComfyUI running there? Use --url URL, or set comfy.url in config.yaml.\n"
        )
        return 3
    except WorkflowRejectedError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 4
    except ComfyError as exc:
        sys.stderr.write(f"error: {exc.for_log}\n")
        return 5
    except TimeoutError:
        sys.stderr.write(f"error: the job did not finish within {args.timeout:g}s\n")
        return 6
    for file in result.files:
        sys.stdout.write(f"{file.path}\n")
    if not result.files:
        sys.stdout.write("The workflow finished without output files.\n")
    return 0


def _settings(args: argparse.Namespace) -> ComfySettings:
    """The bot's own ComfyUI settings (config.yaml if present, credentials from the environment or .env); with
    several servers, the first one's."""
    load_dotenv()
    config = load_config(args.config or DEFAULT_CONFIG_PATH)
    first = config.comfy.enabled_servers()[0].settings  # with comfy.servers: the first one listed
    values = {**dict(first), "download_dir": args.out.resolve()}
    if args.url is not None:
        values["url"] = args.url
    try:
        return ComfySettings(**values)  # checks --url as the config's comfy.url is checked
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]) for error in exc.errors())  # never the input: it may hold a password
        raise DiscomfyError(f"--url: {reasons}") from None


def _parse_overrides(items: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise DiscomfyError(f"--set {item!r}: expected NODE_ID.INPUT=VALUE, e.g. --set 3.steps=20")
        overrides[key.strip()] = value
    return overrides


async def _run(settings: ComfySettings, graph: dict, limit: float | None, out: TextIO) -> JobResult:
    async with ComfyService(settings) as comfy:
        await comfy.system_stats()  # fail fast, with the URL, when ComfyUI is not there
        job = await comfy.submit(graph)
        out.write(f"prompt_id: {job.prompt_id}\n")
        async with asyncio.timeout(limit):
            return await _follow(job, out)


async def _follow(job, out: TextIO) -> JobResult:
    line = _StatusLine(out)
    started = time.monotonic()
    async for event in job.events():
        elapsed = time.monotonic() - started
        match event:
            case Queued(position=position, total=total):
                line.show(f"queued #{position} of {total}")
            case Started():
                line.show("running")
            case NodeStarted(node_id=node_id, class_type=class_type):
                line.show(f"running {class_type or 'node'} ({node_id})  {elapsed:5.1f}s")
            case Progress(value=value, max=maximum, node_id=progress_node):
                node = progress_node or job.node_id  # the node that reports, not the one that started last
                label = f"{_class_of(job.graph, node) or 'node'} ({node})"
                line.show(f"running {label} {progress_bar(value, maximum)}  {elapsed:5.1f}s")
            case Finished(result=result):
                line.done(f"finished in {elapsed:.1f}s")
                return result
            case Failed(error=error):
                line.done("failed")
                raise error
    return await job.result()


def _class_of(graph: Mapping[str, Any], node_id: str | None) -> str | None:
    node = graph.get(node_id) if node_id else None
    return node.get("class_type") if isinstance(node, Mapping) else None


class _StatusLine:
    """One rewritten line on a terminal; one line per change of state elsewhere (logs, CI)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._last = ""
        self._width = shutil.get_terminal_size((100, 20)).columns - 1

    def show(self, text: str) -> None:
        if self._tty:
            self._out.write("\r" + text[: self._width].ljust(len(self._last)))
            self._out.flush()
        elif text.split()[:2] != self._last.split()[:2]:
            self._out.write(text + "\n")
        self._last = text

    def done(self, text: str) -> None:
        if self._tty:
            self._out.write("\r" + text.ljust(len(self._last)) + "\n")
        else:
            self._out.write(text + "\n")
        self._out.flush()
