"""Fetching outputs: bounded in size, time and names; a local disk problem is said as such, at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from discomfy.comfy import ComfyService, OutputDownloadError
from discomfy.comfy.outputs import NAME_BYTES, safe_filename
from testing.comfy_server import FakeComfy
from tests.test_comfy_service import sampler_graph, settings_for


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def test_an_output_larger_than_the_limit_is_refused_and_nothing_is_kept(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.output_size = 3 * 1024 * 1024
    settings = settings_for(fake_comfy, tmp_path, max_download_mb=1.0, give_up_after=60.0)
    async with ComfyService(settings) as comfy:
        job = await comfy.submit(sampler_graph(steps=1))
        with pytest.raises(OutputDownloadError, match="larger than the 1 MB the bot accepts"):
            await asyncio.wait_for(job.result(), 10)
    assert _leftovers(tmp_path / "downloads") == []


async def test_a_file_that_cannot_be_written_locally_fails_at_once_saying_so(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "downloads"
    not_a_folder.write_text("a file where the download folder should be")
    settings = settings_for(fake_comfy, tmp_path, give_up_after=600.0)  # no waiting out a "ComfyUI problem"
    async with ComfyService(settings) as comfy:
        job = await comfy.submit(sampler_graph(steps=1))
        with pytest.raises(OutputDownloadError, match="cannot be saved on the bot's disk") as caught:
            await asyncio.wait_for(job.result(), 10)
    assert not caught.value.transient


async def test_a_trickle_that_outlasts_the_deadline_fails_and_leaves_no_part_file(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.delay_answers["/view"] = 2.0  # the whole answer comes later than the file's deadline
    settings = settings_for(fake_comfy, tmp_path, download_deadline=0.5, request_timeout=5.0)
    async with ComfyService(settings) as comfy:
        job = await comfy.submit(sampler_graph(steps=1))
        with pytest.raises(OutputDownloadError, match="longer than"):
            await asyncio.wait_for(job.result(), 10)
    assert _leftovers(tmp_path / "downloads") == []


@pytest.mark.parametrize("name", ["🦊" * 120 + ".png", "é" * 300 + ".webp", "x" * 400])
def test_long_names_are_cut_by_bytes_and_keep_their_extension(name: str) -> None:
    safe = safe_filename(name)
    assert len(safe.encode()) <= NAME_BYTES
    assert Path(safe).suffix == Path(name).suffix


async def test_the_result_does_not_wait_out_comfyuis_pause_after_a_job(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    """ComfyUI stalls right after a job (gc.collect() holding the GIL): `executing null` and every answer wait.

    The outputs are fetched when the output node names them and the outcome comes from `execution_success`, so
    every request the result needs was sent before the pause ended, and /history is not read at all.
    """
    fake_comfy.post_job_pause = 1.0
    async with ComfyService(settings_for(fake_comfy, tmp_path)) as comfy:
        assert await comfy.wait_connected(5)
        job = await comfy.submit(sampler_graph(steps=2), output_nodes=("9",))
        result = await asyncio.wait_for(job.result(), 10)
        assert result.files
        (pause,) = fake_comfy.pauses
    own = [r for r in fake_comfy.requests if r.route in ("/view", "/history") or r.route.startswith("/history/")]
    assert [r.route for r in own] == ["/view"]
    assert own[0].received_at < pause[1]


async def test_an_output_fetched_early_is_not_fetched_again_and_unused_ones_are_deleted(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    graph = sampler_graph(steps=1)
    graph["10"] = {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}  # an output nobody asked for
    async with ComfyService(settings_for(fake_comfy, tmp_path)) as comfy:
        job = await comfy.submit(graph, output_nodes=("9",))
        result = await asyncio.wait_for(job.result(), 10)
    assert [f.output.node_id for f in result.files] == ["9"]
    assert len(fake_comfy.requests_to("/view")) == 1
    assert _leftovers(tmp_path / "downloads") == [result.files[0].path]


async def test_one_job_costs_one_post_at_most_one_queue_read_and_one_fetch_per_output(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with ComfyService(settings_for(fake_comfy, tmp_path)) as comfy:
        assert await comfy.wait_connected(5)
        before = len(fake_comfy.requests)
        job = await comfy.submit(sampler_graph(steps=2), output_nodes=("9",))
        await asyncio.wait_for(job.result(), 10)
        await asyncio.sleep(0.2)  # anything a late status burst would still cause
    routes = [r.route for r in fake_comfy.requests[before:]]
    assert routes.count("/prompt") == 1
    assert routes.count("/queue") <= 1  # a 1 s poller makes at least 2 requests of its own (history, view)
    assert routes.count("/view") == 1
    assert not [r for r in routes if r.startswith("/history")]


async def test_only_max_outputs_files_are_fetched_and_the_rest_are_named(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    graph = sampler_graph(steps=1)
    graph["3"]["inputs"]["batch_size"] = 12
    async with ComfyService(settings_for(fake_comfy, tmp_path, max_outputs=5)) as comfy:
        job = await comfy.submit(graph, output_nodes=("9",))
        result = await asyncio.wait_for(job.result(), 20)
    assert len(result.files) == 5
    assert len(result.left_out) == 7
    assert len(fake_comfy.requests_to("/view")) == 5  # not fetched, then thrown away: never fetched


async def test_a_download_cut_by_shutdown_leaves_no_part_file(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    fake_comfy.output_size = 2 * 1024 * 1024
    fake_comfy.view_trickle = 0.05  # about 1.6 s for the file: the shutdown lands in the middle
    downloads = tmp_path / "downloads"
    async with ComfyService(settings_for(fake_comfy, tmp_path, download_chunk_size=64 * 1024)) as comfy:
        await comfy.submit(sampler_graph(steps=1), output_nodes=("9",))
        async with asyncio.timeout(10):
            while not list(downloads.rglob("*.part")):  # noqa: ASYNC110 - a file system has no event to wait on
                await asyncio.sleep(0.01)
    assert _leftovers(downloads) == []


async def test_with_comfyuis_folder_at_hand_results_are_taken_from_disk_even_during_its_pause(
    fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    fake_comfy.post_job_pause = 1.0  # HTTP answers wait it out; the file system does not
    settings = settings_for(fake_comfy, tmp_path, local_output_dir=fake_comfy.output_dir)
    async with ComfyService(settings) as comfy:
        assert await comfy.wait_connected(5)
        job = await comfy.submit(sampler_graph(steps=1), output_nodes=("9",))
        result = await asyncio.wait_for(job.result(), 10)
        (pause,) = fake_comfy.pauses
        done = time.monotonic()
    (file,) = result.files
    original = fake_comfy.output_dir / file.output.subfolder / file.output.filename
    assert file.path.read_bytes() == original.read_bytes()
    assert file.content_type == "image/png"
    assert fake_comfy.requests_to("/view") == []
    assert done < pause[1]  # in hand before ComfyUI answers anything again


async def test_a_file_missing_from_the_given_folder_is_fetched_over_http(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-comfyuis-output"
    elsewhere.mkdir()
    async with ComfyService(settings_for(fake_comfy, tmp_path, local_output_dir=elsewhere)) as comfy:
        job = await comfy.submit(sampler_graph(steps=1), output_nodes=("9",))
        result = await asyncio.wait_for(job.result(), 10)
    assert len(result.files) == 1
    assert len(fake_comfy.requests_to("/view")) == 1


@pytest.mark.parametrize("local", [False, True], ids=["http", "disk"])
async def test_outputs_sharing_a_name_are_fetched_side_by_side_under_distinct_names(
    fake_comfy: FakeComfy, tmp_path: Path, local: bool
) -> None:
    graph = sampler_graph(steps=1)
    graph["9"]["inputs"]["filename_prefix"] = "left/same"
    graph["10"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "right/same", "images": ["3", 0]}}
    extra = {"local_output_dir": fake_comfy.output_dir} if local else {}
    async with ComfyService(settings_for(fake_comfy, tmp_path, **extra)) as comfy:
        job = await comfy.submit(graph, output_nodes=("9", "10"))
        result = await asyncio.wait_for(job.result(), 10)
    names = sorted(f.path.name for f in result.files)
    assert len(names) == 2
    assert names[0] != names[1]
    assert sorted(_leftovers(tmp_path / "downloads")) == sorted(f.path for f in result.files)
