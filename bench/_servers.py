"""The loopback fakes in their own processes, so the process under test is the only one measured.

    python -m bench._servers comfy OUTPUT_DIR     # FakeComfy, prints `URL <http url>`
    python -m bench._servers discord              # FakeDiscordAPI (no upload limit), prints `URL <api base>`

Each then reads commands on stdin, one a line, answered `OK` (or `ERROR ...`):

- `size <bytes>` (comfy): every later output file is exactly that big (0: back to normal);
- `step_delay <seconds>` (comfy): seconds each sampler step sleeps;
- `pause <seconds>` (comfy): the fake's `post_job_pause`, the stall after a prompt (0: off);
- `pause_every <seconds>` (comfy): the fake's `pause_interval`, at most one stall per this many seconds;
- `dump <path>`: write what was seen so far as JSON to `path` (comfy: monotonic stamps per prompt_id and
  request counts; discord: every request with its method, path, status, arrival and file parts);
- `reset`: forget what was seen so far.

End of stdin stops the server. Stamps are `time.monotonic()`, which on Linux is CLOCK_MONOTONIC for every
process on the machine, so they compare directly with the same clock in the benchmark process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from testing.botkit import install_models
from testing.comfy_server import FakeComfy, RecordedRequest
from testing.discord_api import FakeDiscordAPI

_LINE_LIMIT = 1 << 16
_REPO = Path(__file__).resolve().parent.parent


class StampedComfy(FakeComfy):
    """FakeComfy that stamps, per prompt, the POST arrival, the start, the `execution_start` and `execution_success`
    sends, the finish (history written) and each output file's GET /view (arrival and answer).

    The stamps come from the fake's own hooks (`request_answered`, `prompt_event`, `message_sending`,
    `prompt_finished`); the fake is not edited.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posted: dict[str, float] = {}  # prompt_id -> POST /prompt arrived
        self.started: dict[str, float] = {}  # prompt_id -> the worker began executing it
        self.start_sent: dict[str, float] = {}  # prompt_id -> `execution_start` handed to its socket
        self.success_sent: dict[str, float] = {}  # prompt_id -> `execution_success` handed to its socket
        self.finished: dict[str, float] = {}  # prompt_id -> history entry written (the job is done on the server)
        self.output_of: dict[str, str] = {}  # output filename -> the prompt_id whose `executed` named it
        self.view_arrived: dict[str, float] = {}  # output filename -> its first GET /view arrived
        self.view_answered: dict[str, float] = {}  # output filename -> that answer went out (after any pause)

    def request_answered(self, request: RecordedRequest, response: web.StreamResponse) -> None:
        if request.method == "POST" and request.route == "/prompt" and isinstance(response, web.Response):
            answer = json.loads(response.body) if response.status == 200 and response.body else {}
            if "prompt_id" in answer:  # the client's own id, or the one the server made up
                self.posted[answer["prompt_id"]] = request.received_at
        elif request.method == "GET" and request.route == "/view" and "filename" in request.query:
            self.view_arrived.setdefault(request.query["filename"], request.received_at)
            self.view_answered.setdefault(request.query["filename"], time.monotonic())

    def prompt_event(self, prompt_id: str, event: str) -> None:
        if event == "execution_start":
            self.started[prompt_id] = time.monotonic()

    def message_sending(self, event: str, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        prompt_id = str(payload.get("prompt_id"))
        if event == "execution_start":
            self.start_sent.setdefault(prompt_id, time.monotonic())
        elif event == "execution_success":
            self.success_sent.setdefault(prompt_id, time.monotonic())
        elif event == "executed":
            for items in (payload.get("output") or {}).values():
                for item in items if isinstance(items, list) else ():
                    if isinstance(item, dict) and "filename" in item:
                        self.output_of[item["filename"]] = prompt_id

    def prompt_finished(self, prompt_id: str) -> None:
        self.finished.setdefault(prompt_id, time.monotonic())

    def dump(self) -> dict[str, Any]:
        routes: dict[str, int] = {}
        for request in self.requests:
            key = f"{request.method} {request.route.split('/')[1] if request.route.count('/') > 1 else request.route}"
            routes[key] = routes.get(key, 0) + 1
        return {
            "posted": self.posted,
            "started": self.started,
            "start_sent": self.start_sent,
            "success_sent": self.success_sent,
            "finished": self.finished,
            "output_of": self.output_of,
            "view_arrived": self.view_arrived,
            "view_answered": self.view_answered,
            "pauses": self.pauses,
            "requests": routes,
            "ws_connections": self.ws_connections,
        }

    def reset(self) -> None:
        stamps: list[dict[str, Any]] = [self.posted, self.started, self.start_sent, self.success_sent, self.finished]
        for table in (*stamps, self.output_of, self.view_arrived, self.view_answered):
            table.clear()
        self.pauses.clear()
        self.requests.clear()
        self.ws_connections = 0


def _discord_dump(fake: FakeDiscordAPI) -> list[dict[str, Any]]:
    return [
        {
            "method": r.method,
            "path": r.path,
            "status": r.status,
            "received_at": r.received_at,
            "files": [[f.filename, f.size] for f in r.files],
        }
        for r in fake.requests
    ]


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _commands() -> AsyncIterator[tuple[str, str]]:
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command, _, argument = line.decode().strip().partition(" ")
        yield command, argument


async def _serve_comfy(output_dir: Path) -> None:
    async with StampedComfy(step_delay=0.0, output_dir=output_dir) as fake:
        install_models(fake)
        _say(f"URL {fake.url}")
        async for command, argument in _commands():
            if command == "size":
                fake.output_size = int(argument) or None
            elif command == "step_delay":
                fake.step_delay = float(argument)
            elif command == "pause":
                fake.post_job_pause = float(argument)
            elif command == "pause_every":
                fake.pause_interval = float(argument)
            elif command == "dump":
                await asyncio.to_thread(Path(argument).write_text, json.dumps(fake.dump()))
            elif command == "reset":
                fake.reset()
            else:
                _say(f"ERROR unknown command {command!r}")
                continue
            _say("OK")


async def _serve_discord() -> None:
    async with FakeDiscordAPI(upload_limit=None, keep_file_bytes=0) as fake:
        _say(f"URL {fake.api_base}")
        async for command, argument in _commands():
            if command == "dump":
                await asyncio.to_thread(Path(argument).write_text, json.dumps(_discord_dump(fake)))
            elif command == "reset":
                fake.requests.clear()
            else:
                _say(f"ERROR unknown command {command!r}")
                continue
            _say("OK")


class ServerProcess:
    """The benchmark's handle on one fake running in a child process."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, scratch: Path) -> None:
        self.process = process
        self.url = url
        self._scratch = scratch
        self._dumps = 0

    @classmethod
    async def start(cls, kind: str, scratch: Path, *args: str) -> ServerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._servers",
            kind,
            *args,
            cwd=_REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        server = cls(process, "", scratch)
        server.url = (await server._line()).removeprefix("URL ")
        return server

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()
        answer = await self._line()
        if answer != "OK":
            raise RuntimeError(f"the fake answered {answer!r} to {text!r}")

    async def dump(self) -> Any:
        self._dumps += 1
        path = self._scratch / f"dump-{self.process.pid}-{self._dumps}.json"
        await self.command(f"dump {path}")
        text = await asyncio.to_thread(path.read_text)
        await asyncio.to_thread(path.unlink)
        return json.loads(text)

    async def stop(self) -> None:
        """Close its stdin (it stops and cleans up by itself); kill it only if it hangs."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()

    async def _line(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        if not line:
            raise RuntimeError("a fake server process exited early")
        return line.decode().strip()


def main() -> None:
    kind = sys.argv[1]
    if kind == "comfy":
        asyncio.run(_serve_comfy(Path(sys.argv[2])))
    elif kind == "discord":
        asyncio.run(_serve_discord())
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


if __name__ == "__main__":
    main()
