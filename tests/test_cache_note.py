"""What a job's message says about ComfyUI's cache, from the node ids execution_cached named."""

from __future__ import annotations

from discomfy.comfy import JobResult, MediaKind, OutputFile
from discomfy.comfy.cache import CACHED, PARTLY_CACHED, cache_note
from discomfy.job import split_notes

GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {}},
    "9": {"class_type": "SaveImage", "inputs": {}},
    "12": {"class_type": "Note", "inputs": {}},  # feeds no output: ComfyUI never runs nor caches it
}
SAVED = OutputFile("9", "ComfyUI_00001_.png", "", "output", MediaKind.IMAGE)


def _result(*cached: str) -> JobResult:
    return JobResult("p", (SAVED,), (), tuple(cached), elapsed=1.0, run_time=0.5)


def test_nothing_cached_says_nothing() -> None:
    assert cache_note(_result(), GRAPH) is None


def test_outputs_taken_from_the_cache_mean_nothing_ran_again() -> None:
    assert cache_note(_result("3", "4", "6", "9"), GRAPH) == f"{CACHED}: nothing ran again."


def test_some_nodes_cached_are_named_with_their_class_in_node_order() -> None:
    note = cache_note(_result("6", "4", "12"), GRAPH)
    assert note == f"{PARTLY_CACHED}: CheckpointLoaderSimple #4, CLIPTextEncode #6, Note #12"


def test_the_cache_note_is_told_apart_from_the_notes_about_files_left_out() -> None:
    left_out = "2 more file(s) not fetched (at most 50 per job): `a.png`, `b.png`"
    cache = f"{PARTLY_CACHED}: CheckpointLoaderSimple #4"
    assert split_notes((left_out, cache)) == (cache, (left_out,))
    assert split_notes((left_out,)) == (None, (left_out,))
