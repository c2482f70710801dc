"""The fake ComfyUI server reproduces what was recorded from a real ComfyUI 0.3.64.

Every test drives the fake with plain aiohttp clients and compares what comes back with the
extracts in ``tests/fixtures/comfy/recorded.json`` (the transcripts' compact ``checks``
sequences, HTTP bodies and the workflows that were sent).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import re
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from testing.botkit import WORKFLOWS, install_models
from testing.comfy_nodes import NodeResult, NodeRun
from testing.comfy_server import FakeComfy, decode_preview_frame, encode_preview_frame

logger = logging.getLogger(__name__)

FIXTURES = Path(__file__).parent / "fixtures" / "comfy"
RECORDED: dict[str, Any] = json.loads((FIXTURES / "recorded.json").read_text())


# --------------------------------------------------------------------------- helpers


def token(frame: dict[str, Any] | bytes) -> str:
    """One message in the recording's compact notation."""
    if isinstance(frame, bytes):
        return f"binary:{struct.unpack('>I', frame[:4])[0]}"
    kind, data = frame["type"], frame["data"]
    if kind == "status":
        return f"status:q={data['status']['exec_info']['queue_remaining']}"
    if kind == "progress_state":
        nodes = ",".join(f"{k}={v['state']}:{v['value']}/{v['max']}" for k, v in data["nodes"].items())
        return f"progress_state[{nodes}]"
    if kind == "executing":
        return f"executing:{data['node']}" + ("" if "prompt_id" in data else "(no prompt_id)")
    if kind == "progress":
        return f"progress:{data['value']}/{data['max']}"
    if kind == "executed":
        return f"executed:{data['node']}"
    return str(kind)


def collapse_steps(seq: list[str]) -> list[str]:
    """Sampler steps as one ``STEPS(/n)`` token per node run (each step: its progress_state,
    then its progress and binary preview in either order)."""
    step = re.compile(r"progress_state\[(?:.*,)?[^,=]+=running:(\d+)/(\d+)\]")
    out: list[str] = []
    i = 0
    while i < len(seq):
        m = step.fullmatch(seq[i])
        if m:
            value, total = m.groups()
            j, has_progress = i + 1, False
            while j < min(len(seq), i + 3) and (seq[j] == f"progress:{value}/{total}" or seq[j].startswith("binary:")):
                has_progress |= seq[j].startswith("progress:")
                j += 1
            if has_progress:
                if not out or out[-1] != f"STEPS(/{total})":
                    out.append(f"STEPS(/{total})")
                i = j
                continue
        out.append(seq[i])
        i += 1
    return out


