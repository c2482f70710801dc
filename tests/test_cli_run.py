"""`python -m discomfy run`: a real subprocess against the loopback fake ComfyUI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from testing.cli import run_discomfy
from testing.comfy_server import FakeComfy

REPO = Path(__file__).resolve().parents[1]

GRAPH = {
    "3": {
        "class_type": "TestSampler",
        "inputs": {"seed": 7, "steps": 3, "width": 64, "height": 64, "delay": 0.0, "text": "a lighthouse"},
    },
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "cli/test", "images": ["3", 0]}},
}


UI_TEMPLATE = Path(__file__).parent / "fixtures" / "workflows_ui" / "templates" / "default.json"


async def run_cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    return await run_discomfy("run", *args, cwd=cwd)


async def test_run_writes_outputs_and_prints_their_paths(fake_comfy: FakeComfy, tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, out, err = await run_cli(
        str(workflow), "--url", fake_comfy.url, "--out", str(tmp_path / "out"), "--set", "3.steps=2", cwd=tmp_path
    )
    assert code == 0, err
    printed = [Path(line) for line in out.splitlines() if line.startswith(str(tmp_path / "out"))]
    assert len(printed) == 1
    assert printed[0].exists()
    assert printed[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    posted = next(r.json for r in fake_comfy.requests if r.method == "POST" and r.path.endswith("/prompt"))
    assert posted["prompt"]["3"]["inputs"]["steps"] == 2
    assert posted["prompt"]["3"]["inputs"]["seed"] != 7, "a fresh seed unless --seed is given"
    assert "seeds:" in out


async def test_run_with_unreachable_comfyui_names_the_url_and_how_to_change_it(tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, _, err = await run_cli(str(workflow), "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert code == 3
    assert "http://127.0.0.1:9" in err
    assert "--url" in err


async def test_run_reports_a_rejected_workflow_in_plain_words(fake_comfy: FakeComfy, tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, _, err = await run_cli(str(workflow), "--url", fake_comfy.url, "--set", "3.steps=-4", cwd=tmp_path)
    assert code == 4
    assert "node 3 (TestSampler), input 'steps'" in err


async def test_a_ui_format_workflow_needs_the_server_to_be_converted(tmp_path: Path):
    workflow = tmp_path / "ui.json"
    workflow.write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    code, _, err = await run_cli(str(workflow), "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert code == 3
    assert "cannot read the node list of ComfyUI at http://127.0.0.1:9" in err


async def test_run_converts_a_ui_format_save_with_the_servers_node_list(fake_comfy: FakeComfy, tmp_path: Path):
    workflow = tmp_path / "ui.json"
    workflow.write_text(UI_TEMPLATE.read_text(encoding="utf-8"))
    code, _out, err = await run_cli(
        *(str(workflow), "--url", fake_comfy.url, "--out", str(tmp_path / "out"), "--seed", "7"),
        *("--set", "4.ckpt_name=v1-5-pruned-emaonly.safetensors"),
        cwd=tmp_path,
    )
    assert code == 0, err
    posted = next(r.json for r in fake_comfy.requests if r.method == "POST" and r.path.endswith("/prompt"))
    expected = json.loads(UI_TEMPLATE.with_suffix(".api.json").read_text(encoding="utf-8"))
    expected["3"]["inputs"]["seed"] = 7
    expected["4"]["inputs"]["ckpt_name"] = "v1-5-pruned-emaonly.safetensors"
    assert posted["prompt"] == expected


async def test_an_explicit_set_on_a_seed_input_wins_over_a_fresh_seed(fake_comfy: FakeComfy, tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, _out, err = await run_cli(
        str(workflow), "--url", fake_comfy.url, "--out", str(tmp_path / "out"), "--set", "3.seed=42", cwd=tmp_path
    )
    assert code == 0, err
    posted = next(r.json for r in fake_comfy.requests if r.method == "POST" and r.path.endswith("/prompt"))
    assert posted["prompt"]["3"]["inputs"]["seed"] == 42


async def test_seed_and_a_set_seed_together_are_refused(tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, _, err = await run_cli(
        str(workflow), "--url", "http://127.0.0.1:9", "--seed", "5", "--set", "3.seed=42", cwd=tmp_path
    )
    assert code == 2
    assert "--seed and --set 3.seed both set a seed" in err


async def test_a_url_with_a_password_is_refused_without_printing_it(tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, out, err = await run_cli(str(workflow), "--url", "http://admin:hunter2@127.0.0.1:9", cwd=tmp_path)
    assert code == 2
    assert "credentials do not belong in the URL" in err
    assert "hunter2" not in out + err


async def test_the_progress_line_names_the_node_that_reported_the_steps(fake_comfy: FakeComfy, tmp_path: Path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(GRAPH))
    code, out, err = await run_cli(
        str(workflow), "--url", fake_comfy.url, "--out", str(tmp_path / "out"), "--set", "3.steps=4", cwd=tmp_path
    )
    assert code == 0, err
    bars = [line for line in out.splitlines() if re.search(r" [0-4]/4 ", line)]  # `▰▰▱▱ 2/4  0.1s`
    misplaced = [line for line in bars if not line.startswith("running TestSampler (3)")]
    assert misplaced == []  # the sampler's steps were shown under SaveImage (9), the node that started next
