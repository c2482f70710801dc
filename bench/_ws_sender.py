"""A WebSocket server on 127.0.0.1 that blasts a pickled message mix at its first client, in its own process.

    python -m bench._ws_sender MIX_FILE

Prints `PORT <n>` once listening, then `SENT <messages> <wall seconds> <cpu seconds>` after the last
write, and exits when the client closes the connection (or after 120 s). The handshake and the frames
are written by hand on a plain asyncio stream, and every frame is encoded before the client connects,
so that the sender costs about a microsecond per message and the client is what gets measured.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import pickle
import re
import sys
import time
from pathlib import Path

_DEADLINE = 120.0
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = re.compile(rb"^sec-websocket-key:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
_TEXT, _BINARY = 0x1, 0x2
_CLOSE_OPCODE = 0x8
_CLOSE = bytes((0x80 | _CLOSE_OPCODE, 2)) + (1000).to_bytes(2, "big")


def _header(opcode: int, length: int) -> bytes:
    """An unmasked, final server frame header (RFC 6455 section 5.2)."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 1 << 16:
        return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")


async def _read_frame(reader: asyncio.StreamReader) -> int:
    """Read one (masked) client frame; return its opcode."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    await reader.readexactly(length + (4 if second & 0x80 else 0))
    return first & 0x0F


async def _close_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Wait for the client's close frame, answer it, then read to EOF (closing with unread input sends a RST)."""
    while await _read_frame(reader) != _CLOSE_OPCODE:
        pass
    writer.write(_CLOSE)
    await writer.drain()
    while await reader.read(1 << 16):
        pass


def _frames(mix: list[tuple[bool, str | bytes]]) -> list[tuple[bytes, bytes]]:
    frames = []
    for binary, payload in mix:
        data = payload if isinstance(payload, bytes) else payload.encode()
        frames.append((_header(_BINARY if binary else _TEXT, len(data)), data))
    return frames


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve(frames: list[tuple[bytes, bytes]]) -> None:
    finished = asyncio.Event()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = _KEY.search(request)
            if key is None:
                return
            accept = base64.b64encode(hashlib.sha1(key.group(1) + _GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            await _read_frame(reader)  # the tracker's feature_flags: it is reading from now on
            wall, cpu = time.perf_counter(), time.process_time()
            for index, (header, data) in enumerate(frames):
                writer.write(header)
                writer.write(data)
                if index % 64 == 63:
                    await writer.drain()
            await writer.drain()
            _say(f"SENT {len(frames)} {time.perf_counter() - wall:.6f} {time.process_time() - cpu:.6f}")
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # it may just drop the socket
                await _close_handshake(reader, writer)
        finally:
            writer.close()
            finished.set()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    _say(f"PORT {server.sockets[0].getsockname()[1]}")
    async with server:
        await asyncio.wait_for(finished.wait(), _DEADLINE)


def main() -> None:
    with Path(sys.argv[1]).open("rb") as source:
        mix = pickle.load(source)  # written by bench._dispatch a moment ago
    asyncio.run(_serve(_frames(mix)))


if __name__ == "__main__":
    main()
