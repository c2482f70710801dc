"""Sweep plans: every name and value checked before anything is submitted (mapping, server, grid size), and a plan
that reproduces from its RNG seed and survives plan.json (pure, on files in tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from discomfy.comfy.object_info import ObjectInfo
from discomfy.sweep.errors import SweepError
from discomfy.sweep.plan import Plan, make_plan
from discomfy.sweep.spec import parse_sweep
from discomfy.sweep.target import mapping_beside, resolve_workflow
from discomfy.sweep.template import render_sweep_template
from discomfy.workflows import analyze_graph, load_graph

GRAPH = {
    "3": {
        "class_type": "TestSampler",
        "inputs": {"seed": 7, "steps": 3, "width": 64, "height": 64, "delay": 0.0, "text": ["6", 0]},
    },
    "6": {"class_type": "PrimitiveString", "inputs": {"value": "a lighthouse"}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "sweep/test", "images": ["3", 0]}},
}
MAPPING = """
title: Tiny
graph: wf.json
outputs: ["9"]
parameters:
  prompt: {node: "6", input: value, type: str, required: true, max_length: 100}
  steps: {node: "3", input: steps, type: int, min: 1, max: 50}
  size: {node: "3", input: width, type: int, min: 64, max: 512, multiple_of: 64}
  delay: {node: "3", input: delay, type: float, min: 0, max: 1}
