"""UI-format saves become exactly what ComfyUI's own frontend writes with Export (API).

The pairs in fixtures/workflows_ui were made by loading each UI file into ComfyUI's frontend (1.27.10, served by
ComfyUI 0.3.64 on CPU), headless, and taking `(await app.graphToPrompt()).output`; constructs.json was written by
hand to hold every construct, and group_node.json / subgraph.json are it after the frontend's own "Convert to
group node" and "Convert to subgraph"; the *_mode2 / *_mode4 files mute or bypass nodes of those. templates/
holds workflow templates shipped with ComfyUI. object_info.json is that server's /object_info, cut to the classes
the files use. divergent/ holds the one case where DisComfy deliberately writes more than the frontend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from discomfy.comfy.object_info import ObjectInfo
from discomfy.workflows.convert import convert_ui_workflow, is_ui_format
from discomfy.workflows.errors import ConversionError
from discomfy.workflows.ui_widgets import dynamic_prompt

FIXTURES = Path(__file__).parent / "fixtures" / "workflows_ui"
PAIRS = sorted(p.name.removesuffix(".api.json") for p in FIXTURES.glob("*.api.json"))
TEMPLATES = sorted(p.name.removesuffix(".api.json") for p in (FIXTURES / "templates").glob("*.api.json"))


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def info() -> ObjectInfo:
    return ObjectInfo(_read(FIXTURES / "object_info.json"))


def _convert(name: str, info: ObjectInfo) -> dict[str, Any]:
    return convert_ui_workflow(_read(FIXTURES / f"{name}.json"), info, file=name, choose=lambda options: options[0])


@pytest.mark.parametrize("name", PAIRS)
def test_conversion_equals_the_frontends_export_api(name: str, info: ObjectInfo) -> None:
    assert _convert(name, info) == _read(FIXTURES / f"{name}.api.json")


@pytest.mark.parametrize("name", TEMPLATES)
def test_shipped_templates_convert_as_the_frontend_exports_them(name: str, info: ObjectInfo) -> None:
    assert _convert(f"templates/{name}", info) == _read(FIXTURES / "templates" / f"{name}.api.json")


def test_a_group_node_fed_by_reroutes_or_a_primitive_keeps_what_the_frontend_loses(info: ObjectInfo) -> None:
    """The frontend's legacy group nodes drop inner inputs wired from a Reroute or a PrimitiveNode outside the
    group (ComfyUI then refuses the prompt: a required input is missing); DisComfy resolves them as it does
    for every other node, and otherwise writes exactly what the frontend writes."""
    for name, kept in (("group_sampler", {"model": ["4", 0]}), ("group_latent", {"width": 768, "height": 768})):
        ours = _convert(f"divergent/{name}", info)
        theirs = _read(FIXTURES / "divergent" / f"{name}.api.json")
        assert ours["32:2"]["inputs"] == theirs["32:2"]["inputs"] | kept
        assert {k: v for k, v in ours.items() if k != "32:2"} == {k: v for k, v in theirs.items() if k != "32:2"}


def test_reroute_chains_and_bypassed_nodes_are_followed_to_the_real_source(info: ObjectInfo) -> None:
    graph = _convert("constructs", info)
    # checkpoint 4 -> LoRA 10 (bypassed) -> Reroute 11 -> Reroute 12 -> KSampler 3
    assert graph["3"]["inputs"]["model"] == ["4", 0]
    assert graph["8"]["inputs"]["vae"] == ["4", 2]  # through Reroute 14
    assert not {"10", "11", "12", "14"} & set(graph)


def test_a_primitive_writes_its_value_into_every_widget_it_feeds(info: ObjectInfo) -> None:
    latent = _convert("constructs", info)["5"]["inputs"]
    assert (latent["width"], latent["height"]) == (768, 768)  # the widgets' own values were 512
    assert "20" not in _convert("constructs", info)


def test_a_widget_converted_to_an_input_takes_the_link(info: ObjectInfo) -> None:
    assert _convert("constructs", info)["3"]["inputs"]["steps"] == ["21", 0]


def test_muted_nodes_are_left_out_with_the_inputs_they_fed(info: ObjectInfo) -> None:
    graph = _convert("constructs", info)
    assert not {"13", "22"} & set(graph)
    assert "cfg" not in graph["3"]["inputs"]  # the frontend drops an input wired to a muted node


def test_the_seed_control_value_is_not_an_input_and_titles_are_kept(info: ObjectInfo) -> None:
    graph = _convert("constructs", info)
    sampler = graph["3"]["inputs"]
    assert sampler["seed"] == 424242
    assert "control_after_generate" not in sampler
    assert (sampler["sampler_name"], sampler["denoise"]) == ("euler", 1)
    assert graph["6"]["_meta"] == {"title": "Positive"}
    assert graph["7"]["_meta"] == {"title": "CLIP Text Encode (Prompt)"}
    assert not {"30", "31"} & set(graph)  # Note, MarkdownNote


def test_group_nodes_and_subgraphs_expand_into_their_inner_nodes(info: ObjectInfo) -> None:
    grouped = _convert("group_node", info)
    assert grouped["32:0"]["inputs"]["clip"] == ["4", 1]
    assert grouped["3"]["inputs"]["positive"] == ["32:0", 0]
    nested = _convert("subgraph", info)
    assert nested["32:8"]["inputs"]["samples"] == ["32:3", 0]
    assert nested["9"]["inputs"]["images"] == ["32:8", 0]


def test_subgraph_widgets_promoted_to_the_instance_reach_the_inner_node(info: ObjectInfo) -> None:
    graph = _convert("templates/flux1_dev_uso_reference_image_gen", info)
    assert graph["55:52"]["inputs"]["crop"] == "center"
    assert graph["57:35"]["inputs"]["guidance"] == 3.5


def test_widgets_values_saved_as_an_object_are_read_by_name(info: ObjectInfo) -> None:
    graph = _convert("dict_values", info)
    assert graph["9"]["inputs"]["filename_prefix"] == "from_dict"
    assert graph["10"]["inputs"] == {"lora_name": "style.safetensors", "strength_model": 0.5, "model": ["4", 0]}
    assert graph["3"]["inputs"]["model"] == ["10", 0]


def test_dynamic_prompt_comments_are_stripped_and_choices_resolved() -> None:
    assert dynamic_prompt("a fox // note\n/* x */in {snow|rain}", lambda o: o[1]) == "a fox \nin rain"
    assert dynamic_prompt(r"literal \{a|b\}", lambda o: o[0]) == "literal {a|b}"
    assert dynamic_prompt("{a|{b|c}}", lambda o: o[-1]) == "c"


def test_an_unknown_node_class_names_the_node_the_class_and_its_pack(info: ObjectInfo) -> None:
    data = _read(FIXTURES / "constructs.json")
    data["nodes"].append(
        {
            "id": 40,
            "type": "VHS_VideoCombine",
            "mode": 0,
            "inputs": [],
            "outputs": [],
            "properties": {"cnr_id": "comfyui-videohelpersuite", "aux_id": "Kosinkadink/ComfyUI-VideoHelperSuite"},
            "widgets_values": {"frame_rate": 8},
        }
    )
    data["nodes"].append({"id": 41, "type": "Image Comparer (rgthree)", "mode": 0, "inputs": [], "outputs": []})
    data["nodes"].append({"id": 42, "type": "SomethingNew", "mode": 2, "inputs": [], "outputs": []})  # muted: ignored
    with pytest.raises(ConversionError) as caught:
        convert_ui_workflow(data, info, file="wf.json")
    assert caught.value.problems == (
        "node '40' (VHS_VideoCombine): the ComfyUI server has no node class 'VHS_VideoCombine'; it likely comes "
        "from the node pack comfyui-videohelpersuite (https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite)",
        "node '41' (Image Comparer (rgthree)): the ComfyUI server has no node class 'Image Comparer (rgthree)'; it "
        "likely comes from the node pack rgthree-comfy (https://github.com/rgthree/rgthree-comfy)",
    )
    assert str(caught.value).startswith("wf.json: cannot convert this UI-format workflow")


def test_ui_format_is_told_apart_from_the_api_format() -> None:
    assert is_ui_format(_read(FIXTURES / "constructs.json"))
    assert not is_ui_format(_read(FIXTURES / "constructs.api.json"))
