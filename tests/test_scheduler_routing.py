"""Where a job goes: the least loaded server per unit of weight, taking turns among equals, among the servers
that have every node class and model file its graph names."""

from __future__ import annotations

import json
from pathlib import Path

from discomfy.comfy.object_info import ObjectInfo
from discomfy.scheduler.routing import Candidate, choose
from discomfy.workflows.check import missing_pieces


def _route(loads: dict[str, tuple[int, float]], jobs: int) -> list[str]:
    """Send `jobs` jobs one after the other, each adding one to the load of the server it went to."""
    loads = dict(loads)
    sent = []
    for rotation in range(jobs):
        chosen = choose([Candidate(name, load, weight) for name, (load, weight) in loads.items()], rotation)
        assert chosen is not None
        sent.append(chosen)
        load, weight = loads[chosen]
        loads[chosen] = (load + 1, weight)
    return sent


def test_a_server_with_twice_the_weight_takes_twice_the_jobs() -> None:
    sent = _route({"small": (0, 1.0), "big": (0, 2.0)}, 30)
    assert (sent.count("big"), sent.count("small")) == (20, 10)


def test_equally_loaded_servers_take_turns() -> None:
    assert _route({"a": (0, 1.0), "b": (0, 1.0)}, 4) in (["a", "b", "a", "b"], ["b", "a", "b", "a"])


def test_a_busy_server_gets_nothing_until_the_others_catch_up() -> None:
    assert _route({"busy": (3, 1.0), "idle": (0, 1.0)}, 3) == ["idle", "idle", "idle"]


def test_no_server_that_may_take_the_job_means_none() -> None:
    assert choose([], 0) is None


# ---- what a server lacks for a graph ---------------------------------------------------------------

OBJECT_INFO = ObjectInfo(json.loads((Path(__file__).parent / "fixtures/workflows/object_info.json").read_text()))


def test_a_server_lacks_the_node_classes_and_model_files_a_graph_names_and_nothing_else() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "discomfy-1234.png"}},  # uploaded where it goes
        "3": {"class_type": "VAEDecodeHypertile", "inputs": {"samples": ["1", 0]}},
        "4": {"class_type": "KSampler", "inputs": {"sampler_name": "euler", "model": ["1", 0]}},
    }
    assert missing_pieces(graph, OBJECT_INFO) == (
        "the file 'flux1-dev.safetensors' (CheckpointLoaderSimple ckpt_name)",
        "the node 'VAEDecodeHypertile' (a custom node pack)",
    )
    graph["1"]["inputs"]["ckpt_name"] = "sd_xl_base_1.0.safetensors"
    del graph["3"]
    assert missing_pieces(graph, OBJECT_INFO) == ()
