"""`python bot.py --check`: every problem with the config, token, workflows and ComfyUI, all at once, in plain words."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import aiohttp
import discord

from discomfy.bot.permissions import BOT_PERMISSION_NAMES, BOT_PERMISSIONS
from discomfy.cli.server import fetch_object_info
from discomfy.comfy import ComfyConnectionError, ComfyError, ComfyHTTPError, ComfyService
from discomfy.comfy.client import ComfyClient
from discomfy.comfy.object_info import ObjectInfo
from discomfy.config import DEFAULT_CONFIG_PATH, Config, InvalidConfigError, load_config
from discomfy.config.errors import ConfigError
from discomfy.workflows import check_against_object_info, load_workflows
from discomfy.workflows.errors import WorkflowLoadError
from discomfy.workflows.loader import MAPPING_SUFFIXES, has_ui_graphs, read_workflow

if TYPE_CHECKING:
    from discomfy.comfy import ComfyServer, ComfySettings
    from discomfy.workflows import WorkflowSpec

TOKEN_VARIABLE = "DISCORD_TOKEN"
INVITE_SCOPES = ("bot", "applications.commands")
CHECK_TIMEOUT = 10.0  # seconds per ComfyUI request; a check should not hang for the full request_timeout
WEBSOCKET_WAIT = 5.0

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{18,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


@dataclass
class Section:
    """One area of the report: ✓ lines for what is fine, ✗ lines (with how to fix) for problems."""

    title: str
    lines: list[str] = field(default_factory=list)
    problems: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(f"  ✓ {text}")

    def problem(self, text: str, *fixes: str) -> None:
        self.problems += 1
        self.lines.append(f"  ✗ {text}")
        self.lines.extend(f"      {fix}" for fix in fixes)

    def warn(self, text: str, *fixes: str) -> None:
        self.lines.append(f"  ! {text}")
        self.lines.extend(f"      {fix}" for fix in fixes)

    def note(self, text: str) -> None:
        self.lines.append(f"    {text}")

    def render(self) -> str:
        return "\n".join([self.title, *(self.lines or ["  – nothing to check"])])


async def run_checks(
    config_path: Path | None, *, env: Mapping[str, str] | None = None, out: TextIO | None = None
) -> int:
    """Check everything the bot needs before it starts; print one report; 0 if all is well, 1 otherwise."""
    env = os.environ if env is None else env
    out = sys.stdout if out is None else out
    config_section, token_section = Section("Config"), Section("Discord token")
    workflow_section, comfy_sections = Section("Workflows"), [Section("ComfyUI")]
    with _quiet_library_logs():
        config = check_config(config_path, env, config_section)
        check_token(env.get(TOKEN_VARIABLE, "").strip(), token_section)
        if config is None:
            workflow_section.warn("not checked: fix the config first")
            comfy_sections[0].warn("not checked: fix the config first")
        else:
            specs = check_workflows(config, workflow_section, await _node_list_for_ui_saves(config))
            comfy_sections = await check_servers(config.comfy.enabled_servers(), specs)
    sections = (config_section, token_section, workflow_section, *comfy_sections)
    problems = sum(s.problems for s in sections)
    report = "\n\n".join(s.render() for s in sections)
    if problems:
        summary = (
            f"{problems} problem{'s' if problems != 1 else ''} found. Fix them and run `python bot.py --check` again."
        )
    else:
        summary = "Everything looks fine. Start the bot with `python bot.py`."
    out.write(f"DisComfy self-check\n\n{report}\n\n{summary}\n")
    out.flush()
    return 1 if problems else 0


def add_check_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `check` on the CLI: the same report as `python bot.py --check`."""
    parser = subparsers.add_parser(
        "check",
        help="check config, token, workflows and ComfyUI; print every problem",
        description="Check everything the bot needs before it starts (config, DISCORD_TOKEN, workflows, ComfyUI) "
        "and print one report. Exit code 0 if all is well. Same as `python bot.py --check`.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help=f"config file (default: {DEFAULT_CONFIG_PATH} if it exists)"
    )
    parser.set_defaults(handler=lambda args: asyncio.run(run_checks(args.config)))


# ---- config ------------------------------------------------------------------------------------


def check_config(config_path: Path | None, env: Mapping[str, str], section: Section) -> Config | None:
    """The config, or None when it cannot be used; the token is reported by check_token, not here."""
    path = config_path if config_path is not None else DEFAULT_CONFIG_PATH
    try:
        config = load_config(path, env=env, require_token=True)
    except InvalidConfigError as exc:
        others = [p for p in exc.problems if p.key != TOKEN_VARIABLE]
        for problem in others:
            section.problem(f"{exc.file}: {problem}")
        if others:
            return None
        config = load_config(path, env=env, require_token=False)  # only the token was missing
    except ConfigError as exc:
        section.problem(str(exc))
        return None
    if config.source is None:
        section.ok(f"no {DEFAULT_CONFIG_PATH} found: using the defaults (copy config.example.yaml to change them)")
    else:
        section.ok(f"{config.source} is valid")
    admins = config.discord
    if not admins.admin_user_ids and not admins.admin_role_ids:
        section.warn(
            "no admins configured: nobody can use /interrupt, /queue, /stats, /server, /settings or /workflow",
            "add your Discord user id under discord.admin_user_ids (or a role id under discord.admin_role_ids)",
        )
    return config


