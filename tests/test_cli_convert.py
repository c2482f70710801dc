"""`python -m discomfy convert`: a real subprocess, the node list from the loopback fake ComfyUI or a file."""

from __future__ import annotations

import json
from pathlib import Path

from testing.cli import run_discomfy
from testing.comfy_server import FakeComfy

FIXTURES = Path(__file__).parent / "fixtures" / "workflows_ui"
UI = FIXTURES / "templates" / "default.json"


async def test_convert_asks_the_server_and_writes_what_export_api_writes(fake_comfy: FakeComfy, tmp_path: Path):
    target = tmp_path / "api.json"
    code, _, err = await run_discomfy("convert", str(UI), "-o", str(target), "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 0, err
    assert json.loads(target.read_text()) == json.loads(UI.with_suffix(".api.json").read_text())
    assert any(r.path.endswith("/object_info") for r in fake_comfy.requests)


async def test_convert_works_offline_from_a_saved_object_info(tmp_path: Path):
    code, out, err = await run_discomfy(
        "convert", str(FIXTURES / "group_node.json"), "--object-info", str(FIXTURES / "object_info.json"), cwd=tmp_path
    )
    assert code == 0, err
    assert json.loads(out) == json.loads((FIXTURES / "group_node.api.json").read_text())


async def test_convert_without_a_reachable_server_says_it_needs_one(tmp_path: Path):
    code, _, err = await run_discomfy("convert", str(UI), "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert code == 2
    assert "cannot read the node list of ComfyUI at http://127.0.0.1:9" in err
    assert "--object-info FILE" in err


async def test_convert_names_nodes_the_server_cannot_run(tmp_path: Path):
    data = json.loads(UI.read_text())
    data["nodes"].append({"id": 50, "type": "VHS_LoadVideo", "mode": 0, "inputs": [], "outputs": []})
    source = tmp_path / "ui.json"
    source.write_text(json.dumps(data))
    code, out, err = await run_discomfy(
        "convert", str(source), "--object-info", str(FIXTURES / "object_info.json"), cwd=tmp_path
    )
    assert (code, out) == (2, "")
    assert "node '50' (VHS_LoadVideo): the ComfyUI server has no node class 'VHS_LoadVideo'" in err
    assert "ComfyUI-VideoHelperSuite" in err
