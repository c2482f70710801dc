"""Building jobs: values are checked against the mapping, the template never changes, seeds apply."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discomfy.workflows import (
    SEED_MAX,
    InputRef,
    WorkflowLibrary,
    apply_overrides,
    build_workflow,
    load_graph,
    load_workflows,
)
from discomfy.workflows.errors import (
    InvalidParameterError,
    MissingParameterError,
    OverrideError,
    UnknownParameterError,
    WorkflowError,
)

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def library() -> WorkflowLibrary:
    return load_workflows(ROOT / "workflows")


def test_values_land_on_every_target_input(library: WorkflowLibrary) -> None:
    spec = library.get("flux_dev")
    built = build_workflow(spec, {"prompt": "a red fox", "width": 768, "steps": "12"})
    assert built.graph["6"]["inputs"]["text"] == "a red fox"
    assert built.graph["27"]["inputs"]["width"] == 768
    assert built.graph["30"]["inputs"]["width"] == 768  # ModelSamplingFlux follows the latent
    assert built.graph["17"]["inputs"]["steps"] == 12
    assert built.values["steps"] == 12
    assert built.values["height"] == 1024  # default: the graph's own value


def test_unset_and_none_values_take_the_default(library: WorkflowLibrary) -> None:
    spec = library.get("txt2img_sdxl")
    built = build_workflow(spec, {"prompt": "x", "negative": None})
    assert built.values["negative"] == spec.graph["7"]["inputs"]["text"]
    assert built.graph["3"]["inputs"]["cfg"] == 7


def test_the_seed_given_is_written_to_every_seed_input(library: WorkflowLibrary) -> None:
    built = build_workflow(library.get("txt2img_sd15"), {"prompt": "x"}, seed=1234)
    assert built.seed == 1234
    assert dict(built.seeds) == {InputRef("3", "seed"): 1234}
    assert built.graph["3"]["inputs"]["seed"] == 1234


def test_without_a_seed_each_build_gets_a_fresh_one(library: WorkflowLibrary) -> None:
    spec = library.get("wan21_t2v")
    seeds = {build_workflow(spec, {"prompt": "x"}).seed for _ in range(20)}
    assert len(seeds) == 20
    assert all(s is not None and 0 <= s <= SEED_MAX for s in seeds)


def test_outputs_and_name_travel_with_the_build(library: WorkflowLibrary) -> None:
    built = build_workflow(library.get("wan21_t2v"), {"prompt": "x"})
    assert (built.name, built.outputs) == ("wan21_t2v", ("50",))


def test_unknown_parameter_names_it_and_lists_the_options(library: WorkflowLibrary) -> None:
    with pytest.raises(UnknownParameterError) as caught:
        build_workflow(library.get("flux_dev"), {"prompt": "x", "negative": "ugly"})
    assert caught.value.parameter == "negative"
    assert str(caught.value) == (
        "Flux dev has no option called 'negative'. Its options are: prompt, width, height, "
        "batch_size, steps, guidance, sampler, scheduler."
    )


def test_missing_required_parameter_says_what_is_needed(library: WorkflowLibrary) -> None:
    with pytest.raises(MissingParameterError) as caught:
        build_workflow(library.get("img2img"), {"prompt": "x"})
    assert caught.value.parameter == "image"
    assert str(caught.value) == "Image to image (SD 1.5) needs image: an image."


@pytest.mark.parametrize(
    ("values", "parameter", "message"),
    [
        ({"steps": 500}, "steps", "steps must be a whole number from 1 to 60 (got 500)."),
        ({"steps": 0}, "steps", "steps must be a whole number from 1 to 60 (got 0)."),
        ({"steps": "ten"}, "steps", "steps must be a whole number from 1 to 60 (got 'ten')."),
        ({"steps": 2.5}, "steps", "steps must be a whole number from 1 to 60 (got 2.5)."),
        ({"steps": True}, "steps", "steps must be a whole number from 1 to 60 (got True)."),
        (
            {"width": 1000},
            "width",
            "width must be a whole number from 512 to 2048 in steps of 64 (got 1000).",
        ),
        ({"cfg": 99.0}, "cfg", "cfg must be a number from 1 to 15 (got 99.0)."),
        ({"cfg": float("nan")}, "cfg", "cfg must be a number from 1 to 15 (got nan)."),
        (
            {"sampler": "warp_drive"},
            "sampler",
            "sampler must be one of: dpmpp_2m, dpmpp_2m_sde, dpmpp_sde, euler, euler_ancestral, "
            "uni_pc (got 'warp_drive').",
        ),
        ({"prompt": "   "}, "prompt", "prompt must not be empty."),
        ({"prompt": 42}, "prompt", "prompt must be text (got 42)."),
        (
            {"prompt": "a" * 2001},
            "prompt",
            "prompt is too long: 2001 characters, the limit is 2000.",
        ),
    ],
)
def test_bad_values_are_refused_in_plain_words(
    library: WorkflowLibrary, values: dict, parameter: str, message: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        build_workflow(library.get("txt2img_sdxl"), {"prompt": "x", **values})
    assert caught.value.parameter == parameter
    assert str(caught.value) == message
    assert caught.value.allowed


def test_choices_match_regardless_of_case(library: WorkflowLibrary) -> None:
    built = build_workflow(library.get("txt2img_sdxl"), {"prompt": "x", "sampler": " Euler "})
    assert built.graph["3"]["inputs"]["sampler_name"] == "euler"


def test_numbers_given_as_text_are_read(library: WorkflowLibrary) -> None:
    built = build_workflow(library.get("img2img"), {"prompt": "x", "image": "up.png", "denoise": "0.3"})
    assert built.graph["3"]["inputs"]["denoise"] == 0.3
    assert built.graph["10"]["inputs"]["image"] == "up.png"


def test_image_parameters_want_a_file_name(library: WorkflowLibrary) -> None:
    with pytest.raises(InvalidParameterError, match="image must be the name of an uploaded image"):
        build_workflow(library.get("img2img"), {"prompt": "x", "image": ""})


def test_a_seed_out_of_range_is_refused(library: WorkflowLibrary) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        build_workflow(library.get("flux_dev"), {"prompt": "x"}, seed=2**64)
    assert caught.value.parameter == "seed"


def test_every_parameter_error_is_a_workflow_error() -> None:
    for cls in (UnknownParameterError, MissingParameterError, InvalidParameterError):
        assert issubclass(cls, WorkflowError)


_values = st.fixed_dictionaries(
    {"prompt": st.text(min_size=1, max_size=50).filter(lambda text: any(char.isalnum() for char in text))},
    optional={
        "steps": st.integers(1, 60),
        "width": st.sampled_from([512, 768, 1024]),
        "cfg": st.floats(1, 15),
        "negative": st.text(max_size=30),
    },
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=_values, seed=st.none() | st.integers(0, SEED_MAX))
def test_building_never_mutates_the_template(library: WorkflowLibrary, values: dict, seed: int | None) -> None:
    for name in ("txt2img_sdxl", "txt2img_sd15"):
        spec = library.get(name)
        before = copy.deepcopy(spec.graph)
        built = build_workflow(spec, values, seed=seed)
        built.graph["3"]["inputs"]["steps"] = -1  # the result is the caller's to change
        assert spec.graph == before
        assert built.graph is not spec.graph


# --- apply_overrides: any graph, NODE_ID.INPUT=VALUE from the command line ---------------------


@pytest.fixture
def graph() -> dict:
    return load_graph(ROOT / "workflows" / "txt2img_sdxl.json")


def test_overrides_read_text_as_the_type_they_replace(graph: dict) -> None:
    result = apply_overrides(graph, {"3.steps": "20", "3.cfg": "6.5", "6.text": "123", "9.filename_prefix": "x/y"})
    inputs = result["3"]["inputs"]
    assert (inputs["steps"], inputs["cfg"]) == (20, 6.5)
    assert result["6"]["inputs"]["text"] == "123"  # text stays text
    assert result["9"]["inputs"]["filename_prefix"] == "x/y"
    assert graph["3"]["inputs"]["steps"] == 25  # the input graph is untouched


def test_overrides_parse_bools_json_and_typed_values() -> None:
    graph = {
        "1": {"class_type": "X", "inputs": {"flag": False, "data": None, "n": 1.0, "m": 3}},
    }
    result = apply_overrides(graph, {"1.flag": "yes", "1.data": '{"a": [1, 2]}', "1.n": "2", "1.m": 4})
    assert result["1"]["inputs"] == {"flag": True, "data": {"a": [1, 2]}, "n": 2.0, "m": 4}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"99.steps": "1"}, "there is no node '99'; nodes: 3, 4, 5, 6, 7, 8, 9"),
        ({"3.stepz": "1"}, "node '3' input 'stepz': KSampler (KSampler) has no such input; inputs:"),
        ({"3.model": "1"}, "node '3' input 'model': is wired to node '4'; only constant inputs"),
        ({"3.steps": "many"}, "node '3' input 'steps': 'many' does not fit (currently 25)"),
        ({"steps": "1"}, "'steps' is not NODE_ID.INPUT"),
    ],
)
def test_bad_overrides_say_what_is_wrong(graph: dict, overrides: dict, message: str) -> None:
    with pytest.raises(OverrideError) as caught:
        apply_overrides(graph, overrides)
    assert message in str(caught.value)
