"""Running `python -m discomfy ...` as a real subprocess, for tests of the command-line tools."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


async def start_discomfy(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    """`python -m discomfy ARGS` started in `cwd`, its output piped (to interrupt it, or read it as it comes)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "discomfy",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


async def run_discomfy(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of `python -m discomfy ARGS` run in `cwd`."""
    process = await start_discomfy(*args, cwd=cwd)
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()
