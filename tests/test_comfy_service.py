"""ComfyService against the loopback fake ComfyUI: routing, queue positions, recovery, errors, downloads."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from discomfy.comfy import (
    ComfyConnectionError,
    ComfyService,
    ComfySettings,
    ExecutionFailedError,
    Finished,
    JobCancelledError,
    JobInterruptedError,
    JobLostError,
    OutputDownloadError,
    Preview,
    Progress,
    PromptStatus,
    Queued,
    Started,
    WorkflowRejectedError,
)
from testing.comfy_server import FakeComfy


def sampler_graph(steps: int = 3, seed: int = 1, text: str = "a lighthouse") -> dict:
    """The recording's weight-free graph: TestSampler -> SaveImage."""
    return {
        "3": {
            "class_type": "TestSampler",
            "inputs": {"seed": seed, "steps": steps, "width": 64, "height": 64, "delay": 0.0, "text": text},
        },
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "discomfy/test", "images": ["3", 0]}},
    }


def settings_for(fake: FakeComfy, tmp_path: Path, **overrides) -> ComfySettings:
    values = {
        "url": fake.url,
        "request_timeout": 5.0,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.2,
        "watchdog_interval": 0.5,
        "queue_refresh_delay": 0.01,
        "download_dir": tmp_path / "downloads",
    }
    values.update(overrides)
    return ComfySettings(**values)