# ---- Discord token -----------------------------------------------------------------------------


def check_token(token: str, section: Section) -> None:
    """Check the token's shape without contacting Discord, and show how to invite the bot."""
    application_id: int | None = None
    if not token:
        section.problem(
            f"{TOKEN_VARIABLE} is not set, so the bot cannot log in to Discord.",
            "Get a token: Discord Developer Portal (https://discord.com/developers/applications) → your application",
            "→ Bot → Reset Token, then copy it (Discord shows it only once).",
            f"Put it in a file named .env next to bot.py, as the line  {TOKEN_VARIABLE}=your-token-here",
            "(see .env.example), or set it as an environment variable. Never put it in config.yaml.",
        )
    else:
        shape_problem = describe_token_problem(token)
        if shape_problem:
            section.problem(shape_problem, "Copy the token again from Developer Portal → your application → Bot.")
        else:
            application_id = application_id_from_token(token)
            section.ok(f"{TOKEN_VARIABLE} is set and looks like a bot token (not checked with Discord)")
    section.note(f"Invite URL: {invite_url(application_id)}")
    if application_id is None:
        section.note("(replace <APPLICATION_ID> with Developer Portal → your application → General Information →")
        section.note(" Application ID)")
    names = ", ".join(BOT_PERMISSION_NAMES.values())
    section.note(f"Scopes: {' '.join(INVITE_SCOPES)}; permissions={BOT_PERMISSIONS.value} means: {names}.")


def describe_token_problem(token: str) -> str | None:
    """What is wrong with the token's shape, in words; None if it looks like a bot token."""
    where = f"{TOKEN_VARIABLE} does not look like a bot token"
    if token.lower().startswith("bot "):
        return f"{where}: remove the 'Bot ' in front, the bot adds it itself."
    if token[:1] in "\"'" or token[-1:] in "\"'":
        return f"{where}: remove the quotes around it."
    if any(c.isspace() for c in token):
        return f"{where}: it contains spaces or line breaks."
    if "." not in token and re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
        return f"{where}: this looks like the OAuth2 Client Secret; the bot token is on the Bot page."
    if re.fullmatch(r"[0-9a-f]{64}", token):
        return f"{where}: this looks like the application's Public Key; the bot token is on the Bot page."
    if re.fullmatch(r"\d{17,20}", token):
        return f"{where}: this looks like the Application ID; the bot token is on the Bot page."
    if not _TOKEN_SHAPE.match(token) or application_id_from_token(token) is None:
        return f"{where}: a bot token has three parts separated by dots (about 70 characters)."
    return None


