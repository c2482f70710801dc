"""`analyze`: sensible, unique parameters for any API graph, and a mapping that loads as written."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discomfy.cli.main import main
from discomfy.comfy.object_info import ObjectInfo
from discomfy.workflows import (
    Analysis,
    Group,
    InputRef,
    ParamType,
    analyze_graph,
    build_workflow,
    load_graph,
    load_workflows,
    render_template,
)
from discomfy.workflows.model import WorkflowSpec

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "workflows"
OFFLINE = ("--url", "http://127.0.0.1:9")  # no server: DisComfy's own guesses
GRAPHS = sorted([*(ROOT / "workflows").glob("*.json"), *FIXTURES.glob("*.json")], key=lambda p: p.name)
API_GRAPHS = [p for p in GRAPHS if p.name not in ("ui_format.json", "object_info.json")]
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _analysis(name: str) -> Analysis:
    return analyze_graph(load_graph(FIXTURES / name))


def _by_name(analysis: Analysis) -> dict[str, object]:
    return {t.name: t for t in analysis.tunables}


def _targets(analysis: Analysis, name: str) -> list[str]:
    return [str(ref) for ref in _by_name(analysis)[name].targets]  # type: ignore[attr-defined]


def test_positive_and_negative_prompts_follow_links_not_titles() -> None:
    graph = load_graph(ROOT / "workflows" / "txt2img_sd15.json")
    graph["6"]["_meta"]["title"] = "Negative prompt"  # wired to KSampler.positive
    graph["7"]["_meta"]["title"] = "Positive prompt"  # wired to KSampler.negative
    analysis = analyze_graph(graph)
    assert _targets(analysis, "prompt") == ["6.text"]
    assert _targets(analysis, "negative") == ["7.text"]


def test_flux_lora_graph_names_loras_in_order_and_finds_the_string_primitive() -> None:
    analysis = _analysis("flux_lora_hires.json")
    names = [t.name for t in analysis.tunables]
    for name in ("lora", "lora_strength", "lora_clip_strength", "lora_2", "lora_2_strength"):
        assert name in names
    assert _targets(analysis, "lora_3") == ["6.lora_name"]
    assert _targets(analysis, "lora_3_strength") == ["6.strength_model"]
    assert _targets(analysis, "prompt") == ["8.value"]  # the text lives on the primitive
    assert "negative" not in names  # Flux dev has none
    assert _targets(analysis, "width") == ["7.width", "16.width"]  # latent and ModelSamplingFlux
    assert _targets(analysis, "steps") == ["15.steps"]
    assert _targets(analysis, "steps_2") == ["26.steps"]  # the hires pass
    assert [str(t.targets[0]) for t in analysis.seeds] == ["12.seed", "24.noise_seed"]
    assert analysis.outputs == ("19", "29", "32")


def test_qwen_edit_graph_offers_each_input_image_and_finds_the_negative_by_link() -> None:
    analysis = _analysis("qwen_image_edit.json")
    images = analysis.group(Group.IMAGES)
    assert [(t.name, str(t.targets[0]), t.required) for t in images] == [
        ("image", "78.image", True),
        ("image_2", "106.image", True),
        ("image_3", "108.image", True),
    ]
    assert all(t.type is ParamType.IMAGE for t in images)
    assert _targets(analysis, "prompt") == ["115:111.prompt"]
    assert _targets(analysis, "negative") == ["115:110.prompt"]
    assert _by_name(analysis)["prompt"].required  # type: ignore[attr-defined]


def test_wan_two_pass_video_graph_shares_sampler_settings_and_fps() -> None:
    analysis = _analysis("wan22_i2v.json")
    assert analysis.kind == "video"
    assert _targets(analysis, "steps") == ["57.steps", "58.steps"]
    assert _targets(analysis, "sampler") == ["57.sampler_name", "58.sampler_name"]
    assert _targets(analysis, "fps") == ["60.fps", "62.frame_rate"]
    assert _targets(analysis, "frames") == ["50.length"]
    assert _targets(analysis, "prompt") == ["6.text"]  # through WanImageToVideo.positive
    assert _targets(analysis, "negative") == ["7.text"]
    assert {t.name for t in analysis.group(Group.VIDEO)} == {"frames", "fps"}


def test_upscale_graph_without_seed_or_prompt_still_gets_its_inputs() -> None:
    analysis = _analysis("upscale_only.json")
    assert analysis.seeds == ()
    assert [t.name for t in analysis.tunables] == ["scale_by", "upscale_model", "image"]


def test_rarely_tuned_inputs_are_marked_advanced() -> None:
    advanced = {t.name for t in _analysis("flux_lora_hires.json").tunables if t.advanced}
    assert advanced == {"text_encoder", "text_encoder_2", "vae", "upscale_model"}


@pytest.mark.parametrize("path", API_GRAPHS, ids=lambda p: p.stem)
def test_parameter_names_are_unique_and_fit_for_discord(path: Path) -> None:
    names = [t.name for t in analyze_graph(load_graph(path)).tunables]
    assert len(names) == len(set(names))
    assert all(NAME_RE.fullmatch(n) for n in names), names


def _required_values(spec: WorkflowSpec) -> dict[str, str]:
    return {p.name: ("in.png" if p.type is ParamType.IMAGE else "a prompt") for p in spec.parameters if p.required}


@pytest.mark.parametrize("path", API_GRAPHS, ids=lambda p: p.stem)
def test_every_generated_template_loads_and_builds_without_edits(tmp_path: Path, path: Path) -> None:
    graph = load_graph(path)
    shutil.copy(path, tmp_path / path.name)
    text = render_template(analyze_graph(graph), name="t", graph_file=path.name)
    (tmp_path / "t.yaml").write_text(text, encoding="utf-8")
    spec = load_workflows(tmp_path).get("t")
    built = build_workflow(spec, _required_values(spec), seed=7)
    assert set(built.seeds) == set(spec.seed_inputs)
    assert all(v == 7 for v in built.seeds.values())
    assert spec.graph == graph


def test_object_info_turns_choices_into_what_the_server_offers() -> None:
    info = ObjectInfo(json.loads((FIXTURES / "object_info.json").read_text()))
    graph = load_graph(FIXTURES / "flux_lora_hires.json")
    tunables = {t.name: t for t in analyze_graph(graph, info).tunables}
    sampler = tunables["sampler"].choices or ()
    assert sampler[0] == "euler"
    assert "dpmpp_2m" in sampler
    assert len(sampler) > 30
    lora_2 = tunables["lora_2"].choices or ()
    assert lora_2[0] == "film_grain_flux.safetensors"  # kept so the template loads
    assert "flux_realism_lora.safetensors" in lora_2


# --- property: any graph -----------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_VALUES = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    _TEXT,
    st.sampled_from(["yes", "null", "~", "1e3", "a: b", "- x", "#", "'", '"']),
)
_INPUT_NAMES = st.sampled_from(
    ["seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", "width",
     "height", "batch_size", "length", "fps", "frame_rate", "text", "prompt", "value",
     "ckpt_name", "lora_name", "strength_model", "strength_clip", "image", "clip", "guidance",
     "shift", "megapixels", "scale_by", "positive", "negative", "conditioning", "custom_thing"]
)  # fmt: skip
_CLASSES = st.sampled_from(
    ["KSampler", "CLIPTextEncode", "LoraLoader", "LoadImage", "SaveImage", "EmptyLatentImage",
     "TextEncodeQwenImageEditPlus", "PrimitiveStringMultiline", "My Custom Node", "VHS_VideoCombine"]
)  # fmt: skip


@st.composite
def api_graphs(draw: st.DrawFn) -> dict:
    count = draw(st.integers(1, 8))
    graph: dict = {}
    for index in range(1, count + 1):
        inputs = {}
        for name in draw(st.lists(_INPUT_NAMES, max_size=6, unique=True)):
            earlier = [str(i) for i in range(1, index)]
            if earlier and draw(st.booleans()):
                inputs[name] = [draw(st.sampled_from(earlier)), draw(st.integers(0, 2))]
            else:
                inputs[name] = draw(_VALUES)
        cls = draw(_CLASSES)
        graph[str(index)] = {"inputs": inputs, "class_type": cls, "_meta": {"title": draw(_TEXT)}}
    return graph


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=api_graphs())
def test_for_any_graph_the_template_loads_and_builds(tmp_path: Path, graph: dict) -> None:
    folder = tmp_path / "any"
    folder.mkdir(exist_ok=True)
    (folder / "g.json").write_text(json.dumps(graph), encoding="utf-8")
    analysis = analyze_graph(copy.deepcopy(graph))
    (folder / "g.yaml").write_text(render_template(analysis, name="g", graph_file="g.json"))
    spec = load_workflows(folder).get("g")
    built = build_workflow(spec, _required_values(spec))
    assert spec.graph == graph
    for param in spec.parameters:
        for ref in param.targets:
            assert built.graph[ref.node]["inputs"][ref.input] == built.values[param.name]
    assert {str(t.targets[0]) for t in analysis.seeds} == {str(r) for r in spec.seed_inputs}


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def flux_copy(tmp_path: Path) -> Path:
    target = tmp_path / "flux_lora_hires.json"
    shutil.copy(FIXTURES / "flux_lora_hires.json", target)
    return target


def test_analyze_prints_groups_and_writes_the_mapping_beside_the_json(
    flux_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(flux_copy), *OFFLINE]) == 0
    out = capsys.readouterr().out
    for heading in ("Seeds (", "Prompts:", "Sampling:", "Resolution:", "Models and LoRAs:"):
        assert heading in out
    assert "12.seed" in out
    mapping = flux_copy.with_suffix(".yaml")
    assert f"Wrote {mapping}" in out
    spec = load_workflows(flux_copy.parent).get("flux_lora_hires")
    assert spec.seed_inputs == (InputRef("12", "seed"), InputRef("24", "noise_seed"))


def test_analyze_keeps_an_existing_mapping_unless_forced(flux_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = flux_copy.with_suffix(".yaml")
    mapping.write_text("# mine\n", encoding="utf-8")
    assert main(["analyze", str(flux_copy), *OFFLINE]) == 0
    assert "exists; left as it is (--force replaces it)" in capsys.readouterr().out
    assert mapping.read_text() == "# mine\n"
    assert main(["analyze", str(flux_copy), "--force", *OFFLINE]) == 0
    assert mapping.read_text().startswith("# DisComfy mapping for flux_lora_hires.json")


def test_analyze_no_write_only_prints(flux_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(flux_copy), "--no-write", *OFFLINE]) == 0
    assert "Prompts:" in capsys.readouterr().out
    assert not flux_copy.with_suffix(".yaml").exists()


def test_analyze_writes_to_another_folder_with_a_relative_graph_path(flux_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps" / "flux.yaml"
    out.parent.mkdir()
    assert main(["analyze", str(flux_copy), "--output", str(out), "--name", "flux", *OFFLINE]) == 0
    assert "graph: ../flux_lora_hires.json" in out.read_text()
    assert load_workflows(out.parent).get("flux").graph_path.name == "flux_lora_hires.json"


def test_analyze_uses_a_saved_object_info_for_choices(flux_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["analyze", str(flux_copy), "--object-info", str(FIXTURES / "object_info.json")])
    assert code == 0
    assert "dpmpp_2m_sde" in flux_copy.with_suffix(".yaml").read_text()


def test_analyze_of_a_ui_format_file_without_the_server_says_it_needs_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["analyze", str(FIXTURES / "ui_format.json"), "--no-write", *OFFLINE]) == 2
    err = capsys.readouterr().err
    assert "cannot read the node list of ComfyUI at http://127.0.0.1:9" in err
    assert "--object-info FILE" in err


def test_analyze_refuses_a_bad_name(flux_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(flux_copy), "--name", "Not Valid", *OFFLINE]) == 2
    assert "--name 'Not Valid'" in capsys.readouterr().err


def test_python_dash_m_discomfy_analyze_runs(flux_copy: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "discomfy", "analyze", str(flux_copy), "--no-write", *OFFLINE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Models and LoRAs:" in result.stdout
