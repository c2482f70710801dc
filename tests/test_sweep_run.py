"""Sweeps on the fake ComfyUI over loopback: pipelining, resume after a kill or a ComfyUI restart (no run lost, none
run twice), cache marking, metadata.csv and the contact sheet's contents."""

from __future__ import annotations

import asyncio
import csv
import json
import random
import re
from pathlib import Path

import pytest

from discomfy.comfy import ComfyService, ComfySettings
from discomfy.sweep.folder import SweepFolder
from discomfy.sweep.plan import Plan, make_plan
from discomfy.sweep.runner import SweepRunner
from discomfy.sweep.spec import parse_sweep
from discomfy.sweep.state import RunState, RunStatus, SweepState, read_states
from discomfy.sweep.target import resolve_workflow
from testing.comfy_server import FakeComfy
from tests.test_cli_run import GRAPH

SWEEP = "workflow: wf.json\nseeds_per_sample: 2\nrng_seed: 3\nparameters: {3.steps: {values: [1, 2, 3]}}\n"


class RecordingComfy(FakeComfy):
    """The fake, noting its queue each time a prompt finishes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.pending_at_finish: list[list[str]] = []
        self.finished: list[str] = []

    def prompt_finished(self, prompt_id: str) -> None:
        self.pending_at_finish.append(self.pending_prompt_ids)
        self.finished.append(prompt_id)


def new_sweep(tmp_path: Path, text: str = SWEEP) -> tuple[Plan, SweepFolder]:
    (tmp_path / "wf.json").write_text(json.dumps(GRAPH))
    spec = parse_sweep(text, file="sweep.yaml")
    plan = make_plan(spec, resolve_workflow(spec.workflow, base=tmp_path, workflows_dir=None), None)
    folder = SweepFolder.new(tmp_path / "out", "wf.json")
    folder.initialize(plan, text)
    return plan, folder


async def run_sweep(
    fake: FakeComfy, plan: Plan, folder: SweepFolder, *, stop_after: int | None = None, in_flight: int = 2
) -> SweepState:
    """Run (or resume) the sweep in `folder`; with `stop_after`, kill it at its Nth recorded change."""
    state = SweepState.open(folder.root, (run.index for run in plan.runs))
    settings = ComfySettings(
        url=fake.url, download_dir=folder.downloads, reconnect_min_delay=0.05, reconnect_max_delay=0.2
    )
    changes = 0
    task: asyncio.Task[None] | None = None

    def changed(_: RunState) -> None:
        nonlocal changes
        changes += 1
        if changes == stop_after and task is not None:
            task.cancel()

    async with ComfyService(settings, client_id=state.client_id) as comfy:
        runner = SweepRunner(comfy, plan, folder, state, in_flight=in_flight, on_change=changed)
        task = asyncio.create_task(runner.run())
        try:
            await asyncio.wait_for(task, 30)
        except asyncio.CancelledError:
            assert stop_after is not None
        finally:
            state.close()
    return state


def executions(fake: FakeComfy) -> dict[tuple[int, int], int]:
    """How many times the fake ran each (steps, seed) to its end."""
    counts: dict[tuple[int, int], int] = {}
    for entry in fake.history.values():
        inputs = entry["prompt"][2]["3"]["inputs"]
        key = (inputs["steps"], inputs["seed"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def assert_every_run_done_once(fake: FakeComfy, plan: Plan, folder: SweepFolder) -> None:
    states = read_states(folder.root)
    assert [states[run.index].status for run in plan.runs] == [RunStatus.DONE] * len(plan.runs)
    for run in plan.runs:
        files = states[run.index].files
        assert files, run.name
        assert all((folder.root / name).is_file() for name in files)
        assert (folder.run_dir(run) / "params.json").is_file()
    assert executions(fake) == {(run.values["3.steps"], run.seed): 1 for run in plan.runs}


async def test_a_sweep_runs_every_planned_run_once_and_records_it(fake_comfy: FakeComfy, tmp_path: Path):
    plan, folder = new_sweep(tmp_path)
    await run_sweep(fake_comfy, plan, folder)
    assert_every_run_done_once(fake_comfy, plan, folder)
    params = json.loads((folder.run_dir(plan.runs[3]) / "params.json").read_text())
    assert params["inputs"] == {"3.steps": plan.runs[3].values["3.steps"], "3.seed": plan.runs[3].seed}
    assert not any(folder.downloads.iterdir()), "each run's files moved into its folder"


@pytest.mark.parametrize("kill_at", sorted(random.Random(14).sample(range(1, 12), 6)))
async def test_a_sweep_killed_at_any_point_resumes_without_losing_or_repeating_a_run(
    fake_comfy: FakeComfy, tmp_path: Path, kill_at: int
):
    plan, folder = new_sweep(tmp_path)
    first = await run_sweep(fake_comfy, plan, folder, stop_after=kill_at)
    assert any(not run.finished for run in first.runs.values()), "killed before the end"
    await run_sweep(fake_comfy, plan, folder)
    assert_every_run_done_once(fake_comfy, plan, folder)


async def test_runs_lost_in_a_comfyui_restart_are_submitted_again(fake_comfy_factory, tmp_path: Path):
    fake: FakeComfy = await fake_comfy_factory()
    plan, folder = new_sweep(tmp_path)
    fake.hold()
    task = asyncio.create_task(run_sweep(fake, plan, folder))
    await fake.wait_until(lambda: len(fake.pending_prompt_ids) == 2)
    lost = set(fake.pending_prompt_ids)
    await fake.restart(downtime=0.2)
    fake.release()
    await asyncio.wait_for(task, 30)
    assert_every_run_done_once(fake, plan, folder)
    states = read_states(folder.root)
    assert lost.isdisjoint(s.prompt_id for s in states.values()), "lost runs went in again under new prompt_ids"
    assert sorted(s.attempts for s in states.values()) == [1] * 4 + [2, 2]


async def test_with_in_flight_2_the_next_prompt_is_always_queued_when_one_finishes(tmp_path: Path):
    async with RecordingComfy() as fake:
        plan, folder = new_sweep(tmp_path)
        fake.hold()
        task = asyncio.create_task(run_sweep(fake, plan, folder, in_flight=2))
        for done in range(len(plan.runs)):
            left = len(plan.runs) - done
            await fake.wait_until(lambda left=left: len(fake.pending_prompt_ids) == min(2, left))
            fake.release(1)
            await fake.wait_until(lambda done=done: len(fake.finished) == done + 1)
        await asyncio.wait_for(task, 30)
    assert [len(pending) for pending in fake.pending_at_finish] == [1] * (len(plan.runs) - 1) + [0]
    assert fake.prompts_accepted == len(plan.runs)


async def test_runs_comfyui_served_from_its_cache_are_marked(fake_comfy: FakeComfy, tmp_path: Path):
    text = "workflow: wf.json\nseeds: [5]\nparameters: {9.filename_prefix: {values: [sweep/a, sweep/b]}}\n"
    plan, folder = new_sweep(tmp_path, text)
    await run_sweep(fake_comfy, plan, folder)
    assert [s.cache for s in read_states(folder.root).values()] == ["", "partial"], "the sampler's output reused"
    assert read_states(folder.root)[2].cached_nodes == ("3",)
    again, second = new_sweep(
        tmp_path, "workflow: wf.json\nseeds: [5]\nparameters: {9.filename_prefix: {values: [sweep/b]}}\n"
    )
    await run_sweep(fake_comfy, again, second)
    assert [s.cache for s in read_states(second.root).values()] == ["all"], "an identical prompt runs nothing"
    rows = list(csv.DictReader(second.metadata.open()))
    assert [(row["cached"], row["cached_nodes"]) for row in rows] == [("all", "3 9")]
    assert second.sheet.read_text().count('<span class="badge cache">cached</span>') == 1
    assert folder.sheet.read_text().count('<span class="badge part">part cached</span>') == 1


async def test_metadata_and_the_sheet_hold_every_run_with_its_values_and_thumbnail(
    fake_comfy: FakeComfy, tmp_path: Path
):
    plan, folder = new_sweep(tmp_path)
    await run_sweep(fake_comfy, plan, folder)
    rows = list(csv.DictReader(folder.metadata.open()))
    assert list(rows[0]) == [
        "index",
        "3.steps",
        "seed",
        "prompt_id",
        "status",
        "seconds",
        "cached",
        "cached_nodes",
        "files",
        "error",
        "folder",
    ]
    assert [(int(r["index"]), int(r["3.steps"]), int(r["seed"])) for r in rows] == [
        (run.index, run.values["3.steps"], run.seed) for run in plan.runs
    ]
    assert all(r["status"] == "done" and float(r["seconds"]) >= 0 and r["files"].endswith(".png") for r in rows)
    page = folder.sheet.read_text()
    data = json.loads(re.search(r'<script type="application/json" id="sweep-data">(.*?)</script>', page, re.S)[1])
    assert data["parameters"] == ["3.steps"]
    assert [(r["index"], r["values"], r["seed"]) for r in data["runs"]] == [
        (run.index, dict(run.values), run.seed) for run in plan.runs
    ]
    for run in plan.runs:
        figure = re.search(rf'<figure class="run done" data-index="{run.index}".*?</figure>', page, re.S)
        assert figure, run.index
        assert '<img src="data:image/jpeg;base64,' in figure[0]
        assert f'href="runs/{run.name}/' in figure[0]
    assert not re.search(r'(src|href)="(https?:)?//', page), "no network references"
    assert 'id="sort"' in page
    assert 'id="rows"' in page
    assert 'id="cols"' in page
    assert '<meta http-equiv="refresh"' not in page, "a finished sweep's page stops reloading"
