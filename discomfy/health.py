"""A heartbeat file the bot writes and Docker's HEALTHCHECK reads, so health means real connections."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_PATH = Path("data/health.json")
DEFAULT_MAX_AGE = 60.0  # four missed beats at the bot's ~15 s interval


def health_status(*, discord_ready: bool, comfy_connected: bool) -> str:
    """Healthy while Discord and at least one ComfyUI server are connected; degraded otherwise."""
    return "healthy" if discord_ready and comfy_connected else "degraded"


def write_health(
    path: Path, *, discord_ready: bool, comfy_connected: bool, servers: Mapping[str, bool] | None = None
) -> None:
    """Replace the heartbeat atomically so a checker never reads half a file; blocking, so use a thread.

    `servers`: each ComfyUI server's connection by name; `comfy_connected` is whether at least one is.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "status": health_status(discord_ready=discord_ready, comfy_connected=comfy_connected),
        "discord_ready": discord_ready,
        "comfy_connected": comfy_connected,
        "servers": dict(servers or {}),
        "updated": time.time(),
    }
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(payload, file)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def check_health(path: Path, max_age: float = DEFAULT_MAX_AGE, *, now: float | None = None) -> tuple[bool, str]:
    """Healthy only if the heartbeat is fresh and Discord and at least one ComfyUI server are connected."""
    try:
        beat = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, f"no heartbeat at {path}: the bot has not started yet or cannot write there"
    except (OSError, ValueError) as exc:
        return False, f"unreadable heartbeat at {path}: {exc}"
    updated = beat.get("updated") if isinstance(beat, dict) else None
    if not isinstance(updated, int | float) or isinstance(updated, bool):
        return False, f"heartbeat at {path} has no 'updated' time"
    age = (time.time() if now is None else now) - updated
    if age > max_age:
        return False, f"heartbeat is {age:.0f} s old (limit {max_age:g} s): the bot is stuck or stopped"
    if beat.get("discord_ready") is not True:
        return False, "not connected to Discord"
    if beat.get("comfy_connected") is not True:
        return False, "not connected to ComfyUI"
    servers = beat.get("servers") if isinstance(beat.get("servers"), dict) else {}
    away = sorted(str(name) for name, up in servers.items() if up is not True)
    others = f" (ComfyUI server(s) {', '.join(away)} not connected)" if away else ""
    return True, f"healthy: Discord ready, ComfyUI connected{others}, heartbeat {max(age, 0):.0f} s old"


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status for Docker's HEALTHCHECK, with the reason on one line for `docker inspect`."""
    parser = argparse.ArgumentParser(
        prog="python -m discomfy.health",
        description="Exit 0 if the bot's heartbeat is fresh and Discord and ComfyUI are connected, else 1.",
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE, help="seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    healthy, reason = check_health(args.path, args.max_age)
    sys.stdout.write(f"{reason}\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
