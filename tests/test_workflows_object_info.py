"""ObjectInfo reads V1 and V3 node declarations from a real-shaped /object_info answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from discomfy.comfy.object_info import ObjectInfo

FIXTURE = Path(__file__).parent / "fixtures" / "workflows" / "object_info.json"


@pytest.fixture(scope="module")
def info() -> ObjectInfo:
    return ObjectInfo(json.loads(FIXTURE.read_text(encoding="utf-8")))


def test_v1_combo_lists_its_choices(info: ObjectInfo) -> None:
    choices = info.choices("KSampler", "sampler_name")
    assert choices is not None
    assert "euler" in choices
    assert "dpmpp_2m" in choices


def test_v1_combo_without_options_dict_still_has_choices(info: ObjectInfo) -> None:
    assert info.choices("UNETLoader", "weight_dtype") == (
        "default",
        "fp8_e4m3fn",
        "fp8_e4m3fn_fast",
        "fp8_e5m2",
    )


def test_v3_combo_reads_options_from_its_dict(info: ObjectInfo) -> None:
    assert info.choices("SaveVideo", "format") == ("auto", "mp4")
    spec = info.input_spec("SaveVideo", "format")
    assert spec is not None
    assert spec.type == "COMBO"
    assert spec.default == "auto"


def test_non_combo_inputs_have_no_choices(info: ObjectInfo) -> None:
    assert info.choices("KSampler", "steps") is None
    assert info.choices("KSampler", "model") is None


def test_unknown_class_or_input_gives_none(info: ObjectInfo) -> None:
    assert info.input_spec("NoSuchNode", "seed") is None
    assert info.input_spec("KSampler", "no_such_input") is None
    assert info.choices("NoSuchNode", "x") is None


def test_number_inputs_carry_their_limits(info: ObjectInfo) -> None:
    seed = info.input_spec("KSampler", "seed")
    assert seed is not None
    assert (seed.type, seed.min, seed.max, seed.default) == ("INT", 0, 2**64 - 1, 0)
    assert seed.is_widget
    guidance = info.input_spec("FluxGuidance", "guidance")
    assert guidance is not None
    assert (guidance.min, guidance.max) == (0.0, 100.0)


def test_sections_are_reported(info: ObjectInfo) -> None:
    device = info.input_spec("CLIPLoader", "device")
    prompt = info.input_spec("SaveImage", "prompt")
    assert device is not None
    assert device.section == "optional"
    assert prompt is not None
    assert (prompt.section, prompt.type) == ("hidden", "PROMPT")
    assert "image1" in info.input_names("TextEncodeQwenImageEditPlus")
    assert "image1" not in info.required_inputs("TextEncodeQwenImageEditPlus")


def test_output_nodes_are_known(info: ObjectInfo) -> None:
    assert info.is_output_node("SaveImage")
    assert info.is_output_node("SaveVideo")
    assert not info.is_output_node("KSampler")
    assert not info.is_output_node("NoSuchNode")


def test_class_names_and_has_class(info: ObjectInfo) -> None:
    assert {"KSampler", "RandomNoise", "EmptyHunyuanLatentVideo"} <= info.class_names
    assert info.has_class("CheckpointLoaderSimple")
    assert not info.has_class("VHS_VideoCombine")


def test_malformed_entries_do_not_break_the_view() -> None:
    info = ObjectInfo({"Odd": {"input": {"required": {"x": [], "y": "nonsense"}}}, "Bad": 3})
    assert info.class_names == frozenset({"Odd"})
    spec = info.input_spec("Odd", "x")
    assert spec is not None
    assert spec.type == "*"
    assert info.choices("Odd", "y") is None
