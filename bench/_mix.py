"""The WebSocket message mix: recorded from the fake's real output, then replayed for many prompt_ids.

One job of ours (client with `supports_preview_metadata`, so previews are type-4 frames naming their
prompt) and one job of another client (no client_id: ComfyUI broadcasts its progress and type-1
previews to every socket) are run on the fake and every message we receive is kept. The preview
images are then replaced by the frames recorded from a real ComfyUI 0.3.64 (512x512 JPEG, ~147 KB).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench._common import graph
from discomfy.comfy.tracker import FEATURE_FLAGS
from testing.comfy_server import FakeComfy, decode_preview_frame, encode_preview_frame

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "comfy"
STEPS = 20  # sampler steps per recorded job: one progress, progress_state and preview per step
FOREIGN_EVERY = 4  # every 4th job in the mix belongs to another client

Message = tuple[bool, str | bytes]  # (is_binary, payload)


@dataclass(frozen=True, slots=True)
class Templates:
    ours: tuple[Message, ...]  # without `execution_success` and the final `executing {node: null}` (they end the job)
    ours_id: str
    foreign: tuple[Message, ...]
    foreign_id: str
    preview_meta: dict[str, object]  # metadata of a type-4 frame, prompt_id to be filled in
    preview_image: bytes  # recorded JPEG carried by type-4 frames
    legacy_frame: bytes  # recorded type-1 frame, shared by every foreign preview


async def record_templates(tmp: Path) -> Templates:
    """Run one job of ours and one of another client on the fake; keep every message our socket gets."""
    async with FakeComfy(step_delay=0.0, output_dir=tmp / "record-output") as fake, aiohttp.ClientSession() as http:
        client_id = "bench-recorder"
        async with http.ws_connect(fake.ws_url(client_id)) as ws:
            await ws.send_json(FEATURE_FLAGS)
            await _drain(ws)
            ours_id, ours = await _record_job(http, fake, ws, graph(1, steps=STEPS, size=512), client_id)
            foreign_id, foreign = await _record_job(http, fake, ws, graph(2, steps=STEPS, size=512), None)
    ours = [(binary, raw) for binary, raw in ours if binary or not _ends_job(str(raw))]
    _, meta, image = decode_preview_frame((FIXTURES / "preview_frame_event4.bin").read_bytes())
    assert meta is not None
    return Templates(
        ours=tuple(ours),
        ours_id=ours_id,
        foreign=tuple(foreign),
        foreign_id=foreign_id,
        preview_meta=meta,
        preview_image=image,
        legacy_frame=(FIXTURES / "preview_frame_event1.bin").read_bytes(),
    )


async def _record_job(
    http: aiohttp.ClientSession,
    fake: FakeComfy,
    ws: aiohttp.ClientWebSocketResponse,
    prompt: dict[str, object],
    client_id: str | None,
) -> tuple[str, list[Message]]:
    prompt_id = str(uuid.uuid4())
    body: dict[str, object] = {"prompt": prompt, "prompt_id": prompt_id}
    if client_id is not None:
        body["client_id"] = client_id
    async with http.post(fake.url + "/prompt", json=body) as resp:
        resp.raise_for_status()
    await fake.wait_idle()
    return prompt_id, await _drain(ws)


async def _drain(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.3) -> list[Message]:
    """Everything the socket receives until it has been quiet for `quiet` seconds."""
    received: list[Message] = []
    while True:
        try:
            msg = await ws.receive(timeout=quiet)
        except TimeoutError:
            return received
        if msg.type is aiohttp.WSMsgType.TEXT:
            received.append((False, msg.data))
        elif msg.type is aiohttp.WSMsgType.BINARY:
            received.append((True, msg.data))
        else:
            return received


def _ends_job(raw: str) -> bool:
    """`execution_success` or the final `executing {node: null}`: either completes the job in the service."""
    message = json.loads(raw)
    final = message["type"] == "executing" and message["data"].get("node") is None
    return final or message["type"] == "execution_success"


def build_mix(templates: Templates, job_ids: list[str], total: int, *, seed: int = 0) -> list[Message]:
    """At least `total` messages (whole jobs): recorded jobs replayed back to back, ours cycling over `job_ids`.

    Our jobs come in a shuffled order. Every 4th job is another client's (a fresh prompt_id we must
    ignore). Each of our jobs gets one type-4 preview frame object, shared by its steps, so the mix
    stays small in memory.
    """
    order = list(job_ids)
    random.Random(seed).shuffle(order)
    mix: list[Message] = []
    frames: dict[str, bytes] = {}
    sequence = 0
    while len(mix) < total:
        if sequence % FOREIGN_EVERY == FOREIGN_EVERY - 1:
            other = str(uuid.uuid4())
            mix.extend(_substitute(templates.foreign, templates.foreign_id, other, templates.legacy_frame))
        else:
            prompt_id = order[(sequence - sequence // FOREIGN_EVERY) % len(order)]
            frame = frames.get(prompt_id)
            if frame is None:
                meta = {**templates.preview_meta, "prompt_id": prompt_id}
                frame = frames[prompt_id] = encode_preview_frame(templates.preview_image, meta)
            mix.extend(_substitute(templates.ours, templates.ours_id, prompt_id, frame))
        sequence += 1
    return mix


def _substitute(template: tuple[Message, ...], old: str, new: str, frame: bytes) -> list[Message]:
    return [(True, frame) if binary else (False, str(raw).replace(old, new)) for binary, raw in template]


def describe(mix: list[Message]) -> str:
    """Counts per message type, for the report."""
    counts: dict[str, int] = {}
    for binary, raw in mix:
        kind = f"binary type {int.from_bytes(bytes(raw[:4]), 'big')}" if binary else json.loads(raw)["type"]
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
