"""`python -m discomfy sweep`, `sheet` and `run` as real subprocesses against the loopback fake ComfyUI."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
from pathlib import Path

from testing.cli import run_discomfy as run_cli
from testing.cli import start_discomfy as start_cli
from testing.comfy_server import FakeComfy
from tests.test_cli_run import GRAPH, UI_TEMPLATE

REPO = Path(__file__).resolve().parents[1]
SWEEP = "workflow: wf.json\nstrategy: lhs\nsamples: 4\nrng_seed: 8\nparameters: {3.steps: {min: 1, max: 9}}\nout: out\n"


def write_files(tmp_path: Path) -> None:
    (tmp_path / "wf.json").write_text(json.dumps(GRAPH))
    (tmp_path / "sweep.yaml").write_text(SWEEP)


async def test_sweep_writes_its_folder_and_sheet_rebuilds_the_sheet(fake_comfy: FakeComfy, tmp_path: Path):
    write_files(tmp_path)
    code, out, err = await run_cli("sweep", "sweep.yaml", "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 0, err
    assert "lhs: 4 points" in out
    assert "4 done, 0 failed, 0 served from ComfyUI's cache" in out
    (folder,) = (tmp_path / "out").iterdir()
    assert {p.name for p in folder.iterdir()} >= {"config.yaml", "plan.json", "metadata.csv", "contact_sheet.html"}
    assert "rng_seed: 8" in (folder / "config.yaml").read_text()
    assert len(list(csv.DictReader((folder / "metadata.csv").open()))) == 4
    (folder / "contact_sheet.html").unlink()
    code, out, _ = await run_cli("sheet", str(folder), cwd=tmp_path)
    assert code == 0
    assert (folder / "contact_sheet.html").read_text().count("data:image/jpeg;base64,") == 4


async def test_rerunning_the_same_file_after_ctrl_c_resumes_the_sweep(fake_comfy: FakeComfy, tmp_path: Path):
    write_files(tmp_path)
    fake_comfy.hold()
    process = await start_cli("sweep", "sweep.yaml", "--url", fake_comfy.url, cwd=tmp_path)
    await fake_comfy.wait_until(lambda: len(fake_comfy.pending_prompt_ids) == 2, timeout=30)
    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert "run the same command to resume" in out.decode()
    fake_comfy.release()
    code, out_text, err = await run_cli("sweep", "sweep.yaml", "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 0, err
    assert "Resuming the unfinished sweep" in out_text
    assert fake_comfy.prompts_accepted == 4, "the two queued before Ctrl-C were re-attached, not sent again"
    (folder,) = (tmp_path / "out").iterdir()
    rows = list(csv.DictReader((folder / "metadata.csv").open()))
    assert [row["status"] for row in rows] == ["done"] * 4


async def test_a_bad_sweep_file_is_refused_before_anything_is_submitted(fake_comfy: FakeComfy, tmp_path: Path):
    write_files(tmp_path)
    (tmp_path / "sweep.yaml").write_text(SWEEP.replace("max: 9", "max: 20000"))
    code, _, err = await run_cli("sweep", "sweep.yaml", "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 2
    assert "parameters.3.steps" in err
    assert "above the maximum 10000" in err
    assert fake_comfy.prompts_received == 0


async def test_run_says_when_comfyui_served_the_prompt_from_its_cache(fake_comfy: FakeComfy, tmp_path: Path):
    (tmp_path / "wf.json").write_text(json.dumps(GRAPH))
    args = ("run", "wf.json", "--url", fake_comfy.url, "--seed", "5", "--out", "out")
    code, out, err = await run_cli(*args, cwd=tmp_path)
    assert code == 0, err
    assert "cache" not in out
    code, out, err = await run_cli(*args, cwd=tmp_path)
    assert code == 0, err
    assert "Served from ComfyUI's cache: nothing ran again." in out


async def test_a_sweep_of_a_ui_format_save_converts_it_with_the_servers_node_list(
    fake_comfy: FakeComfy, tmp_path: Path
):
    (tmp_path / "ui.json").write_text(UI_TEMPLATE.read_text(encoding="utf-8"))
    sweep = "workflow: ui.json\nstrategy: grid\nparameters: {3.cfg: {values: [4.0, 6.5]}}\n"
    sweep += "set: {4.ckpt_name: v1-5-pruned-emaonly.safetensors}\nout: out\n"
    (tmp_path / "sweep.yaml").write_text(sweep)
    code, out, err = await run_cli("sweep", "sweep.yaml", "--url", fake_comfy.url, cwd=tmp_path)
    assert code == 0, err
    assert "2 done, 0 failed" in out
    expected = json.loads(UI_TEMPLATE.with_suffix(".api.json").read_text(encoding="utf-8"))
    posted = [r.json["prompt"] for r in fake_comfy.requests if r.method == "POST" and r.path.endswith("/prompt")]
    assert sorted(p["3"]["inputs"]["cfg"] for p in posted) == [4.0, 6.5]
    assert all(p.keys() == expected.keys() for p in posted)
    assert all(p["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors" for p in posted)
