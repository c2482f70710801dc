"""Checking workflows against a server's /object_info: shipped ones fit, and gaps are named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from discomfy.comfy.object_info import ObjectInfo
from discomfy.workflows import (
    WorkflowLibrary,
    check_against_object_info,
    load_graph,
    load_workflow,
    load_workflows,
)
from discomfy.workflows.errors import ServerMismatchError
from discomfy.workflows.graph import is_link

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "workflows"
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"


@pytest.fixture(scope="module")
def info() -> ObjectInfo:
    """Node definitions of ComfyUI 0.3.64 (nodes.py, comfy_extras), trimmed to what we use."""
    return ObjectInfo(json.loads((FIXTURES / "object_info.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def library() -> WorkflowLibrary:
    return load_workflows(SHIPPED)


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.json")), ids=lambda p: p.stem)
def test_shipped_workflows_use_only_real_class_input_and_combo_names(info: ObjectInfo, path: Path) -> None:
    for node_id, node in load_graph(path).items():
        cls = node["class_type"]
        assert info.has_class(cls), f"node {node_id}: {cls}"
        for name, value in node["inputs"].items():
            spec = info.input_spec(cls, name)
            assert spec is not None, f"node {node_id}: {cls}.{name}"
            if spec.choices is not None and not is_link(value):
                assert value in spec.choices, f"node {node_id}: {cls}.{name}={value!r}"
        for name in info.required_inputs(cls):
            assert name in node["inputs"], f"node {node_id}: {cls} lacks {name}"


def test_shipped_workflows_fit_the_reference_server(info: ObjectInfo, library: WorkflowLibrary) -> None:
    assert check_against_object_info(library, info) == []


def test_shipped_mapping_choices_are_all_offered_by_comfyui(info: ObjectInfo, library: WorkflowLibrary) -> None:
    for spec in library:
        for param in spec.parameters:
            for ref in param.targets:
                offered = info.choices(spec.graph[ref.node]["class_type"], ref.input)
                if param.choices is not None:
                    assert offered is not None
                    assert set(param.choices) <= set(offered), (spec.name, param.name)


def _spec_in(tmp_path: Path, graph_name: str, mapping: str = "") -> object:
    shutil.copy(FIXTURES / graph_name, tmp_path / graph_name)
    (tmp_path / "w.yaml").write_text(f"graph: {graph_name}\n{mapping}", encoding="utf-8")
    return load_workflow(tmp_path / "w.yaml")


def test_missing_custom_nodes_are_named_with_class_and_node_id(info: ObjectInfo, tmp_path: Path) -> None:
    spec = _spec_in(tmp_path, "flux_lora_hires.json")
    messages = [str(p) for p in check_against_object_info(spec, info)]  # type: ignore[arg-type]
    graph = str(tmp_path / "flux_lora_hires.json")
    assert (
        f"{graph}: node '12': node class 'Seed (rgthree)' (Seed (rgthree)) is not installed on the "
        "ComfyUI server; install the custom node pack that provides it, or update ComfyUI" in messages
    )
    assert any("node '30': node class 'Image Comparer (rgthree)'" in m for m in messages)


def test_model_files_the_server_lacks_are_named_with_what_it_has(info: ObjectInfo, tmp_path: Path) -> None:
    spec = _spec_in(tmp_path, "flux_lora_hires.json")
    problems = check_against_object_info(spec, info)  # type: ignore[arg-type]
    by_place = {(p.node, p.input): str(p) for p in problems}
    message = by_place[("5", "lora_name")]
    assert "'film_grain_flux.safetensors' is not available on the server; it offers: " in message
    assert "flux_realism_lora.safetensors" in message
    assert ("4", "lora_name") not in by_place  # that one is installed
    assert all(isinstance(p, ServerMismatchError) for p in problems)


def test_mapping_choices_the_server_lacks_are_named(info: ObjectInfo, tmp_path: Path) -> None:
    mapping = (
        "parameters:\n"
        '  checkpoint: {node: "4", input: ckpt_name, type: choice,\n'
        "    choices: [v1-5-pruned-emaonly-fp16.safetensors, dreamshaper_8.safetensors]}\n"
        '  steps: {node: "3", input: steps, min: 1, max: 20000}\n'
    )
    spec = _spec_in(tmp_path, "sd15_hires_upscale.json", mapping)
    messages = [str(p) for p in check_against_object_info(spec, info)]  # type: ignore[arg-type]
    assert any(
        "parameters.checkpoint: the server does not have 'dreamshaper_8.safetensors'; it offers: "
        "sd_xl_base_1.0.safetensors" in m
        for m in messages
    )
    assert any(
        "parameters.steps: allows values the server refuses; keep min and max within 1 to 10000" in m for m in messages
    )


def test_a_default_image_not_on_the_server_is_named(info: ObjectInfo, tmp_path: Path) -> None:
    spec = _spec_in(tmp_path, "upscale_only.json", 'parameters:\n  photo: {node: "1", input: image}\n')
    assert check_against_object_info(spec, info) == []  # example.png is in its input folder
    spec = _spec_in(tmp_path, "qwen_image_edit.json", 'parameters:\n  photo: {node: "78", input: image}\n')
    messages = [str(p) for p in check_against_object_info(spec, info)]  # type: ignore[arg-type]
    assert any(
        "parameters.photo: the default image 'person.png' is not in the server's input folder" in m for m in messages
    )
    assert any("'outfit.png' is not available on the server" in m for m in messages)


def test_missing_required_inputs_and_absent_outputs_are_named(info: ObjectInfo, tmp_path: Path) -> None:
    graph = {
        "1": {"inputs": {"width": 512, "height": 512}, "class_type": "EmptyLatentImage"},
    }
    (tmp_path / "g.json").write_text(json.dumps(graph))
    (tmp_path / "w.yaml").write_text("graph: g.json\n")
    messages = [str(p) for p in check_against_object_info(load_workflow(tmp_path / "w.yaml"), info)]
    assert (
        f"{tmp_path / 'g.json'}: node '1' input 'batch_size': "
        "EmptyLatentImage requires this input but the graph does not set it" in messages
    )
    assert f"{tmp_path / 'g.json'}: the graph has no output node (nothing would be saved)" in messages


def test_values_outside_the_server_range_and_small_seed_limits_are_named(tmp_path: Path) -> None:
    info = ObjectInfo(
        {
            "TinySeed": {
                "input": {
                    "required": {"seed": ["INT", {"min": 0, "max": 2**32 - 1}], "steps": ["INT", {"min": 1, "max": 10}]}
                },
                "output_node": True,
            }
        }
    )
    graph = {"1": {"inputs": {"seed": 1, "steps": 50}, "class_type": "TinySeed"}}
    (tmp_path / "g.json").write_text(json.dumps(graph))
    (tmp_path / "w.yaml").write_text("graph: g.json\n")
    problems = check_against_object_info([load_workflow(tmp_path / "w.yaml")], info)
    messages = {(p.node, p.input): str(p) for p in problems}
    assert "takes seeds up to 4.29497e+09 but DisComfy picks them up to" in messages[("1", "seed")]
    assert "list it under exclude_seeds" in messages[("1", "seed")]
    assert "50 is outside what the server accepts (1 to 10)" in messages[("1", "steps")]
