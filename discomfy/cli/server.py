"""What the command-line tools share about the ComfyUI server: its address and its node list (/object_info)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import aiohttp
from dotenv import load_dotenv
from pydantic import ValidationError

from discomfy.comfy import ComfyConnectionError, ComfyError, ComfySettings
from discomfy.comfy.client import ComfyClient
from discomfy.comfy.object_info import ObjectInfo
from discomfy.config import DEFAULT_CONFIG_PATH, Config, load_config
from discomfy.errors import DiscomfyError
from discomfy.workflows.errors import WorkflowFileError

DEFAULT_URL = "http://127.0.0.1:8188"


class ServerUnavailableError(DiscomfyError):
    """The server's node list was needed and could not be read; says where it was asked and what to do."""


def add_server_options(parser: argparse.ArgumentParser, *, object_info: bool = True) -> None:
    """--url and --config (and --object-info FILE for tools that only need the node list)."""
    parser.add_argument("--url", help=f"ComfyUI URL (default: comfy.url from --config, else {DEFAULT_URL})")
    parser.add_argument("--config", type=Path, help="config.yaml to read comfy.url and timeouts from")
    if object_info:
        parser.add_argument(
            "--object-info",
            type=Path,
            metavar="FILE",
            help="a saved GET /object_info answer, instead of asking the server (offline use)",
        )


def load_cli_config(args: argparse.Namespace) -> Config:
    """config.yaml (--config, else the default path when it exists), with credentials from the environment or .env."""
    load_dotenv()
    return load_config(args.config or DEFAULT_CONFIG_PATH)


def comfy_settings(args: argparse.Namespace, config: Config | None = None, **changes: object) -> ComfySettings:
    """The bot's own ComfyUI settings (of `config`, else config.yaml if present), with --url and `changes`; with
    several servers (comfy.servers), the first one listed."""
    config = config or load_cli_config(args)
    values = {**dict(config.comfy.enabled_servers()[0].settings), **changes}
    if args.url is not None:
        values["url"] = args.url
    try:
        return ComfySettings(**values)  # checks --url as the config's comfy.url is checked
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]) for error in exc.errors())  # never the input: it may hold a password
        raise DiscomfyError(f"--url: {reasons}") from None


def unreachable(error: ComfyConnectionError) -> int:
    """Say where ComfyUI was looked for and how to point elsewhere; the exit code for it."""
    sys.stderr.write(
        f"error: {error.for_log}\nIs ComfyUI running there? Use --url URL, or set comfy.url in config.yaml.\n"
    )
    return 3


def object_info(args: argparse.Namespace) -> ObjectInfo:
    """The node list from --object-info FILE, else from the live server (--url, else comfy.url).

    Raises:
        ServerUnavailableError: the server cannot be reached or answered badly.
        WorkflowFileError: the saved file cannot be read.
    """
    if getattr(args, "object_info", None) is not None:
        return read_object_info(args.object_info)
    settings = comfy_settings(args)
    try:
        return asyncio.run(fetch_object_info(settings))
    except ComfyError as exc:
        raise ServerUnavailableError(
            f"cannot read the node list of ComfyUI at {settings.url} ({exc}); is it running? "
            "Use --url URL, set comfy.url in config.yaml, or give a saved /object_info with --object-info FILE"
        ) from exc


async def fetch_object_info(settings: ComfySettings) -> ObjectInfo:
    async with aiohttp.ClientSession() as session:
        return ObjectInfo(await ComfyClient(session, settings).object_info())


def read_object_info(path: Path) -> ObjectInfo:
    try:
        return ObjectInfo(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise WorkflowFileError("file not found", file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise WorkflowFileError(f"not a saved /object_info answer: {exc}", file=str(path)) from exc
