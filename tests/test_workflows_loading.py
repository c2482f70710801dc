"""Loading the workflows folder: everything valid loads, and every problem of every file is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from discomfy.workflows import (
    InputRef,
    ParamType,
    WorkflowKind,
    build_workflow,
    load_workflow,
    load_workflows,
)
from discomfy.workflows.errors import (
    MappingError,
    UnknownWorkflowError,
    WorkflowError,
    WorkflowFileError,
    WorkflowFormatError,
    WorkflowLoadError,
)

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "workflows"
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"

SD15 = "txt2img_sd15.json"
GOOD = """\
graph: txt2img_sd15.json
parameters:
  prompt: {node: "6", input: text, required: true}
"""


def _folder(tmp_path: Path, mappings: dict[str, str], graphs: tuple[str, ...] = (SD15,)) -> Path:
    for graph in graphs:
        source = SHIPPED / graph if (SHIPPED / graph).exists() else FIXTURES / graph
        shutil.copy(source, tmp_path / graph)
    for name, text in mappings.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _problems(folder: Path) -> list[WorkflowError]:
    with pytest.raises(WorkflowLoadError) as caught:
        load_workflows(folder)
    return list(caught.value.problems)


def _only_problem(folder: Path) -> str:
    problems = _problems(folder)
    assert len(problems) == 1, problems
    return str(problems[0])


# --- the shipped folder ------------------------------------------------------------------------


def test_shipped_workflows_all_load() -> None:
    library = load_workflows(SHIPPED)
    assert library.names == ("flux_dev", "img2img", "txt2img_sd15", "txt2img_sdxl", "wan21_t2v")
    assert library.get("wan21_t2v").kind is WorkflowKind.VIDEO
    assert {spec.kind for spec in library if spec.name != "wan21_t2v"} == {WorkflowKind.IMAGE}


def test_each_spec_knows_its_files() -> None:
    spec = load_workflows(SHIPPED).get("flux_dev")
    assert spec.files == (SHIPPED / "flux_dev.yaml", SHIPPED / "flux_dev.json")


def test_library_lookup_by_unknown_name_lists_what_exists() -> None:
    library = load_workflows(SHIPPED)
    with pytest.raises(UnknownWorkflowError) as caught:
        library.get("sd3")
    assert str(caught.value) == (
        "There is no workflow called 'sd3'. Available: flux_dev, img2img, txt2img_sd15, txt2img_sdxl, wan21_t2v."
    )
    assert library.find("sd3") is None
    assert "flux_dev" in library
    assert len(library) == 5


def test_matching_puts_prefix_matches_first_and_searches_titles() -> None:
    library = load_workflows(SHIPPED)
    assert [s.name for s in library.matching("txt")] == ["txt2img_sd15", "txt2img_sdxl"]
    assert [s.name for s in library.matching("VIDEO")] == ["wan21_t2v"]  # its title
    assert [s.name for s in library.matching("image")][:2] == ["img2img", "txt2img_sd15"]
    assert len(library.matching("")) == 5
    assert len(library.matching("", limit=2)) == 2
    assert library.matching("nothing like this") == ()


def test_a_parameter_reads_its_type_default_and_limits() -> None:
    spec = load_workflows(SHIPPED).get("txt2img_sdxl")
    steps = spec.parameter("steps")
    assert steps is not None
    assert (steps.type, steps.default, steps.min, steps.max) == (ParamType.INT, 25, 1, 60)
    assert steps.targets == (InputRef("3", "steps"),)
    prompt = spec.parameter("prompt")
    assert prompt is not None
    assert (prompt.required, prompt.default, prompt.max_length) == (True, None, 2000)
    assert spec.seed_inputs == (InputRef("3", "seed"),)
    assert spec.outputs == ("9",)


def test_a_minimal_mapping_infers_name_title_kind_types_and_defaults(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"My Flow.yaml": GOOD + '  steps: {node: "3", input: steps}\n'})
    spec = load_workflows(folder).get("my_flow")
    assert (spec.title, spec.kind, spec.outputs) == ("my_flow", WorkflowKind.IMAGE, ())
    steps = spec.parameter("steps")
    assert steps is not None
    assert (steps.type, steps.default, steps.required) == (ParamType.INT, 20, False)


def test_a_load_image_input_is_an_image_parameter(tmp_path: Path) -> None:
    text = 'graph: img2img.json\nparameters:\n  picture: {node: "10", input: image, required: true}\n'
    spec = load_workflows(_folder(tmp_path, {"i.yaml": text}, ("img2img.json",))).get("i")
    picture = spec.parameter("picture")
    assert picture is not None
    assert picture.type is ParamType.IMAGE


def test_targets_may_be_strings_or_node_input_pairs(tmp_path: Path) -> None:
    text = GOOD + '  size:\n    targets: ["5.width", {node: 5, input: height}]\n    type: int\n'
    spec = load_workflows(_folder(tmp_path, {"t.yaml": text})).get("t")
    built = build_workflow(spec, {"prompt": "x", "size": 640})
    assert (built.graph["5"]["inputs"]["width"], built.graph["5"]["inputs"]["height"]) == (640, 640)


def test_explicit_seeds_and_excluded_seeds_are_honoured(tmp_path: Path) -> None:
    mappings = {
        "a.yaml": 'graph: sd15_hires_upscale.json\nseeds: ["13.seed"]\n',
        "b.yaml": 'graph: sd15_hires_upscale.json\nexclude_seeds: ["20.value"]\n',
        "c.yaml": "graph: sd15_hires_upscale.json\nseeds: []\n",
    }
    library = load_workflows(_folder(tmp_path, mappings, ("sd15_hires_upscale.json",)))
    assert library.get("a").seed_inputs == (InputRef("13", "seed"),)
    assert library.get("b").seed_inputs == (InputRef("13", "seed"),)
    assert library.get("c").seed_inputs == ()
    assert build_workflow(library.get("c"), {}).seed is None


def test_a_folder_with_no_mappings_is_an_empty_library(tmp_path: Path) -> None:
    assert len(load_workflows(_folder(tmp_path, {}))) == 0


def test_load_workflow_loads_one_file() -> None:
    assert load_workflow(SHIPPED / "img2img.yaml").name == "img2img"


# --- problems ----------------------------------------------------------------------------------


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    assert "workflows folder not found" in _only_problem(tmp_path / "nope")


def test_a_missing_graph_file_names_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": "graph: missing.json\n"})
    assert _only_problem(folder) == f"{folder / 'missing.json'}: file not found"


def test_a_mapping_without_graph_key_says_how_to_fix_it(tmp_path: Path) -> None:
    message = _only_problem(_folder(tmp_path, {"a.yaml": "title: x\n"}))
    assert message.endswith("a.yaml: graph: must name the exported API-format JSON beside it, e.g. graph: a.json")


def test_invalid_json_gives_the_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": "graph: broken.json\n"}, ())
    (folder / "broken.json").write_text('{\n  "3": {\n    "inputs": {},\n  }\n}\n')
    problems = _problems(folder)
    assert isinstance(problems[0], WorkflowFileError)
    assert problems[0].line == 4
    assert str(problems[0]).startswith(f"{folder / 'broken.json'}:4: invalid JSON: ")


def test_a_ui_format_workflow_is_refused_with_export_api_advice(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"ui.yaml": "graph: ui_format.json\n"}, ("ui_format.json",))
    problems = _problems(folder)
    assert isinstance(problems[0], WorkflowFormatError)
    assert "UI-format workflow (it has 'nodes' and 'links')" in str(problems[0])
    assert "Workflow menu > Export (API)" in str(problems[0])


def test_a_prompt_request_body_is_refused_with_advice(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": "graph: body.json\n"}, ())
    graph = json.loads((SHIPPED / SD15).read_text())
    (folder / "body.json").write_text(json.dumps({"prompt": graph, "client_id": "x"}))
    assert "save only the value of its 'prompt' key" in _only_problem(folder)


def test_nodes_without_class_type_are_not_api_format(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": "graph: odd.json\n"}, ())
    (folder / "odd.json").write_text('{"1": {"inputs": {}}, "2": {"class_type": "X", "inputs": {}}}')
    assert "node(s) '1' lack 'class_type' or 'inputs'" in _only_problem(folder)


def test_invalid_yaml_gives_the_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": GOOD + "  steps: {node: 3, input: steps\n"})
    problems = _problems(folder)
    assert isinstance(problems[0], WorkflowFileError)
    assert problems[0].line == 5
    assert "invalid YAML" in str(problems[0])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '  steps: {node: "30", input: steps}\n',
            "node '30' input 'steps': parameters.steps: there is no such node in txt2img_sd15.json",
        ),
        (
            '  steps: {node: "3", input: stepz}\n',
            "node '3' input 'stepz': parameters.steps: KSampler has no such input (inputs: seed, "
            "steps, cfg, sampler_name, scheduler, denoise, model, positive, negative, latent_image)",
        ),
        (
            '  model: {node: "3", input: model}\n',
            "node '3' input 'model': parameters.model: is wired to node '4', not a constant: point "
            "the mapping at the input that holds the value on node '4'",
        ),
        (
            '  steps: {node: "3", input: steps, type: str}\n',
            "node '3' input 'steps': parameters.steps: holds 20, which is not a str value",
        ),
        (
            '  steps: {node: "3", input: steps, max: 10}\n',
            "parameters.steps: the graph's value 20 is not allowed: steps must be a whole number "
            "of at most 10 (got 20).",
        ),
        (
            '  steps: {node: "3", input: steps, default: 0, min: 1}\n',
            "parameters.steps.default: the default is not allowed",
        ),
        (
            '  sampler: {node: "3", input: sampler_name, type: choice}\n',
            "parameters.sampler: type choice needs choices",
        ),
        ('  steps: {node: "3", input: steps, colour: red}\n', "parameters.steps.colour: unknown key"),
        ('  seed: {node: "3", input: steps}\n', "parameters.seed: a parameter name is"),
        ('  Steps: {node: "3", input: steps}\n', "parameters.Steps: a parameter name is"),
        ('  steps: {node: "3", input: steps, type: integer}\n', "unknown type 'integer'"),
        ('  steps: {node: "3", input: steps, min: 9, max: 2}\n', "min 9 is above max 2"),
        ('  steps: {node: "3", input: steps, choices: [a]}\n', "only applies to type: choice"),
        ('  steps: {node: "3", input: steps, max_length: 3}\n', "does not apply to this type"),
        ('  steps: {node: "3"}\n', "needs node and input, or targets"),
        ('  s: {node: "3", input: seed}\n', "sets a seed input, which gets the job's seed"),
        ('  again: {node: "6", input: text}\n', "parameters.again: is also set by parameter 'prompt'"),
        (
            '  steps: {node: "3", input: steps, required: true, default: 3}\n',
            "a required parameter takes no default",
        ),
    ],
)
def test_mapping_problems_name_file_key_node_and_input(tmp_path: Path, extra: str, expected: str) -> None:
    folder = _folder(tmp_path, {"a.yaml": GOOD + extra})
    problems = _problems(folder)
    assert len(problems) == 1, problems
    assert isinstance(problems[0], MappingError)
    assert str(problems[0]).startswith(str(folder / "a.yaml"))
    assert expected in str(problems[0])


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ("options: {}\n", "options: unknown key (known keys: name, title"),
        ("kind: audio\n", "kind: must be 'image' or 'video'"),
        ("name: Bad Name\n", "name: must be lowercase letters"),
        ('outputs: ["99"]\n', "outputs: there is no node '99'"),
        ('seeds: ["3.seed"]\nexclude_seeds: []\n', "give either 'seeds' or 'exclude_seeds'"),
        ('exclude_seeds: ["3.steps"]\n', "3.steps is not a seed input (found: 3.seed)"),
        ('seeds: ["3.sampler_name"]\n', "holds 'euler', not a whole number"),
        ("seeds: [nonsense]\n", "'nonsense' is not NODE_ID.INPUT"),
        ("parameters: [prompt]\n", "parameters: must map parameter names to their settings"),
    ],
)
def test_top_level_problems_are_named(tmp_path: Path, top: str, expected: str) -> None:
    text = GOOD if top.startswith("parameters") is False else "graph: txt2img_sd15.json\n"
    assert expected in _only_problem(_folder(tmp_path, {"a.yaml": top + text}))


def test_duplicate_workflow_names_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": GOOD, "b.yaml": "name: a\n" + GOOD})
    assert "workflow name 'a' is already used by a.yaml; names must be unique" in _only_problem(folder)


def test_a_link_to_a_missing_node_is_reported(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": GOOD})
    graph = json.loads((folder / SD15).read_text())
    graph["3"]["inputs"]["model"] = ["44", 0]
    (folder / SD15).write_text(json.dumps(graph))
    message = _only_problem(folder)
    assert message.endswith("node '3' input 'model': links to node '44', which is not in the graph")


def test_all_problems_of_all_files_are_reported_at_once(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "a.yaml": GOOD + '  steps: {node: "3", input: stepz}\n  cfg: {node: "3", input: cfg, max: 1}\n',
            "b.yaml": "graph: nowhere.json\n",
            "c.yaml": "graph: [\n",
            "d.yaml": GOOD,
        },
    )
    with pytest.raises(WorkflowLoadError) as caught:
        load_workflows(folder)
    files = [Path(p.file or "").name for p in caught.value.problems]
    assert files == ["a.yaml", "a.yaml", "nowhere.json", "c.yaml"]
    text = str(caught.value)
    assert text.startswith("4 problems in the workflows:\n  - ")
    assert "stepz" in text
    assert "cfg" in text


def test_a_parameter_on_a_null_constant_is_reported_not_dropped(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.yaml": "graph: g.json\nparameters:\n  thing: {node: '1', input: x}\n"}, ())
    (folder / "g.json").write_text('{"1": {"class_type": "X", "inputs": {"x": null}}}')
    assert "node '1' input 'x': parameters.thing: holds None, which is not a str value" in _only_problem(folder)