class Listener:
    """A WebSocket client that records every frame it receives."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, metadata: bool = False):
        self.session = session
        self.url = url
        self.metadata = metadata
        self.frames: list[dict[str, Any] | bytes] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> Listener:
        self.ws = await self.session.ws_connect(self.url)
        if self.metadata:
            await self.ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda: len(self.frames) >= 1)
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.frames.append(bytes(msg.data))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await asyncio.wait_for(self._task, 5)

    @property
    def closed(self) -> bool:
        return self._task is not None and self._task.done()

    def mark(self) -> int:
        return len(self.frames)

    def seq(self, start: int = 0) -> list[str]:
        return [token(f) for f in self.frames[start:]]

    def json_frames(self, start: int = 0) -> list[dict[str, Any]]:
        return [f for f in self.frames[start:] if isinstance(f, dict)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
        async def poll() -> None:
            while not predicate():  # noqa: ASYNC110 - polling is the point
                await asyncio.sleep(0.002)

        await asyncio.wait_for(poll(), timeout)

    async def wait_token(self, tok: str, start: int = 0, count: int = 1) -> None:
        await self.wait_for(lambda: self.seq(start).count(tok) >= count)

    def per_prompt(self, start: int = 0) -> dict[str, list[str]]:
        """Messages per prompt_id (binary type-1 frames go to the last tagged prompt)."""
        out: dict[str, list[str]] = {}
        last: str | None = None
        for f in self.frames[start:]:
            if isinstance(f, bytes):
                pid = decode_preview_frame(f)[1]
                key = pid["prompt_id"] if pid else last
            elif f["type"] == "status":
                continue
            else:
                key = f["data"].get("prompt_id")
                last = key or last
            if key is not None:
                out.setdefault(key, []).append(token(f))
        return out


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest_asyncio.fixture
async def listeners() -> AsyncIterator[list[Listener]]:
    opened: list[Listener] = []
    yield opened
    for listener in opened:
        if not listener.closed:
            await listener.close()


async def listen(
    opened: list[Listener],
    session: aiohttp.ClientSession,
    fake: FakeComfy,
    client_id: str | None,
    *,
    metadata: bool = False,
) -> Listener:
    listener = await Listener(session, fake.ws_url(client_id), metadata=metadata).open()
    opened.append(listener)
    return listener


async def post_prompt(session: aiohttp.ClientSession, fake: FakeComfy, body: dict[str, Any]) -> dict[str, Any]:
    async with session.post(f"{fake.url}/prompt", json=body) as resp:
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        assert resp.status == 200
        return await resp.json()


def with_client(body: dict[str, Any], client_id: str | None) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body.pop("client_id", None)
    if client_id is not None:
        body["client_id"] = client_id
    return body


def sampler_graph(steps: int = 2, seed: int = 1, prefix: str = "discomfy/txt2img") -> dict[str, Any]:
    return {
        "3": {
            "class_type": "TestSampler",
            "inputs": {"seed": seed, "steps": steps, "width": 64, "height": 64, "delay": 0.0, "text": "a lighthouse"},
        },
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix, "images": ["3", 0]}},
    }


def strip_volatile(obj: Any, prompt_id: str) -> Any:
    """Replace a prompt_id and every timestamp so entries compare across runs."""
    text = json.dumps(obj).replace(prompt_id, "<prompt_id>")
    return json.loads(re.sub(r'"timestamp": \d+', '"timestamp": 0', text))


# --------------------------------------------------------------------------- static endpoints


async def test_static_endpoints_answer_like_the_recorded_server(fake_comfy, session):
    info = RECORDED["server_info"]
    assert await get_json(session, f"{fake_comfy.url}/system_stats") == info["system_stats"]
    assert await get_json(session, f"{fake_comfy.url}/api/system_stats") == info["system_stats"]
    assert await get_json(session, f"{fake_comfy.url}/features") == info["features"]
    assert await get_json(session, f"{fake_comfy.url}/prompt") == info["prompt"]
    assert await get_json(session, f"{fake_comfy.url}/queue") == info["queue"]
    assert await get_json(session, f"{fake_comfy.url}/object_info/NoSuchNode") == {}
    assert await get_json(session, f"{fake_comfy.url}/history?max_items=1") == {}


async def test_recorded_node_schemas_are_reproduced_exactly(fake_comfy, session):
    recorded = RECORDED["server_info"]["object_info"]
    for name, body in recorded.items():
        ours = await get_json(session, f"{fake_comfy.url}/object_info/{name}")
        if name == "LoadImage":  # its combo lists the recording machine's input files
            ours[name]["input"]["required"]["image"][0] = body[name]["input"]["required"]["image"][0]
        assert ours == body, name
        assert json.dumps(ours) == json.dumps(body), f"{name}: key order differs"


async def test_object_info_has_the_catalog_with_model_and_v3_combos(fake_comfy, session):
    everything = await get_json(session, f"{fake_comfy.url}/api/object_info")
    wanted = [
        "CheckpointLoaderSimple",
        "CLIPTextEncode",
        "EmptyLatentImage",
        "EmptySD3LatentImage",
        "KSampler",
        "KSamplerAdvanced",
        "SamplerCustom",
        "SamplerCustomAdvanced",
        "RandomNoise",
        "BasicGuider",
        "CFGGuider",
        "BasicScheduler",
        "KSamplerSelect",
        "FluxGuidance",
        "UNETLoader",
        "DualCLIPLoader",
        "CLIPLoader",
        "VAELoader",
        "LoraLoader",
        "LoraLoaderModelOnly",
        "VAEDecode",
        "VAEEncode",
        "LoadImage",
        "ImageScale",
        "SaveImage",
        "PreviewImage",
        "SaveAnimatedWEBP",
        "SaveAnimatedPNG",
        "SaveWEBM",
        "CreateVideo",
        "SaveVideo",
        "EmptyHunyuanLatentVideo",
        "WanImageToVideo",
        "ModelSamplingSD3",
        "VHS_VideoCombine",
        "TestSampler",
        "TestFail",
    ]
    assert set(wanted) <= set(everything)
    ckpt = everything["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    assert ckpt[0] == ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
    assert everything["SaveWEBM"]["input"]["required"]["codec"][0] == "COMBO"
    assert everything["SaveWEBM"]["input"]["required"]["codec"][1]["options"] == ["vp9", "av1"]
    assert everything["VHS_VideoCombine"]["output_node"] is True
    fake_comfy.models["checkpoints"] = ["only.safetensors"]
    one = await get_json(session, f"{fake_comfy.url}/object_info/CheckpointLoaderSimple")
    assert one["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == ["only.safetensors"]
    assert await get_json(session, f"{fake_comfy.url}/models/checkpoints") == ["only.safetensors"]


# --------------------------------------------------------------------------- one job


async def test_single_job_with_legacy_previews_follows_the_recorded_order(fake_comfy, session, listeners):
    rec = RECORDED["a"]
    client_id = rec["prompt"]["client_id"]
    ws = await listen(listeners, session, fake_comfy, client_id)
    start = ws.mark()
    answer = await post_prompt(session, fake_comfy, rec["prompt"])
    assert answer["number"] == 0
    assert answer["node_errors"] == {}
    await ws.wait_token("executing:None", start)
    assert ws.seq(start) == rec["sequence"]
    # History: recorded entry shape, same file name (fresh output dir), same number.
    pid = answer["prompt_id"]
    history = await get_json(session, f"{fake_comfy.url}/history/{pid}")
    recorded_entry = next(h["body"] for h in rec["http"] if h["path"].startswith("/history/"))
    recorded_pid = next(iter(recorded_entry))
    assert strip_volatile(history, pid) == strip_volatile(recorded_entry, recorded_pid)
    assert await get_json(session, f"{fake_comfy.url}/history?max_items=1") == history


async def test_view_serves_outputs_with_ranges_head_previews_and_errors(fake_comfy, session, listeners):
    rec = RECORDED["a"]
    answer = await post_prompt(session, fake_comfy, with_client(rec["prompt"], None))
    await fake_comfy.wait_idle()
    outputs = await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}")
    image = outputs[answer["prompt_id"]]["outputs"]["9"]["images"][0]
    url = f"{fake_comfy.url}/view"
    params = {"filename": image["filename"], "subfolder": image["subfolder"], "type": "output"}
    async with session.get(url, params=params) as resp:
        assert resp.status == 200
        body = await resp.read()
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Disposition"] == f'filename="{image["filename"]}"'
        assert all(h in resp.headers for h in ("ETag", "Last-Modified", "Accept-Ranges"))
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
    size = len(body)
    async with session.head(url, params=params) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == size
    async with session.get(url, params=params, headers={"Range": "bytes=0-99"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 0-99/{size}"
        assert await resp.read() == body[:100]
    async with session.get(url, params=params, headers={"Range": f"bytes={size - 10}-"}) as resp:
        assert resp.status == 206
        assert await resp.read() == body[-10:]
    async with session.get(url, params={**params, "preview": "webp;50"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/webp"
        assert (await resp.read())[:4] == b"RIFF"
    async with session.get(url, params={**params, "channel": "rgb"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
    async with session.get(url, params={"filename": "does_not_exist.png", "type": "output"}) as r:
        assert r.status == 404
    async with session.get(url, params={"filename": "../main.py", "type": "output"}) as r:
        assert r.status == 400
    async with session.get(f"{fake_comfy.url}/api/view", params=params, headers={"Range": "bytes=0-15"}) as resp:
        assert resp.status == 206
        assert await resp.read() == body[:16]


async def test_feature_flags_client_gets_type4_previews_before_progress(fake_comfy, session, listeners):
    rec = RECORDED["a2"]
    ws = await listen(listeners, session, fake_comfy, rec["prompt"]["client_id"], metadata=True)
    await ws.wait_for(lambda: len(ws.frames) >= 2)
    assert ws.frames[1] == {
        "type": "feature_flags",
        "data": {"supports_preview_metadata": True, "max_upload_size": 104857600},
    }
    start = ws.mark()
    answer = await post_prompt(session, fake_comfy, rec["prompt"])
    await ws.wait_token("executing:None", start)
    assert ws.seq(start) == rec["sequence"]
    first = next(f for f in ws.frames if isinstance(f, bytes))
    event, metadata, image = decode_preview_frame(first)
    assert event == 4
    assert image[:2] == b"\xff\xd8"
    recorded_meta = rec["first_binary"]["metadata"]
    assert metadata == {**recorded_meta, "prompt_id": answer["prompt_id"]}
    assert first[:4].hex() == rec["first_binary"]["first8"][:8]
    assert struct.unpack(">I", first[4:8])[0] == len(json.dumps(metadata))


async def test_preview_frames_are_byte_compatible_with_the_recorded_samples(fake_comfy, session, listeners):
    legacy = (FIXTURES / "preview_frame_event1.bin").read_bytes()
    with_meta = (FIXTURES / "preview_frame_event4.bin").read_bytes()
    event, meta, jpeg = decode_preview_frame(with_meta)
    assert event == 4
    assert meta is not None
    assert encode_preview_frame(jpeg, meta) == with_meta
    assert encode_preview_frame(legacy[8:]) == legacy
    # Live frames carry the configured image bytes unchanged.
    fake_comfy.preview_image = jpeg
    ws = await listen(listeners, session, fake_comfy, "cid", metadata=True)
    answer = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1), "client_id": "cid"})
    await ws.wait_token("executing:None")
    frame = next(f for f in ws.frames if isinstance(f, bytes))
    assert frame == encode_preview_frame(jpeg, {**meta, "prompt_id": answer["prompt_id"]})


# --------------------------------------------------------------------------- routing


async def test_three_jobs_on_one_client_have_disjoint_recorded_sequences(fake_comfy, session, listeners):
    rec = RECORDED["b"]
    fake_comfy.step_delay = 0.05  # like the recording: the three POSTs land before the first step
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    start = ws.mark()
    ids = [(await post_prompt(session, fake_comfy, body))["prompt_id"] for body in rec["prompts"]]
    pending = await get_json(session, f"{fake_comfy.url}/queue")
    assert [item[1] for item in pending["queue_running"]] == ids[:1]
    assert sorted(pending["queue_pending"])[0][3] == {"client_id": rec["prompts"][0]["client_id"]}
    assert await get_json(session, f"{fake_comfy.url}/history/{ids[2]}") == {}
    await ws.wait_token("executing:None", start, count=3)
    assert ws.seq(start) == rec["sequence_all"]
    per_prompt = ws.per_prompt(start)
    assert [per_prompt[i] for i in ids] == rec["sequence_per_prompt"]
    spans = []
    for pid in ids:
        idx = [n for n, f in enumerate(ws.frames) if isinstance(f, dict) and f["data"].get("prompt_id") == pid]
        spans.append((idx[0], idx[-1]))
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


async def test_other_sockets_see_only_status_and_clientless_jobs_broadcast_progress(fake_comfy, session, listeners):
    rec = RECORDED["c"]
    a = await listen(listeners, session, fake_comfy, "client-A")
    b = await listen(listeners, session, fake_comfy, "client-B")
    n = await listen(listeners, session, fake_comfy, None)
    sid = n.frames[0]["data"]["sid"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    phases = list(rec["phases"].items())
    clients = ["client-A", None, sid]
    for (phase, expected), body, client_id in zip(phases, rec["prompts"], clients, strict=True):
        marks = {name: sock.mark() for name, sock in (("A", a), ("B", b), ("N", n))}
        await post_prompt(session, fake_comfy, with_client(body, client_id))
        await fake_comfy.wait_idle()
        for name, sock in (("A", a), ("B", b), ("N", n)):
            last = expected[name][-1]
            await sock.wait_token(last, marks[name])
            assert sock.seq(marks[name]) == expected[name], (phase, name)


async def test_identical_resubmission_is_answered_from_cache_without_a_new_file(fake_comfy, session, listeners):
    rec = RECORDED["d"]
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    filenames = []
    for (run, expected), body in zip(rec["runs"].items(), rec["prompts"], strict=True):
        start = ws.mark()
        answer = await post_prompt(session, fake_comfy, body)
        await fake_comfy.wait_idle()
        await ws.wait_token(expected["sequence"][-1], start)
        assert ws.seq(start) == expected["sequence"], run
        entry = (await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}"))[answer["prompt_id"]]
        cached = next(m[1]["nodes"] for m in entry["status"]["messages"] if m[0] == "execution_cached")
        assert cached == expected["cached_nodes"], run
        filenames.append(entry["outputs"]["9"]["images"][0]["filename"])
    recorded_names = [r["history_outputs"]["9"]["images"][0]["filename"] for r in rec["runs"].values()]
    first_counter = int(recorded_names[0].split("_")[1])
    assert [int(n.split("_")[1]) + first_counter - 1 for n in filenames] == [
        int(n.split("_")[1]) for n in recorded_names
    ]
    assert len(list((fake_comfy.output_dir / "discomfy").iterdir())) == 5  # run 2 wrote nothing


async def test_interrupts_global_then_targeted_at_pending_then_at_running(fake_comfy, session, listeners):
    rec = RECORDED["e"]
    fake_comfy.step_delay = 0.02
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    ids = [(await post_prompt(session, fake_comfy, body))["prompt_id"] for body in rec["prompts"]]
    await ws.wait_token("progress:3/40")
    async with session.post(f"{fake_comfy.url}/interrupt") as resp:
        assert resp.status == 200
        assert await resp.read() == b""
    await ws.wait_token("execution_start", count=2)
    await ws.wait_token("progress:1/40", count=2)
    async with session.post(f"{fake_comfy.url}/interrupt", json={"prompt_id": ids[2]}) as resp:
        assert resp.status == 200
        assert await resp.read() == b""
    await ws.wait_token("progress:3/40", count=2)
    assert fake_comfy.running_prompt_id == ids[1]
    async with session.post(f"{fake_comfy.url}/api/interrupt", json={"prompt_id": ids[1]}) as r:
        assert r.status == 200
    await fake_comfy.wait_idle()
    await ws.wait_token("executing:None", count=3)
    per_prompt = ws.per_prompt()
    for pid, key in zip(ids, ["p1", "p2", "p3"], strict=True):
        assert collapse_steps(per_prompt[pid]) == collapse_steps(rec["sequence_per_prompt"][key])
    for pid, status, outputs in zip(ids, rec["history_status"], rec["history_outputs"], strict=True):
        entry = (await get_json(session, f"{fake_comfy.url}/history/{pid}"))[pid]
        assert entry["status"]["status_str"] == status["status_str"]
        assert entry["status"]["completed"] == status["completed"]
        assert [m[0] for m in entry["status"]["messages"]] == [m[0] for m in status["messages"]]
        assert bool(entry["outputs"]) == bool(outputs)
        last = entry["status"]["messages"][-1][1]
        if status["status_str"] == "error":
            assert {**last, "prompt_id": "", "timestamp": 0} == {
                **status["messages"][-1][1],
                "prompt_id": "",
                "timestamp": 0,
            }


async def test_queue_delete_front_and_heap_order_like_the_recording(fake_comfy, session, listeners):
    rec = RECORDED["f"]
    fake_comfy.step_delay = 0.02
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    ids = [(await post_prompt(session, fake_comfy, body))["prompt_id"] for body in rec["prompts"]]
    queue = await get_json(session, f"{fake_comfy.url}/queue")
    # Recorded numbers were 17..20 ([-20, 19, 18] pending); ours start at 0: same heap layout.
    offset = rec["running_numbers"][0][0]
    recorded_layout = [n - offset if n > 0 else n + offset for n in rec["pending_numbers"][0]]
    assert [x[0] for x in queue["queue_pending"]] == recorded_layout == [-3, 2, 1]
    assert [x[1] for x in queue["queue_pending"]] == [ids[3], ids[2], ids[1]]
    async with session.post(f"{fake_comfy.url}/queue", json={"delete": [ids[1]]}) as resp:
        assert resp.status == 200
        assert await resp.read() == b""
    queue = await get_json(session, f"{fake_comfy.url}/queue")
    assert [x[0] for x in queue["queue_pending"]] == [-3, 2]
    for doomed in (ids[0], "00000000-0000-0000-0000-000000000000"):  # running / unknown: no-op
        async with session.post(f"{fake_comfy.url}/queue", json={"delete": [doomed]}) as resp:
            assert resp.status == 200
    await fake_comfy.wait_idle()
    await ws.wait_token("executing:None", count=3)
    statuses = [t for t in ws.seq(1) if t.startswith("status")]
    assert statuses == [t for t in rec["sequence_all"] if t.startswith("status")]
    order = [f["data"]["prompt_id"] for f in ws.json_frames() if f["type"] == "execution_start"]
    labels = {ids[0]: "p1", ids[1]: "p2", ids[2]: "p3", ids[3]: "p4"}
    assert [labels[p] for p in order] == rec["execution_order"]
    assert ids[1] not in ws.per_prompt()
    assert await get_json(session, f"{fake_comfy.url}/history/{ids[1]}") == {}
    assert (await get_json(session, f"{fake_comfy.url}/history/{ids[3]}"))[ids[3]]["prompt"][0] == -3


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("case", list(RECORDED["g"]["cases"]))
async def test_invalid_and_odd_workflows_get_the_recorded_answers(case, fake_comfy, session, listeners):
    recorded = RECORDED["g"]["cases"][case]
    ws = await listen(listeners, session, fake_comfy, "g-client")
    start = ws.mark()
    if recorded["request_raw"] is not None:
        kwargs: dict[str, Any] = {"data": recorded["request_raw"], "headers": {"Content-Type": "application/json"}}
    else:
        kwargs = {"json": recorded["request"]}
    async with session.post(f"{fake_comfy.url}/prompt", **kwargs) as resp:
        assert resp.status == recorded["status"]
        assert resp.headers["Content-Type"] == recorded["content_type"]
        body = await resp.json() if resp.status != 500 else await resp.text()
    if resp.status == 200:
        assert body["node_errors"] == recorded["body"]["node_errors"]
        assert body["number"] == 0
        if "prompt_id" in recorded["request"]:
            assert body["prompt_id"] == recorded["request"]["prompt_id"]
        await fake_comfy.wait_idle()
        history = await get_json(session, f"{fake_comfy.url}/history/{body['prompt_id']}")
        assert history[body["prompt_id"]]["status"]["status_str"] == "success"
    else:
        assert body == recorded["body"]
        await asyncio.sleep(0.05)
        assert ws.seq(start) == [], "a rejected prompt sends nothing on the WebSocket"


async def test_number_counts_every_post_including_rejected_ones(fake_comfy, session):
    bad = {"prompt": {"3": {"class_type": "NoSuchNodeClass", "inputs": {}}}}
    for _ in range(3):
        async with session.post(f"{fake_comfy.url}/prompt", json=bad) as resp:
            assert resp.status == 400
    answer = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1)})
    assert answer["number"] == 3
    front = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1, 2), "front": True})
    assert front["number"] == -4
    assert fake_comfy.prompts_received == 5
    assert fake_comfy.prompts_accepted == 2


async def test_model_combos_and_upstream_errors_are_validated_like_comfyui(fake_comfy, session):
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "missing.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}},
    }
    async with session.post(f"{fake_comfy.url}/prompt", json={"prompt": graph}) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["error"]["details"] == ""  # the failing node is upstream of the output
    err = body["node_errors"]["4"]
    assert err["class_type"] == "CheckpointLoaderSimple"
    assert err["dependent_outputs"] == ["9"]
    assert err["errors"][0]["type"] == "value_not_in_list"
    assert err["errors"][0]["details"] == (
        "ckpt_name: 'missing.safetensors' not in ['sd_xl_base_1.0.safetensors', 'v1-5-pruned-emaonly.safetensors']"
    )


async def test_a_prompt_with_one_broken_output_runs_the_good_one_and_names_the_other(fake_comfy, session):
    # Not recorded; ComfyUI's validate_prompt accepts a prompt when at least one output is valid.
    graph = sampler_graph(1)
    graph["10"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["99", 0]}}
    answer = await post_prompt(session, fake_comfy, {"prompt": graph})
    assert list(answer["node_errors"]) == ["10"]
    assert answer["node_errors"]["10"]["errors"][0]["type"] == "exception_during_validation"
    await fake_comfy.wait_idle()
    entry = (await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}"))[answer["prompt_id"]]
    assert entry["prompt"][4] == ["9"]
    assert list(entry["outputs"]) == ["9"]


async def test_history_pages_and_can_be_cleared(fake_comfy, session):
    ids = [
        (await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1, seed=s)}))["prompt_id"] for s in range(3)
    ]
    await fake_comfy.wait_idle()
    assert list(await get_json(session, f"{fake_comfy.url}/history")) == ids
    assert list(await get_json(session, f"{fake_comfy.url}/history?max_items=2")) == ids[1:]
    assert list(await get_json(session, f"{fake_comfy.url}/history?max_items=1&offset=0")) == ids[:1]
    async with session.post(f"{fake_comfy.url}/history", json={"delete": [ids[0]]}) as resp:
        assert resp.status == 200
    assert list(await get_json(session, f"{fake_comfy.url}/history")) == ids[1:]
    async with session.post(f"{fake_comfy.url}/history", json={"clear": True}) as resp:
        assert resp.status == 200
    assert await get_json(session, f"{fake_comfy.url}/history") == {}


# --------------------------------------------------------------------------- failures & reconnects


async def test_failing_node_reports_the_recorded_execution_error(fake_comfy, session, listeners):
    rec = RECORDED["h"]
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    start = ws.mark()
    ids = [(await post_prompt(session, fake_comfy, body))["prompt_id"] for body in rec["prompts"]]
    await fake_comfy.wait_idle()
    await ws.wait_token("executing:None", start, count=2)
    per_prompt = ws.per_prompt(start)
    assert per_prompt[ids[0]] == rec["sequence"]
    assert per_prompt[ids[1]] == rec["next_job_after_error"]
    error = next(f["data"] for f in ws.json_frames(start) if f["type"] == "execution_error")
    expected = rec["terminal"]
    assert list(error) == list(expected)
    for key in ("node_id", "node_type", "executed", "exception_message", "exception_type", "current_outputs"):
        assert error[key] == expected[key], key
    assert error["current_inputs"]["message"] == expected["current_inputs"]["message"]
    assert error["current_inputs"]["images"][0].startswith("tensor(")
    assert all(isinstance(line, str) for line in error["traceback"])
    entry = (await get_json(session, f"{fake_comfy.url}/history/{ids[0]}"))[ids[0]]
    assert entry["status"]["status_str"] == rec["history_status_str"]
    assert entry["status"]["completed"] is rec["history_completed"]
    assert [m[0] for m in entry["status"]["messages"]] == rec["history_message_types"]
    assert entry["outputs"] == rec["history_outputs"]
    assert entry["meta"] == {}


async def test_reconnect_mid_job_gets_status_then_bare_executing_and_no_replay(fake_comfy, session, listeners):
    rec = RECORDED["i"]
    fake_comfy.step_delay = 0.02
    body = rec["prompts"][0]
    a1 = await listen(listeners, session, fake_comfy, body["client_id"])
    answer = await post_prompt(session, fake_comfy, body)
    await a1.wait_token("progress:4/16")
    await a1.close()
    assert a1.seq()[: len(rec["i1_A1_saw"])] == rec["i1_A1_saw"]
    await fake_comfy.wait_until(
        lambda: any(r.route == "/ws" for r in fake_comfy.requests) and not fake_comfy.open_client_ids
    )
    await asyncio.sleep(0.1)  # steps go by while nobody listens
    a2 = await listen(listeners, session, fake_comfy, body["client_id"])
    await a2.wait_token("executing:None")
    assert a2.frames[1] == {"type": "executing", "data": {"node": "3"}}
    assert collapse_steps(a2.seq()) == collapse_steps(rec["i1_A2_saw"])
    first_step = next(t for t in a2.seq() if t.startswith("progress:"))
    assert first_step != "progress:5/16", "missed messages are not replayed"
    entry = await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}")
    assert entry[answer["prompt_id"]]["status"]["status_str"] == "success"
    # i2: reconnecting after the job ended gives only the status.
    await a2.close()
    await post_prompt(session, fake_comfy, rec["prompts"][1])
    await fake_comfy.wait_idle()
    a3 = await listen(listeners, session, fake_comfy, body["client_id"])
    await asyncio.sleep(0.05)
    assert a3.seq() == rec["i2_A3_saw"]


async def test_second_socket_on_a_client_id_steals_it_and_the_old_ones_close_silences_both(
    fake_comfy, session, listeners
):
    rec = RECORDED["i"]
    b1 = await listen(listeners, session, fake_comfy, "i3-client")
    b2 = await listen(listeners, session, fake_comfy, "i3-client")
    m1, m2 = b1.mark(), b2.mark()
    await post_prompt(session, fake_comfy, with_client(rec["prompts"][2], "i3-client"))
    await fake_comfy.wait_idle()
    await b2.wait_token("executing:None", m2)
    assert b1.seq(m1) == rec["i3_both_open_B1_saw"]
    assert b2.seq(m2) == rec["i3_both_open_B2_saw"]
    await b1.close()
    await fake_comfy.wait_until(lambda: "i3-client" not in fake_comfy.open_client_ids)
    m2 = b2.mark()
    answer = await post_prompt(session, fake_comfy, with_client(rec["prompts"][3], "i3-client"))
    await fake_comfy.wait_idle()
    await asyncio.sleep(0.05)
    assert b2.seq(m2) == rec["i3_after_B1_closed_B2_saw"]
    assert not b2.closed
    assert await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}")


# --------------------------------------------------------------------------- uploads & outputs


def png(color: str) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (192, 128), color).save(buf, format="PNG")
    return buf.getvalue()


async def upload(session: aiohttp.ClientSession, fake: FakeComfy, data: bytes | None, **fields: str) -> tuple[int, Any]:
    form = aiohttp.FormData()
    if data is not None:
        form.add_field("image", data, filename="discomfy_input.png", content_type="image/png")
    for key, value in fields.items():
        form.add_field(key, value)
    async with session.post(f"{fake.url}/upload/image", data=form) as resp:
        return resp.status, (await resp.json() if resp.status == 200 else None)


async def test_uploads_dedupe_rename_and_feed_load_image(fake_comfy, session, listeners):
    rec = RECORDED["j"]
    red, blue = png("red"), png("blue")
    results = {
        "overwrite_true": await upload(session, fake_comfy, red, overwrite="true", type="input"),
        "same_bytes_no_overwrite": await upload(session, fake_comfy, red),
        "different_bytes_no_overwrite": await upload(session, fake_comfy, blue),
        "into_subfolder": await upload(session, fake_comfy, red, subfolder="discomfy", overwrite="true"),
        "restore_red_overwrite": await upload(session, fake_comfy, red, overwrite="1"),
        "no_image_field": await upload(session, fake_comfy, None, type="input"),
    }
    assert {k: list(v) for k, v in results.items()} == rec["uploads"]
    info = await get_json(session, f"{fake_comfy.url}/object_info/LoadImage")
    assert info["LoadImage"]["input"]["required"]["image"][0] == ["discomfy_input (1).png", "discomfy_input.png"]
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    start = ws.mark()
    for body in rec["prompts"]:
        await post_prompt(session, fake_comfy, body)
    await fake_comfy.wait_idle()
    await ws.wait_token("executing:None", start, count=2)
    first = ws.per_prompt(start)
    assert next(iter(first.values())) == rec["sequence"]
    executed = [f["data"]["output"] for f in ws.json_frames(start) if f["type"] == "executed"]
    assert [o["images"][0]["filename"] for o in executed] == ["img2img_00001_.png", "img2img_00002_.png"]


@pytest.mark.parametrize("kind", list(RECORDED["k"]))
async def test_output_kinds_are_reported_and_served_like_the_recording(kind, fake_comfy, session, listeners):
    rec = RECORDED["k"][kind]
    ws = await listen(listeners, session, fake_comfy, rec["prompt"]["client_id"])
    start = ws.mark()
    answer = await post_prompt(session, fake_comfy, rec["prompt"])
    await ws.wait_token("executing:None", start)
    assert ws.per_prompt(start)[answer["prompt_id"]] == rec["sequence"]
    executed = [f["data"] for f in ws.json_frames(start) if f["type"] == "executed"]
    assert executed == [{**e, "prompt_id": answer["prompt_id"]} for e in rec["executed"]]
    for view in rec["view"]:
        params = {"filename": view["file"], "subfolder": "discomfy", "type": "output"}
        async with session.get(f"{fake_comfy.url}/view", params=params) as resp:
            assert resp.status == view["status"]
            assert resp.headers["Content-Type"] == view["content_type"]


async def test_vhs_video_combine_reports_gifs_with_format_and_frame_rate(fake_comfy, session):
    graph = sampler_graph(1)
    graph["9"] = {
        "class_type": "VHS_VideoCombine",
        "inputs": {
            "images": ["3", 0],
            "frame_rate": 12,
            "loop_count": 0,
            "filename_prefix": "discomfy/vhs",
            "format": "video/h264-mp4",
            "pingpong": False,
            "save_output": True,
            "pix_fmt": "yuv420p",
            "crf": 19,
            "save_metadata": True,
        },
    }
    graph["10"] = {
        "class_type": "VHS_VideoCombine",
        "inputs": {**graph["9"]["inputs"], "save_output": False, "format": "image/gif"},
    }
    answer = await post_prompt(session, fake_comfy, {"prompt": graph})
    await fake_comfy.wait_idle()
    outputs = (await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}"))[answer["prompt_id"]][
        "outputs"
    ]
    video = outputs["9"]["gifs"][0]
    assert video["filename"] == "vhs_00001.mp4"
    assert video["type"] == "output"
    assert video["format"] == "video/h264-mp4"
    assert video["frame_rate"] == 12
    gif = outputs["10"]["gifs"][0]
    assert gif["type"] == "temp"
    assert gif["filename"].endswith(".gif")
    async with session.get(
        f"{fake_comfy.url}/view", params={"filename": gif["filename"], "subfolder": gif["subfolder"], "type": "temp"}
    ) as resp:
        assert resp.status == 200
        assert (await resp.read())[:3] == b"GIF"


async def test_a_full_sdxl_graph_runs_in_dependency_order_with_batch_outputs(fake_comfy, session, listeners):
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0],
                "seed": "7",
                "steps": 3,
                "cfg": 7,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
                "denoise": 1,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "sdxl", "images": ["8", 0]}},
        "10": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
        "99": {"class_type": "CLIPTextEncode", "inputs": {"text": "unused", "clip": ["4", 1]}},
    }
    ws = await listen(listeners, session, fake_comfy, "sdxl")
    answer = await post_prompt(session, fake_comfy, {"prompt": graph, "client_id": "sdxl"})
    await ws.wait_token("executing:None")
    executing = [t for t in ws.seq() if t.startswith("executing:")]
    assert executing == [f"executing:{n}" for n in ["4", "6", "7", "5", "3", "8", "9", "10"]] + ["executing:None"]
    assert [t for t in ws.seq() if t.startswith("progress:")] == ["progress:1/3", "progress:2/3", "progress:3/3"]
    entry = (await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}"))[answer["prompt_id"]]
    assert entry["prompt"][2]["3"]["inputs"]["seed"] == 7  # coerced by validation
    assert entry["prompt"][4] == ["9", "10"]
    assert [i["filename"] for i in entry["outputs"]["9"]["images"]] == ["sdxl_00001_.png", "sdxl_00002_.png"]
    assert [i["type"] for i in entry["outputs"]["10"]["images"]] == ["temp", "temp"]


async def test_custom_sampler_advanced_takes_its_steps_from_basic_scheduler(fake_comfy, session, listeners):
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
        "2": {
            "class_type": "DualCLIPLoader",
            "inputs": {"clip_name1": "clip_l.safetensors", "clip_name2": "t5xxl_fp16.safetensors", "type": "flux"},
        },
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["2", 0]}},
        "4": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["3", 0], "guidance": 3.5}},
        "5": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["4", 0]}},
        "6": {
            "class_type": "BasicScheduler",
            "inputs": {"model": ["1", 0], "scheduler": "simple", "steps": 5, "denoise": 1.0},
        },
        "7": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "8": {"class_type": "RandomNoise", "inputs": {"noise_seed": 3}},
        "9": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["8", 0],
                "guider": ["5", 0],
                "sampler": ["7", 0],
                "sigmas": ["6", 0],
                "latent_image": ["9", 0],
            },
        },
        "11": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["11", 0]}},
        "13": {"class_type": "SaveImage", "inputs": {"filename_prefix": "flux", "images": ["12", 0]}},
    }
    ws = await listen(listeners, session, fake_comfy, "flux")
    await post_prompt(session, fake_comfy, {"prompt": graph, "client_id": "flux"})
    await ws.wait_token("executing:None")
    assert [t for t in ws.seq() if t.startswith("progress:")] == [f"progress:{k}/5" for k in range(1, 6)]
    assert "executed:13" in ws.seq()


async def test_a_custom_node_class_can_be_added_with_its_own_behaviour(fake_comfy, session):
    async def shout(run: NodeRun) -> NodeResult:
        await run.progress(1, 1, preview=False)
        return NodeResult((), {"text": [str(run.inputs["words"]).upper()]})

    fake_comfy.add_node_class(
        "ShowText",
        {"input": {"required": {"words": ["STRING", {"default": ""}]}}, "output_node": True},
        shout,
    )
    info = await get_json(session, f"{fake_comfy.url}/object_info/ShowText")
    assert info["ShowText"]["input_order"] == {"required": ["words"]}
    answer = await post_prompt(
        session, fake_comfy, {"prompt": {"1": {"class_type": "ShowText", "inputs": {"words": "hello"}}}}
    )
    await fake_comfy.wait_idle()
    history = await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}")
    assert history[answer["prompt_id"]]["outputs"] == {"1": {"text": ["HELLO"]}}


# --------------------------------------------------------------------------- test controls


async def test_restart_drops_sockets_refuses_connections_and_forgets_queue_and_history(fake_comfy, session, listeners):
    rec = RECORDED["l"]
    fake_comfy.step_delay = 0.02
    done = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1)})
    await fake_comfy.wait_idle()
    ws = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    start = ws.mark()
    ids = [(await post_prompt(session, fake_comfy, body))["prompt_id"] for body in rec["prompts"]]
    await ws.wait_token("progress:2/40", start)
    port = fake_comfy.port
    restarting = asyncio.create_task(fake_comfy.restart(downtime=0.3))
    await ws.wait_for(lambda: ws.closed)
    assert ws.ws is not None
    assert ws.ws.close_code == rec["ws_close_code"]
    assert collapse_steps(ws.seq(start)) == collapse_steps(rec["A_saw"])
    await asyncio.sleep(0.05)
    with pytest.raises(aiohttp.ClientConnectorError):
        await session.get(f"{fake_comfy.url}/queue")
    await restarting
    assert fake_comfy.port == port
    assert await get_json(session, f"{fake_comfy.url}/queue") == RECORDED["server_info"]["queue"]
    for pid, key in zip(ids, ["running_job", "pending_job"], strict=True):
        assert await get_json(session, f"{fake_comfy.url}/history/{pid}") == rec["history_after_restart"][key]
    assert await get_json(session, f"{fake_comfy.url}/history") == {}
    a2 = await listen(listeners, session, fake_comfy, rec["prompts"][0]["client_id"])
    assert a2.seq() == rec["A2_saw_after_restart"]
    again = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1, seed=5)})
    assert again["number"] == 0
    assert (fake_comfy.output_dir / "discomfy" / "txt2img_00001_.png").is_file()  # files survive
    assert done["prompt_id"] not in await get_json(session, f"{fake_comfy.url}/history")


async def test_drop_websockets_closes_sockets_abruptly_and_the_job_goes_on(fake_comfy, session, listeners):
    ws = await listen(listeners, session, fake_comfy, "drop")
    answer = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(5), "client_id": "drop"})
    await ws.wait_token("progress:1/5")
    await fake_comfy.drop_websockets()
    await ws.wait_for(lambda: ws.closed)
    assert ws.ws is not None
    assert ws.ws.close_code == 1006
    await fake_comfy.wait_idle()
    entry = await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}")
    assert entry[answer["prompt_id"]]["status"]["completed"] is True
    assert fake_comfy.ws_connections == 1


async def test_hold_keeps_jobs_pending_until_release(fake_comfy, session, listeners):
    ws = await listen(listeners, session, fake_comfy, "held")
    fake_comfy.hold()
    ids = [
        (await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1, seed=s), "client_id": "held"}))["prompt_id"]
        for s in range(2)
    ]
    await asyncio.sleep(0.05)
    queue = await get_json(session, f"{fake_comfy.url}/queue")
    assert queue["queue_running"] == []
    assert [x[1] for x in queue["queue_pending"]] == ids
    assert fake_comfy.pending_prompt_ids == ids
    assert fake_comfy.running_prompt_id is None
    assert ws.seq(1) == ["status:q=1", "status:q=2"]
    fake_comfy.release()
    await fake_comfy.wait_idle()
    for pid in ids:
        assert await get_json(session, f"{fake_comfy.url}/history/{pid}")


async def test_release_with_a_count_starts_that_many_prompts_then_holds_again(fake_comfy, session):
    fake_comfy.hold()
    answers = [await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1, seed=n)}) for n in range(3)]
    ids = [answer["prompt_id"] for answer in answers]
    fake_comfy.release(1)
    await fake_comfy.wait_until(lambda: ids[0] in fake_comfy.history)
    await fake_comfy.wait_until(lambda: fake_comfy.running_prompt_id is None)
    assert (fake_comfy.held, fake_comfy.pending_prompt_ids) == (True, ids[1:])
    fake_comfy.release()
    await fake_comfy.wait_idle()
    assert set(fake_comfy.history) == set(ids)


async def test_stalled_http_lets_a_client_time_out(fake_comfy, session):
    fake_comfy.stall(0.5)
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(f"{fake_comfy.url}/queue", timeout=aiohttp.ClientTimeout(total=0.1)):
            pass
    fake_comfy.stall_http = 0.0
    assert await get_json(session, f"{fake_comfy.url}/queue") == RECORDED["server_info"]["queue"]


async def test_output_size_makes_large_files_that_view_streams(fake_comfy, session):
    fake_comfy.output_size = 3 * 1024 * 1024 + 7
    answer = await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1)})
    await fake_comfy.wait_idle()
    entry = (await get_json(session, f"{fake_comfy.url}/history/{answer['prompt_id']}"))[answer["prompt_id"]]
    image = entry["outputs"]["9"]["images"][0]
    async with session.get(f"{fake_comfy.url}/view", params={**image}) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == 3 * 1024 * 1024 + 7
        head = await resp.content.read(8)
        assert head == b"\x89PNG\r\n\x1a\n"


async def test_requests_and_connections_are_recorded_for_assertions(fake_comfy, session, listeners):
    await listen(listeners, session, fake_comfy, "rec")
    await post_prompt(session, fake_comfy, {"prompt": sampler_graph(1), "client_id": "rec"})
    await get_json(session, f"{fake_comfy.url}/api/queue?x=1")
    posted = fake_comfy.requests_to("/prompt", "POST")
    assert len(posted) == 1
    assert posted[0].json["client_id"] == "rec"
    queue_reads = fake_comfy.requests_to("/queue")
    assert queue_reads[0].path == "/api/queue"
    assert queue_reads[0].query == {"x": "1"}
    assert fake_comfy.ws_connections == 1
    assert fake_comfy.prompts_received == 1
    await fake_comfy.wait_idle()


async def test_a_simulated_job_duration_holds_the_prompt_running_until_interrupted(fake_comfy, session):
    fake_comfy.job_duration = 3600.0  # far longer than any test: only the interrupt can end it
    install_models(fake_comfy)
    body = {"prompt": json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))}
    prompt_id = (await post_prompt(session, fake_comfy, body))["prompt_id"]
    assert await fake_comfy.wait_running(prompt_id) == prompt_id
    async with session.post(f"{fake_comfy.url}/interrupt", json={"prompt_id": prompt_id}) as resp:
        assert resp.status == 200
    await fake_comfy.wait_idle()
    assert fake_comfy.history[prompt_id]["status"]["status_str"] == "error"
    assert any(m[0] == "execution_interrupted" for m in fake_comfy.history[prompt_id]["status"]["messages"])


async def test_a_network_outage_brings_the_server_back_with_its_queue_and_a_restart_without(fake_comfy, session):
    fake_comfy.hold()
    install_models(fake_comfy)
    body = {"prompt": json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))}
    prompt_id = (await post_prompt(session, fake_comfy, body))["prompt_id"]
    await fake_comfy.restart(keep_queue=True)
    assert fake_comfy.pending_prompt_ids == [prompt_id]
    await fake_comfy.restart()
    assert fake_comfy.pending_prompt_ids == []
