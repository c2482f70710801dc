"""Message dispatch in the tracker: by prompt_id, O(1), never to 'the current job' by guesswork."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from discomfy.comfy.job import ComfyJob
from discomfy.comfy.models import Progress, PromptStatus, Started
from discomfy.comfy.tracker import ComfyTracker
from testing.comfy_server import encode_preview_frame

FIXTURES = Path(__file__).parent / "fixtures" / "comfy"


class RecordingListener:
    def __init__(self) -> None:
        self.done: list[str] = []
        self.queue_changes: list[int | None] = []
        self.outputs: list[tuple[str, str, dict[str, Any]]] = []
        self.succeeded: list[tuple[str, float | None]] = []

    def on_connected(self, reconnect: bool) -> None:
        pass

    def on_queue_changed(self, queue_remaining: int | None) -> None:
        self.queue_changes.append(queue_remaining)

    def on_prompt_done(self, job: ComfyJob) -> None:
        self.done.append(job.prompt_id)

    def on_outputs(self, job: ComfyJob, node_id: str, output: Mapping[str, Any]) -> None:
        self.outputs.append((job.prompt_id, node_id, dict(output)))

    def on_prompt_success(self, job: ComfyJob, timestamp: float | None) -> None:
        self.succeeded.append((job.prompt_id, timestamp))


@pytest_asyncio.fixture
async def setup():
    jobs = {pid: ComfyJob(pid, {"3": {"class_type": "KSampler", "inputs": {}}}) for pid in ("a", "b")}
    listener = RecordingListener()
    tracker = ComfyTracker(session=None, ws_url="ws://unused", jobs=jobs, listener=listener)  # type: ignore[arg-type]
    return tracker, jobs, listener


def message(kind: str, **data) -> str:
    return json.dumps({"type": kind, "data": data})


async def test_progress_goes_to_the_prompt_it_names_and_nowhere_else(setup):
    tracker, jobs, _ = setup
    tracker.dispatch_text(message("execution_start", prompt_id="b", timestamp=1))
    tracker.dispatch_text(message("executing", node="3", display_node="3", prompt_id="b"))
    tracker.dispatch_text(message("progress", value=4, max=20, prompt_id="b", node="3"))
    assert jobs["b"].status is PromptStatus.RUNNING
    assert (jobs["b"].progress.value, jobs["b"].progress.max) == (4, 20)
    assert jobs["b"].node_class == "KSampler"
    assert jobs["a"].progress is None
    assert jobs["a"].status is PromptStatus.SUBMITTING


async def test_other_clients_prompts_and_bare_reconnect_messages_are_ignored(setup):
    tracker, jobs, listener = setup
    tracker.dispatch_text(message("progress", value=1, max=2, prompt_id="someone-else", node="3"))
    tracker.dispatch_text(message("executing", node="3"))  # the bare one a reconnect sends
    tracker.dispatch_text("not json at all")
    tracker.dispatch_text(json.dumps({"no": "type"}))
    assert all(job.progress is None and job.node_id is None for job in jobs.values())
    assert listener.done == []


async def test_status_messages_report_queue_changes(setup):
    tracker, _, listener = setup
    tracker.dispatch_text(message("status", status={"exec_info": {"queue_remaining": 3}}, sid="x"))
    assert listener.queue_changes == [3]


async def test_executed_names_the_outputs_at_once_and_success_carries_its_timestamp(setup):
    tracker, _, listener = setup
    images = {"images": [{"filename": "fox_00001_.png", "subfolder": "", "type": "output"}]}
    tracker.dispatch_text(message("executed", node="9", display_node="9", output=images, prompt_id="a"))
    tracker.dispatch_text(message("execution_success", prompt_id="a", timestamp=1795446203785))
    assert listener.outputs == [("a", "9", images)]
    assert listener.succeeded == [("a", 1795446203785.0)]


MALFORMED = [
    '{"type": "status", "data": [1]}',
    '{"type": "status", "data": {"status": "x"}}',
    '{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": "3"}}}}',
    '{"type": ["status"], "data": {}}',
    '{"type": {"a": 1}}',
    "[1, 2, 3]",
    '{"type": "progress", "data": {"prompt_id": ["a"], "value": 1, "max": 2}}',
    '{"type": "progress", "data": {"prompt_id": "a", "value": "x", "max": 2}}',
    '{"type": "execution_cached", "data": {"prompt_id": "a", "nodes": 5}}',
    '{"type": "executed", "data": {"prompt_id": "a", "node": "9", "output": [1]}}',
    '{"type": "executed", "data": {"prompt_id": "a", "output": {"images": []}}}',
    '{"type": "executing", "data": {"prompt_id": "a", "node": {"x": 1}}}',
    '{"type": "execution_success", "data": {"prompt_id": "b", "timestamp": "soon"}}',
]


@pytest.mark.parametrize("raw", MALFORMED)
async def test_a_malformed_message_is_skipped_and_the_socket_goes_on(setup, raw: str):
    tracker, _, listener = setup
    tracker.dispatch_text(raw)  # raising here would drop the WebSocket (and loop, if ComfyUI repeats it)
    assert listener.queue_changes == []
    assert listener.done == []
    assert listener.outputs == []
    tracker.dispatch_text(message("status", status={"exec_info": {"queue_remaining": 2}}))
    assert listener.queue_changes == [2]


async def test_executing_null_marks_the_prompt_done_and_errors_fail_it_at_once(setup):
    tracker, jobs, listener = setup
    tracker.dispatch_text(
        message(
            "execution_error",
            prompt_id="a",
            node_id="8",
            node_type="TestFail",
            exception_message="boom\n",
            exception_type="RuntimeError",
        )
    )
    tracker.dispatch_text(message("executing", node=None, prompt_id="a"))
    assert jobs["a"].done
    assert listener.done == ["a"]
    with pytest.raises(Exception, match="node 8 \\(TestFail\\)"):
        await jobs["a"].result()


async def test_recorded_type4_preview_goes_to_the_prompt_in_its_metadata(setup):
    tracker, jobs, _ = setup
    frame = (FIXTURES / "preview_frame_event4.bin").read_bytes()
    (meta_len,) = struct.unpack_from(">I", frame, 4)
    meta = json.loads(frame[8 : 8 + meta_len])
    jobs[meta["prompt_id"]] = jobs.pop("b")
    jobs[meta["prompt_id"]].prompt_id = meta["prompt_id"]
    tracker.dispatch_binary(frame)
    preview = jobs[meta["prompt_id"]].latest_preview
    assert preview is not None
    assert preview.mime == "image/jpeg"
    assert preview.image[:2] == b"\xff\xd8"
    assert jobs["a"].latest_preview is None


async def test_recorded_legacy_preview_goes_to_the_prompt_that_spoke_last(setup):
    tracker, jobs, _ = setup
    frame = (FIXTURES / "preview_frame_event1.bin").read_bytes()
    tracker.dispatch_text(message("progress", value=1, max=2, prompt_id="a", node="3"))
    tracker.dispatch_binary(frame)
    assert jobs["a"].latest_preview is not None
    assert jobs["a"].latest_preview.image == frame[8:]
    assert jobs["b"].latest_preview is None


async def test_a_slow_watcher_only_ever_holds_the_newest_preview(setup):
    tracker, jobs, _ = setup
    job = jobs["a"]
    tracker.dispatch_text(message("execution_start", prompt_id="a", timestamp=1))
    stream = job.events()
    assert isinstance(await anext(stream), Started)  # catch-up; the watcher is now registered
    for index in range(50):
        tracker.dispatch_binary(encode_preview_frame(bytes([index]), {"prompt_id": "a", "node_id": "3"}))
    tracker.dispatch_text(message("progress", value=1, max=2, prompt_id="a", node="3"))
    first = await anext(stream)
    second = await anext(stream)
    assert first.image == bytes([49])
    assert isinstance(second, Progress)
    await stream.aclose()


async def test_legacy_previews_after_another_clients_message_are_not_ours(setup):
    tracker, jobs, _ = setup
    frame = (FIXTURES / "preview_frame_event1.bin").read_bytes()
    tracker.dispatch_text(message("progress", value=1, max=2, prompt_id="a", node="3"))
    tracker.dispatch_text(message("progress", value=1, max=9, prompt_id="someone-else", node="3"))
    tracker.dispatch_binary(frame)
    tracker.dispatch_text(message("executing", node=None, prompt_id="b"))
    tracker.dispatch_binary(frame)
    assert jobs["a"].latest_preview is None
    assert jobs["b"].latest_preview is None