def application_id_from_token(token: str) -> int | None:
    """A bot token's first part is its application's id in base64."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() and 15 <= len(decoded) <= 21 else None


def invite_url(application_id: int | None) -> str:
    client_id = str(application_id) if application_id is not None else "<APPLICATION_ID>"
    return discord.utils.oauth_url(client_id, permissions=BOT_PERMISSIONS, scopes=INVITE_SCOPES)


# ---- workflows ---------------------------------------------------------------------------------


async def _node_list_for_ui_saves(config: Config) -> ObjectInfo | None:
    """A ComfyUI node list if the folder holds UI-format saves (they are converted with it): the first server's
    that answers, else None."""
    if not has_ui_graphs(config.workflows.directory):
        return None
    for server in config.comfy.enabled_servers():
        timeout = min(server.settings.request_timeout, CHECK_TIMEOUT)
        try:
            return await fetch_object_info(server.settings.model_copy(update={"request_timeout": timeout}))
        except ComfyError:
            continue
    return None  # each UI-format file then says that it needs the server; the ComfyUI sections say why


def check_workflows(config: Config, section: Section, info: ObjectInfo | None = None) -> list[WorkflowSpec]:
    """Load the workflows folder, report every problem, and return the workflows that did load."""
    directory = config.workflows.directory
    try:
        specs = list(load_workflows(directory, info))
    except WorkflowLoadError as exc:
        hint = (
            () if directory.is_dir() else ("Set workflows.directory in config.yaml to the folder with your workflows.",)
        )
        for problem in exc.problems:
            section.problem(str(problem), *hint)
        specs = _loadable_specs(directory, info)
    if not specs and not section.problems:
        section.problem(
            f"no workflows in {directory}",
            "Export a workflow from ComfyUI with 'Export (API)', put the JSON there with a YAML mapping next to it",
            "(see workflows/*.yaml), or point workflows.directory in config.yaml at the right folder.",
        )
    elif specs:
        section.ok(f"{len(specs)} workflow(s) loaded from {directory}: {', '.join(s.name for s in specs)}")
    names = [s.name for s in specs]
    for key, name in (("workflows.default", config.workflows.default), ("workflows.upscale", config.workflows.upscale)):
        if name is not None and name not in names:
            section.problem(f"{key} is {name!r}, but no workflow has that name; loaded: {', '.join(names) or 'none'}")
    return specs


def _loadable_specs(directory: Path, info: ObjectInfo | None) -> list[WorkflowSpec]:
    """The workflows that load on their own, so the server check still covers them."""
    if not directory.is_dir():
        return []
    paths = sorted(p for p in directory.iterdir() if p.suffix in MAPPING_SUFFIXES and p.is_file())
    return [spec for path in paths if (spec := read_workflow(path, info)[0]) is not None]


# ---- ComfyUI -----------------------------------------------------------------------------------


async def check_servers(servers: Sequence[ComfyServer], specs: list[WorkflowSpec]) -> list[Section]:
    """One section per server; with several, a workflow only some can run is a note (jobs go where they can run),
    and one that no reachable server can run is the problem."""
    if len(servers) == 1:
        section = Section("ComfyUI")
        await check_comfy(servers[0].settings, specs, section)
        return [section]
    sections = [Section(f"ComfyUI server {server.name}") for server in servers]
    infos = [
        await check_comfy(s.settings, specs, section, several=True)
        for s, section in zip(servers, sections, strict=True)
    ]
    runs = Section("Workflows on the servers")
    for spec in specs:
        able = [
            s.name for s, info in zip(servers, infos, strict=True) if info and not check_against_object_info(spec, info)
        ]
        if able:
            runs.ok(f"{spec.name} runs on {', '.join(able)}")
        elif any(infos):
            runs.problem(f"{spec.name}: no reachable server can run it (see each server above)")
    return [*sections, runs]


async def check_comfy(
    settings: ComfySettings, specs: list[WorkflowSpec], section: Section, *, several: bool = False
) -> ObjectInfo | None:
    """Reach ComfyUI over HTTP and WebSocket and check every workflow against its nodes and model files.

    `several`: one of several servers, where a workflow this one cannot run is only noted.
    """
    settings = settings.model_copy(update={"request_timeout": min(settings.request_timeout, CHECK_TIMEOUT)})
    async with aiohttp.ClientSession() as session:
        client = ComfyClient(session, settings)
        try:
            stats = await client.system_stats()
            info = ObjectInfo(await client.object_info())
        except ComfyConnectionError as exc:
            section.problem(
                f"cannot reach ComfyUI at {settings.url} ({exc.reason}).",
                "Is ComfyUI running there? If it runs on another machine, start it with --listen.",
                "To use another address, set comfy.url in config.yaml, e.g.  comfy: {url: http://192.168.1.20:8188}",
            )
            return None
        except ComfyHTTPError as exc:
            section.problem(*_http_problem(settings.url, exc))
            return None
        except ComfyError as exc:
            section.problem(f"ComfyUI at {settings.url} answered strangely: {exc}")
            return None
        devices = f" on {', '.join(stats.devices)}" if stats.devices else ""
        section.ok(f"ComfyUI {stats.comfyui_version or '(unknown version)'} at {settings.url}{devices}")
        _check_fit(specs, info, section, several=several)
        await _check_websocket(settings, session, section)
        return info


def _http_problem(url: str, exc: ComfyHTTPError) -> tuple[str, ...]:
    if exc.status in (401, 403):
        return (
            f"ComfyUI at {url} refused the request ({exc.status}): it asks for credentials.",
            "Set COMFY_API_KEY, or COMFY_USERNAME and COMFY_PASSWORD, in .env (see .env.example).",
        )
    return (
        f"{url} answered {exc.status} to {exc.method} {exc.path}: is comfy.url in config.yaml really ComfyUI?",
        "It should be the address you open ComfyUI at in a browser, e.g. http://127.0.0.1:8188",
    )


def _check_fit(specs: list[WorkflowSpec], info: ObjectInfo, section: Section, *, several: bool = False) -> None:
    if not specs:
        return
    problems = check_against_object_info(specs, info)
    for problem in problems:
        (section.warn if several else section.problem)(str(problem))
    unfit = {p.file for p in problems}
    fine = [s.name for s in specs if str(s.graph_path) not in unfit and str(s.mapping_path) not in unfit]
    if fine:
        section.ok(f"node classes and model files are all there for: {', '.join(fine)}")


async def _check_websocket(settings: ComfySettings, session: aiohttp.ClientSession, section: Section) -> None:
    async with ComfyService(settings, session=session) as service:
        connected = await service.wait_connected(WEBSOCKET_WAIT)
    ws_url = settings.url.replace("http", "ws", 1) + "/ws"
    if connected:
        section.ok(f"WebSocket {ws_url} opens (live progress works)")
    else:
        section.problem(
            f"HTTP works but the WebSocket {ws_url} did not open within {WEBSOCKET_WAIT:g} s.",
            "Progress and results arrive over it. If a reverse proxy sits in front of ComfyUI,",
            "let it forward WebSocket upgrades for /ws.",
        )


@contextlib.contextmanager
def _quiet_library_logs() -> Iterator[None]:
    """The report says it all: keep the modules' own warnings (logging is not set up here) off the screen."""
    logger = logging.getLogger("discomfy")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
