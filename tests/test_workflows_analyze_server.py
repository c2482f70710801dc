"""`analyze` with the server's node list: real limits, steps, choices and tooltips, custom nodes included."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from discomfy.comfy.object_info import ObjectInfo
from discomfy.workflows import Group, ParamType, analyze_graph, load_graph
from testing.cli import run_discomfy
from testing.comfy_server import FakeComfy

UI_FIXTURES = Path(__file__).parent / "fixtures" / "workflows_ui"
API_GRAPH = UI_FIXTURES / "templates" / "default.api.json"
SERVER: dict[str, Any] = json.loads((UI_FIXTURES / "object_info.json").read_text(encoding="utf-8"))

#: A custom node as a pack would declare it: its prompt is a multiline STRING not called "text".
CUSTOM_PROMPT = {
    "input": {
        "required": {
            "clip": ["CLIP"],
            "caption": ["STRING", {"multiline": True, "tooltip": "Describe the picture"}],
            "weight": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 3.0, "step": 0.05, "tooltip": "Caption weight"}],
            "mode": [["fast", "exact"], {"tooltip": "How to encode"}],
        }
    },
    "output": ["CONDITIONING"],
    "name": "FancyCaptionEncode",
    "display_name": "Fancy Caption Encode",
    "python_module": "custom_nodes.comfyui-fancy",
    "output_node": False,
}


def _tunable(analysis: Any, name: str) -> Any:
    return next(t for t in analysis.tunables if t.name == name)


def test_limits_steps_and_tooltips_come_from_the_server() -> None:
    analysis = analyze_graph(load_graph(API_GRAPH), ObjectInfo(SERVER))
    width = _tunable(analysis, "width")
    assert (width.min, width.max, width.multiple_of) == (16, 16384, 8)
    assert width.description == "The width of the latent images in pixels."
    steps = _tunable(analysis, "steps")
    assert (steps.min, steps.max) == (1, 10000)
    assert "euler_ancestral" in _tunable(analysis, "sampler").choices


def test_without_the_server_the_limits_are_guesses() -> None:
    width = _tunable(analyze_graph(load_graph(API_GRAPH)), "width")
    assert (width.min, width.max) == (64, 2048)


def test_a_custom_nodes_multiline_text_is_a_prompt_and_its_numbers_are_offered() -> None:
    graph = load_graph(API_GRAPH)
    for node_id in ("6", "7"):
        text = graph[node_id]["inputs"]["text"]
        graph[node_id] = {
            "class_type": "FancyCaptionEncode",
            "inputs": {"clip": ["4", 1], "caption": text, "weight": 1.25, "mode": "fast"},
        }
    server = copy.deepcopy(SERVER) | {"FancyCaptionEncode": CUSTOM_PROMPT}
    analysis = analyze_graph(graph, ObjectInfo(server))
    prompt, negative = _tunable(analysis, "prompt"), _tunable(analysis, "negative")
    assert [str(t) for t in prompt.targets] == ["6.caption"]
    assert [str(t) for t in negative.targets] == ["7.caption"]
    weight = _tunable(analysis, "weight")
    assert (weight.type, weight.group, weight.advanced) == (ParamType.FLOAT, Group.OTHER, False)
    assert (weight.min, weight.max, weight.description) == (0.0, 3.0, "Caption weight")
    mode = _tunable(analysis, "mode")
    assert (mode.type, mode.choices, mode.advanced) == (ParamType.CHOICE, ("fast", "exact"), True)


async def test_analyze_asks_the_live_server_by_default(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    workflow = tmp_path / "sd15.json"
    workflow.write_text(API_GRAPH.read_text(encoding="utf-8"))
    code, _out, err = await run_discomfy("analyze", str(workflow), "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 0, err
    assert any(r.path.endswith("/object_info") for r in fake_comfy.requests)
    mapping = yaml.safe_load((tmp_path / "sd15.yaml").read_text(encoding="utf-8"))
    async with aiohttp.ClientSession() as session, session.get(fake_comfy.url.rstrip("/") + "/object_info") as got:
        declared = (await got.json())["EmptyLatentImage"]["input"]["required"]["width"][1]
    assert (mapping["parameters"]["width"]["min"], mapping["parameters"]["width"]["max"]) == (
        declared["min"],
        declared["max"],
    )


async def test_analyze_converts_a_ui_save_and_maps_the_converted_graph(fake_comfy: FakeComfy, tmp_path: Path) -> None:
    workflow = tmp_path / "sd15.json"
    workflow.write_text((UI_FIXTURES / "templates" / "default.json").read_text(encoding="utf-8"))
    code, out, err = await run_discomfy("analyze", str(workflow), "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 0, err
    assert "Wrote" in out
    mapping = yaml.safe_load((tmp_path / "sd15.yaml").read_text(encoding="utf-8"))
    assert mapping["graph"] == "sd15.api.json"
    assert json.loads((tmp_path / "sd15.api.json").read_text()) == json.loads(API_GRAPH.read_text())