"""
INFO = ObjectInfo(
    {
        "TestSampler": {
            "input": {
                "required": {
                    "seed": ["INT", {"min": 0, "max": 2**64 - 1}],
                    "steps": ["INT", {"min": 1, "max": 10000}],
                    "width": ["INT", {"min": 16, "max": 4096, "step": 8}],
                    "height": ["INT", {"min": 16, "max": 4096, "step": 8}],
                    "delay": ["FLOAT", {"min": 0.0, "max": 60.0}],
                    "text": ["STRING", {}],
                },
                "optional": {"denoise": ["FLOAT", {"min": 0.0, "max": 1.0}]},
            }
        },
        "SaveImage": {"input": {"required": {"filename_prefix": ["STRING", {}]}}},
    }
)


def plan_of(tmp_path: Path, text: str, *, mapped: bool = False, info: ObjectInfo | None = None) -> Plan:
    (tmp_path / "wf.json").write_text(json.dumps(GRAPH))
    if mapped:
        (tmp_path / "wf.yaml").write_text(MAPPING)
    spec = parse_sweep(text, file="sweep.yaml")
    workflow = resolve_workflow(spec.workflow, base=tmp_path, workflows_dir=None)
    return make_plan(spec, workflow, info)


def test_an_unknown_name_is_refused_naming_the_key_and_what_the_mapping_offers(tmp_path: Path):
    with pytest.raises(SweepError) as caught:
        plan_of(tmp_path, "workflow: wf.json\nparameters: {cfg: {min: 1, max: 8, count: 3}}", mapped=True)
    assert "parameters.cfg" in str(caught.value)
    assert "use one of: prompt, steps, size, delay," in str(caught.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("12.steps", "no node '12'"), ("3.cfg", "has no input 'cfg'"), ("3.text", "wired to node '6'")],
)
def test_a_node_input_that_does_not_exist_or_is_wired_is_refused(tmp_path: Path, name: str, reason: str):
    with pytest.raises(SweepError, match=reason) as caught:
        plan_of(tmp_path, f"workflow: wf.json\nparameters: {{'{name}': {{values: [1, 2]}}}}")
    assert f"parameters.{name}" in str(caught.value)


def test_a_range_beyond_the_mappings_limits_is_refused_with_them(tmp_path: Path):
    with pytest.raises(SweepError, match=r"parameters.steps.*from 1 to 50"):
        plan_of(
            tmp_path,
            "workflow: wf.json\nset: {prompt: x}\nparameters: {steps: {min: 10, max: 80, step: 10}}",
            mapped=True,
        )


def test_a_range_beyond_the_servers_limits_is_refused_before_anything_runs(tmp_path: Path):
    text = "workflow: wf.json\nparameters: {3.delay: {min: 30, max: 90, count: 3}}"
    with pytest.raises(SweepError, match=r"parameters.3.delay.*above the maximum 60"):
        plan_of(tmp_path, text, info=INFO)
    assert plan_of(tmp_path, text).runs, "without the server's word the mapping-free input is taken as is"


def test_a_fixed_value_is_checked_too(tmp_path: Path):
    with pytest.raises(SweepError, match=r"set.prompt.*too long"):
        plan_of(tmp_path, f"workflow: wf.json\nset: {{prompt: {'x' * 101}}}\nseeds: [1, 2]", mapped=True)


def test_a_grid_larger_than_max_runs_is_refused_with_its_size(tmp_path: Path):
    text = "workflow: wf.json\nseeds_per_sample: 4\nparameters: {3.steps: {min: 1, max: 100, step: 1}}\nmax_runs: 300"
    with pytest.raises(SweepError, match=r"max_runs.*400 runs.*\(300\)"):
        plan_of(tmp_path, text)


def test_a_grid_over_a_range_needs_step_or_count(tmp_path: Path):
    with pytest.raises(SweepError, match=r"parameters.3.delay.*step: or count:"):
        plan_of(tmp_path, "workflow: wf.json\nparameters: {3.delay: {min: 0, max: 1}}")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("strategy: sobol\nparameters: {3.steps: {values: [1]}}", "needs samples"),
        ("parameters: {3.steps: {min: 5, max: 1, step: 1}}", "min \\(5\\) is above max \\(1\\)"),
        ("parameters: {3.steps: {values: [1], min: 1}}", "either values"),
        ("parameters: {3.steps: {min: 1}}", "needs min and max"),
        ("in_flight: 0\nseeds: [1, 2]", "in_flight"),
        ("colour: red\nseeds: [1, 2]", "colour"),
        ("seeds: [1, 2]\nseeds_per_sample: 2", "not both"),
        ("{}", "nothing varies"),
    ],
)
def test_a_bad_sweep_file_names_the_key(tmp_path: Path, text: str, reason: str):
    with pytest.raises(SweepError, match=reason):
        plan_of(tmp_path, "workflow: wf.json\n" + text if text != "{}" else "workflow: wf.json")


def test_seeds_are_refused_for_a_workflow_whose_seed_the_sweep_itself_varies(tmp_path: Path):
    with pytest.raises(SweepError, match="no seed input"):
        plan_of(tmp_path, "workflow: wf.json\nseeds_per_sample: 2\nparameters: {3.seed: {values: [1, 2]}}")


def test_mapped_names_set_every_target_and_sampled_sizes_keep_the_mappings_multiple(tmp_path: Path):
    text = (
        "workflow: wf.json\nstrategy: lhs\nsamples: 20\nrng_seed: 11\nset: {prompt: a fox}\n"
        "parameters: {size: {min: 64, max: 512}, delay: {min: 0, max: 0.5}}"
    )
    plan = plan_of(tmp_path, text, mapped=True, info=INFO)
    for run in plan.runs:
        graph = plan.graph_for(run)
        assert graph["3"]["inputs"]["width"] == run.values["size"]
        assert run.values["size"] % 64 == 0
        assert 0 <= run.values["delay"] <= 0.5
        assert graph["6"]["inputs"]["value"] == "a fox"
        assert graph["3"]["inputs"]["seed"] == run.seed


def test_a_plan_is_the_same_from_the_same_rng_seed_and_survives_plan_json(tmp_path: Path):
    text = (
        "workflow: wf.json\nstrategy: sobol\nsamples: 8\nseeds_per_sample: 2\nrng_seed: 42\n"
        "parameters: {3.steps: {min: 2, max: 30}, 3.delay: {values: [0.0, 0.01]}}"
    )
    plan = plan_of(tmp_path, text)
    assert plan.runs == plan_of(tmp_path, text).runs
    assert len(plan.runs) == 2 * plan.points
    assert len({run.seed for run in plan.runs}) == 2, "every point runs with the same seeds, so points compare"
    copy = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    assert copy == plan
    assert [copy.graph_for(run) for run in copy.runs] == [plan.graph_for(run) for run in plan.runs]
    assert all(isinstance(run.values["3.steps"], int) for run in plan.runs)


def test_the_template_analyze_writes_is_a_sweep_that_plans_on_the_server_it_was_made_for(tmp_path: Path):
    repo = Path(__file__).resolve().parents[1]
    info = ObjectInfo(json.loads((repo / "tests/fixtures/workflows/object_info.json").read_text()))
    graph = load_graph(repo / "workflows/txt2img_sdxl.json")
    workflow = str(repo / "workflows/txt2img_sdxl.json")
    mapping = mapping_beside(Path(workflow))
    text = render_sweep_template(analyze_graph(graph, info), graph, workflow=workflow, info=info, mapping=mapping)
    spec = parse_sweep(text, file="template.yaml")
    assert {"steps", "cfg", "sampler", "scheduler", "denoise"} <= set(spec.parameters)
    assert "prompt" in spec.set
    plan = make_plan(spec, resolve_workflow(spec.workflow, base=tmp_path, workflows_dir=None), info)
    assert 1 <= len(plan.runs) <= 16
