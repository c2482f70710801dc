"""metadata.csv: one row per run (every varied value, seed, prompt_id, status, seconds, cache use, files), for a
spreadsheet or pandas; replaced whole, never seen half written."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from discomfy.sweep.state import RunState

if TYPE_CHECKING:
    from discomfy.sweep.folder import SweepFolder
    from discomfy.sweep.plan import Plan

FIXED_COLUMNS = ("seed", "prompt_id", "status", "seconds", "cached", "cached_nodes", "files", "error", "folder")


def metadata_rows(plan: Plan, states: Mapping[int, RunState]) -> list[dict[str, Any]]:
    """The rows of metadata.csv, one per planned run, in plan order."""
    rows = []
    for run in plan.runs:
        state = states.get(run.index) or RunState(run.index)
        row: dict[str, Any] = {"index": run.index, **run.values}
        row |= {
            "seed": "" if run.seed is None else run.seed,
            "prompt_id": state.prompt_id or "",
            "status": state.status.value,
            "seconds": "" if state.seconds is None else f"{state.seconds:.3f}",
            "cached": state.cache.value,
            "cached_nodes": " ".join(state.cached_nodes),
            "files": ";".join(state.files),
            "error": state.error,
            "folder": f"runs/{run.name}",
        }
        rows.append(row)
    return rows


def write_metadata(folder: SweepFolder, plan: Plan, states: Mapping[int, RunState]) -> None:
    columns = ["index", *plan.names, *FIXED_COLUMNS]
    partial = folder.metadata.with_suffix(".csv.part")
    with partial.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(metadata_rows(plan, states))
    os.replace(partial, folder.metadata)
