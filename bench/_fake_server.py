"""The fake ComfyUI in its own process, so that a memory measurement sees only the client.

    python -m bench._fake_server OUTPUT_DIR

Serves on 127.0.0.1 (a free port) and prints `URL <url>`. Then reads commands on stdin, one a line:
`size <bytes>` makes every following output file exactly that big (0: back to normal), answered `OK`.
End of stdin stops the server.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from testing.comfy_server import FakeComfy


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve(output_dir: Path) -> None:
    async with FakeComfy(step_delay=0.0, output_dir=output_dir) as fake:
        _say(f"URL {fake.url}")
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command, _, argument = line.decode().strip().partition(" ")
            if command == "size":
                fake.output_size = int(argument) or None
                _say("OK")
            else:
                _say(f"ERROR unknown command {command!r}")


def main() -> None:
    asyncio.run(_serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