@pytest_asyncio.fixture
async def service(fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[ComfyService]:
    async with ComfyService(settings_for(fake_comfy, tmp_path)) as comfy:
        assert await comfy.wait_connected(5)
        yield comfy


async def collect(job) -> list:
    return [event async for event in job.events()]


async def test_three_jobs_back_to_back_each_see_only_their_own_progress(service, fake_comfy):
    jobs = [await service.submit(sampler_graph(steps=2 + i, seed=i)) for i in range(3)]
    streams = await asyncio.wait_for(asyncio.gather(*(collect(job) for job in jobs)), 20)
    for index, (job, events) in enumerate(zip(jobs, streams, strict=True)):
        steps = 2 + index
        progress = [e for e in events if isinstance(e, Progress)]
        assert [p.value for p in progress] == list(range(1, steps + 1))
        assert {p.max for p in progress} == {steps}
        assert isinstance(events[-1], Finished)
        result = events[-1].result
        assert result.prompt_id == job.prompt_id
        assert len(result.files) == 1
        assert result.files[0].path.exists()
        assert result.files[0].path.parent.name == job.prompt_id
    assert len({s[-1].result.files[0].path for s in streams}) == 3


async def test_all_jobs_share_one_client_id_and_one_websocket(service, fake_comfy):
    jobs = [await service.submit(sampler_graph(seed=i)) for i in range(3)]
    await asyncio.wait_for(asyncio.gather(*jobs), 20)
    posts = [r for r in fake_comfy.requests if r.method == "POST" and r.path.endswith("/prompt")]
    assert {r.json["client_id"] for r in posts} == {service.client_id}
    assert fake_comfy.ws_connections == 1


async def test_a_queued_job_reports_position_two_then_one_then_running(service, fake_comfy):
    fake_comfy.hold()
    first = await service.submit(sampler_graph(steps=2, seed=1))
    second = await service.submit(sampler_graph(steps=2, seed=2))
    third = await service.submit(sampler_graph(steps=2, seed=3))
    events: list = []

    async def watch() -> None:
        async for event in third.events():
            events.append(event)

    watcher = asyncio.create_task(watch())
    await service.refresh_queue()
    assert (first.position, second.position, third.position) == (1, 2, 3)
    # One prompt at a time: each place in line lasts until the service has seen it, however slow the machine.
    fake_comfy.release(1)
    await fake_comfy.wait_until(lambda: third.position == 2)
    fake_comfy.release(1)
    await fake_comfy.wait_until(lambda: third.position == 1)
    fake_comfy.release()
    await asyncio.wait_for(watcher, 20)
    sequence = [(e.position if isinstance(e, Queued) else type(e).__name__) for e in events]
    sequence = [s for s in sequence if s in (2, 1, "Started")]
    assert sequence == [2, 1, "Started"]


async def test_queue_positions_cost_one_queue_request_per_burst_not_one_per_job(service, fake_comfy):
    fake_comfy.hold()
    jobs = [await service.submit(sampler_graph(seed=i)) for i in range(10)]
    await fake_comfy.wait_until(lambda: all(job.position for job in jobs))
    queue_reads = [r for r in fake_comfy.requests if r.method == "GET" and r.path.endswith("/queue")]
    assert len(queue_reads) < len(jobs)
    assert sorted(job.position for job in jobs) == list(range(1, 11))
    fake_comfy.release()
    await asyncio.wait_for(asyncio.gather(*jobs), 30)


async def test_previews_reach_the_job_they_belong_to(service, fake_comfy):
    job = await service.submit(sampler_graph(steps=3))
    events = await asyncio.wait_for(collect(job), 20)
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews, "a sampler sends one preview per step"
    assert all(p.image[:2] == b"\xff\xd8" and p.mime == "image/jpeg" for p in previews)
    assert job.latest_preview is not None


async def test_socket_dropped_mid_job_still_finishes_with_outputs(service, fake_comfy):
    job = await service.submit(sampler_graph(steps=30))
    async for event in job.events():
        if isinstance(event, Progress) and event.value == 3:
            await fake_comfy.drop_websockets()
            break
    result = await asyncio.wait_for(job.result(), 20)
    assert result.files
    assert result.files[0].path.exists()
    assert fake_comfy.ws_connections >= 2


async def test_job_finished_while_the_socket_was_down_is_delivered_from_history(fake_comfy, tmp_path):
    settings = settings_for(fake_comfy, tmp_path, reconnect_min_delay=1.5, reconnect_max_delay=1.5)
    async with ComfyService(settings) as comfy:
        assert await comfy.wait_connected(5)
        fake_comfy.hold()
        job = await comfy.submit(sampler_graph(steps=2))
        await fake_comfy.drop_websockets()
        fake_comfy.release()  # it runs and ends while nobody listens
        result = await asyncio.wait_for(job.result(), 20)
        assert result.files[0].path.exists()


async def test_comfyui_restart_losing_the_job_fails_it_with_job_lost_promptly(service, fake_comfy):
    job = await service.submit(sampler_graph(steps=500))
    async for event in job.events():
        if isinstance(event, Progress):
            break
    await fake_comfy.restart(downtime=0.3)
    with pytest.raises(JobLostError):
        await asyncio.wait_for(job.result(), 10)
    assert job.status is PromptStatus.FAILED


async def test_a_silent_socket_whose_registration_was_stolen_is_caught_by_the_watchdog(service, fake_comfy):
    # The recorded trap: another socket with our clientId opens, then closes; the server then
    # forgets the id and our socket hears nothing. The watchdog must still deliver the job.
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{fake_comfy.url}/ws?clientId={service.client_id}") as intruder:
            await intruder.receive()
        job = await service.submit(sampler_graph(steps=2))
        result = await asyncio.wait_for(job.result(), 10)
    assert result.files


async def test_a_rejected_workflow_raises_with_node_errors_in_plain_words(service):
    graph = sampler_graph()
    graph["3"]["inputs"]["steps"] = -5
    del graph["3"]["inputs"]["text"]
    with pytest.raises(WorkflowRejectedError) as caught:
        await service.submit(graph)
    text = str(caught.value)
    assert "node 3 (TestSampler), input 'steps'" in text
    assert "node 3 (TestSampler), input 'text': a required input is missing" in text
    assert service.jobs == {}


async def test_an_unknown_node_class_is_named_in_the_rejection(service):
    graph = sampler_graph()
    graph["3"]["class_type"] = "NoSuchNodeClass"
    with pytest.raises(WorkflowRejectedError) as caught:
        await service.submit(graph)
    assert "NoSuchNodeClass" in str(caught.value)


async def test_a_failing_node_fails_the_job_naming_node_and_message(service):
    graph = sampler_graph(steps=1)
    graph["8"] = {"class_type": "TestFail", "inputs": {"message": "deliberate failure", "images": ["3", 0]}}
    job = await service.submit(graph)
    with pytest.raises(ExecutionFailedError) as caught:
        await asyncio.wait_for(job.result(), 20)
    assert caught.value.node_id == "8"
    assert caught.value.node_type == "TestFail"
    assert "deliberate failure" in str(caught.value)


async def test_a_node_error_naming_comfyuis_own_paths_shows_the_file_name_only(service):
    graph = sampler_graph(steps=1)
    secret = "/srv/comfy/ComfyUI/models/checkpoints/private_model.safetensors"
    graph["8"] = {"class_type": "TestFail", "inputs": {"message": f"No such file: '{secret}'", "images": ["3", 0]}}
    job = await service.submit(graph)
    with pytest.raises(ExecutionFailedError) as caught:
        await asyncio.wait_for(job.result(), 20)
    assert "…/private_model.safetensors" in str(caught.value)
    assert "/srv/comfy" not in str(caught.value)
    assert secret in caught.value.for_log


async def test_interrupt_stops_only_the_job_it_names(service, fake_comfy):
    running = await service.submit(sampler_graph(steps=400))
    waiting = await service.submit(sampler_graph(steps=2, seed=9))
    async for event in running.events():
        if isinstance(event, Started):
            break
    assert await service.interrupt(waiting.prompt_id) is None  # not running: nothing happens
    assert await service.interrupt(running.prompt_id) == running.prompt_id
    with pytest.raises(JobInterruptedError):
        await asyncio.wait_for(running.result(), 10)
    assert (await asyncio.wait_for(waiting.result(), 10)).files


async def test_cancelling_a_pending_job_deletes_it_from_the_queue(service, fake_comfy):
    fake_comfy.hold()
    keep = await service.submit(sampler_graph(seed=1))
    drop = await service.submit(sampler_graph(seed=2))
    assert await service.cancel(drop.prompt_id)
    with pytest.raises(JobCancelledError):
        await drop.result()
    fake_comfy.release()
    assert (await asyncio.wait_for(keep.result(), 10)).files
    assert drop.prompt_id not in {e.prompt_id for e in (await service.queue()).pending}


async def test_identical_resubmission_is_served_from_cache_and_still_delivered(service):
    first = await asyncio.wait_for((await service.submit(sampler_graph(seed=5))).result(), 10)
    again = await service.submit(sampler_graph(seed=5))
    second = await asyncio.wait_for(again.result(), 10)
    assert [f.output.filename for f in second.files] == [f.output.filename for f in first.files]
    assert set(second.cached_nodes) >= {"3", "9"}


async def test_unreachable_comfyui_names_its_url_in_the_log_only(tmp_path):
    settings = ComfySettings(url="http://127.0.0.1:9", submit_retries=1, request_timeout=2, download_dir=tmp_path)
    async with ComfyService(settings) as comfy:
        with pytest.raises(ComfyConnectionError) as caught:
            await comfy.submit(sampler_graph())
    assert "http://127.0.0.1:9" in caught.value.for_log  # for the admin
    assert str(caught.value) == "ComfyUI is not reachable right now."  # what a user may read


async def test_submission_survives_a_short_outage_by_retrying(service, fake_comfy):
    restart = asyncio.create_task(fake_comfy.restart(downtime=0.4))
    await asyncio.sleep(0.05)
    job = await service.submit(sampler_graph())
    await restart
    assert (await asyncio.wait_for(job.result(), 20)).files
    assert sum(1 for r in fake_comfy.requests if r.path.endswith("/prompt") and r.method == "POST") == 1


async def test_a_50_mb_output_downloads_with_flat_memory(service, fake_comfy):
    fake_comfy.output_size = 50 * 1024 * 1024
    job = await service.submit(sampler_graph(steps=1))
    tracemalloc.start()
    try:
        result = await asyncio.wait_for(job.result(), 60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.files[0].size == 50 * 1024 * 1024
    assert result.files[0].path.stat().st_size == 50 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while streaming 50 MB"


async def test_a_job_followed_after_a_bot_restart_is_delivered(fake_comfy, tmp_path):
    async with ComfyService(settings_for(fake_comfy, tmp_path)) as first:
        await first.wait_connected(5)
        job = await first.submit(sampler_graph(steps=2))
        prompt_id = job.prompt_id
        client_id = first.client_id
    await asyncio.sleep(0.5)  # it finishes while no bot runs
    async with ComfyService(settings_for(fake_comfy, tmp_path), client_id=client_id) as second:
        resumed = second.track(prompt_id)
        result = await asyncio.wait_for(resumed.result(), 10)
    assert result.files
    assert result.prompt_id == prompt_id


async def test_a_queue_snapshot_older_than_a_submission_never_fails_that_job(service, fake_comfy):
    # GET /queue computed before the later POSTs, answered after them: the snapshot cannot know
    # those jobs, which must not be taken for lost.
    fake_comfy.hold()
    fake_comfy.delay_answers["/queue"] = 0.3
    jobs = [await service.submit(sampler_graph(seed=0))]
    await fake_comfy.wait_until(lambda: any(r.path.endswith("/queue") for r in fake_comfy.requests))
    jobs += [await service.submit(sampler_graph(seed=i)) for i in range(1, 6)]
    await asyncio.sleep(0.8)
    assert [job.done for job in jobs] == [False] * 6
    fake_comfy.delay_answers.clear()
    fake_comfy.release()
    results = await asyncio.wait_for(asyncio.gather(*jobs), 30)
    assert all(result.files for result in results)


async def test_a_slow_output_answer_delays_a_finished_job_but_never_fails_it(fake_comfy, tmp_path):
    settings = settings_for(fake_comfy, tmp_path, request_timeout=0.3)
    async with ComfyService(settings) as comfy:
        assert await comfy.wait_connected(5)
        fake_comfy.hold()
        job = await comfy.submit(sampler_graph(steps=2))
        fake_comfy.delay_answers["/view"] = 1.0  # longer than the request timeout
        fake_comfy.release()
        await asyncio.sleep(1.5)
        assert not job.done
        fake_comfy.delay_answers.clear()
        result = await asyncio.wait_for(job.result(), 10)
    assert result.files


async def test_a_job_whose_fate_comfyui_cannot_tell_fails_after_the_grace_period(fake_comfy, tmp_path):
    settings = settings_for(fake_comfy, tmp_path, request_timeout=0.3, give_up_after=1.0, submit_retries=0)
    async with ComfyService(settings) as comfy:
        assert await comfy.wait_connected(5)
        fake_comfy.hold()
        job = await comfy.submit(sampler_graph(steps=2))
        fake_comfy.stall(1.0)  # every HTTP answer now comes after our timeout
        fake_comfy.release()
        with pytest.raises(ComfyConnectionError):
            await asyncio.wait_for(job.result(), 10)
        fake_comfy.stall(0)


async def test_a_workflow_accepted_with_a_broken_output_is_refused_and_not_run_by_halves(service, fake_comfy):
    graph = sampler_graph()
    graph["13"] = {"class_type": "TestSampler", "inputs": {**graph["3"]["inputs"], "steps": 0}}
    graph["19"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "discomfy/b", "images": ["13", 0]}}
    fake_comfy.hold()
    with pytest.raises(WorkflowRejectedError) as caught:
        await service.submit(graph)
    assert "node 13 (TestSampler), input 'steps'" in str(caught.value)
    assert fake_comfy.pending_prompt_ids == []
    assert service.jobs == {}


async def test_a_long_node_that_sends_nothing_causes_no_reconnect(service, fake_comfy):
    fake_comfy.step_delay = 1.5  # one step: 1.5 s of silence, three watchdog intervals
    result = await asyncio.wait_for((await service.submit(sampler_graph(steps=1))).result(), 20)
    assert result.files
    assert fake_comfy.ws_connections == 1


async def test_a_result_that_can_never_be_saved_fails_after_the_grace_period(fake_comfy, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the download folder should be")
    settings = settings_for(fake_comfy, tmp_path, download_dir=blocker / "downloads", give_up_after=1.0)
    async with ComfyService(settings) as comfy:
        assert await comfy.wait_connected(5)
        job = await comfy.submit(sampler_graph(steps=1))
        with pytest.raises(OutputDownloadError):
            await asyncio.wait_for(job.result(), 15)


async def test_the_tracker_is_the_one_socket_reader_and_only_while_the_service_runs(fake_comfy, tmp_path):
    async with ComfyService(settings_for(fake_comfy, tmp_path)) as comfy:
        assert await comfy.wait_connected(5)
        await asyncio.wait_for((await comfy.submit(sampler_graph(steps=2))).result(), 20)
        assert comfy.tracker.messages > 0
        assert fake_comfy.ws_connections == 1
    with pytest.raises(RuntimeError, match="not started"):
        _ = comfy.tracker
