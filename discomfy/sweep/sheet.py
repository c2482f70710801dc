"""contact_sheet.html: every run of a sweep in one self-contained page (thumbnails inlined, no network): sort and
filter by any parameter, rows and columns by two of them (an XY view), click to see the full image or play the video.
Rewritten as runs finish; while runs remain, the page reloads itself and keeps its view (in the address's #hash)."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discomfy.sweep.state import RunState, RunStatus

if TYPE_CHECKING:
    from discomfy.sweep.folder import SweepFolder
    from discomfy.sweep.plan import Plan, PlannedRun

RELOAD_SECONDS = 10
BADGES = {"all": '<span class="badge cache">cached</span>', "partial": '<span class="badge part">part cached</span>'}
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".mkv", ".m4v"})


def sheet_data(folder: SweepFolder, plan: Plan, states: Mapping[int, RunState]) -> dict[str, Any]:
    """What the page's script sorts, filters and groups: the parameters and one entry per run."""
    runs = []
    for run in plan.runs:
        state = states.get(run.index) or RunState(run.index)
        runs.append(
            {
                "index": run.index,
                "values": dict(run.values),
                "seed": run.seed,
                "status": state.status.value,
                "seconds": state.seconds,
                "cache": state.cache.value,
                "cached_nodes": list(state.cached_nodes),
                "files": list(state.files),
                "folder": f"runs/{run.name}",
                "error": state.error,
            }
        )
    return {"workflow": plan.workflow, "strategy": plan.strategy.value, "parameters": list(plan.names), "runs": runs}


def write_sheet(folder: SweepFolder, plan: Plan, states: Mapping[int, RunState]) -> Path:
    """Write the page (replacing the old one whole) and return its path."""
    data = sheet_data(folder, plan, states)
    finished = sum(1 for r in data["runs"] if r["status"] in (RunStatus.DONE, RunStatus.FAILED))
    cards = "\n".join(_card(folder, run, entry) for run, entry in zip(plan.runs, data["runs"], strict=True))
    reload = "" if finished == len(plan.runs) else f'<meta http-equiv="refresh" content="{RELOAD_SECONDS}">'
    cached = sum(1 for r in data["runs"] if r["cache"] == "all")
    failed = sum(1 for r in data["runs"] if r["status"] == RunStatus.FAILED)
    summary = (
        f"{plan.describe()}. {finished} of {len(plan.runs)} finished, {failed} failed, "
        f"{cached} served from ComfyUI's cache. RNG seed {plan.rng_seed}."
    )
    page = PAGE.format(
        title=html.escape(f"Sweep of {plan.workflow}"),
        reload=reload,
        summary=html.escape(summary),
        cards=cards,
        data=json.dumps(data).replace("</", "<\\/"),
        style=_asset("sheet.css"),
        script=_asset("sheet.js"),
    )
    partial = folder.sheet.with_suffix(".html.part")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, folder.sheet)
    return folder.sheet


def _card(folder: SweepFolder, run: PlannedRun, entry: Mapping[str, Any]) -> str:
    """One run's figure: its thumbnail (inlined) linked to its first file, its values and how it ended."""
    thumbnail = folder.thumbnail(run.index)
    if thumbnail.is_file():
        encoded = base64.b64encode(thumbnail.read_bytes()).decode()
        picture = f'<img src="data:image/jpeg;base64,{encoded}" alt="run {run.index}" loading="lazy">'
    else:
        picture = f'<div class="empty">{html.escape(_placeholder(entry))}</div>'
    first = entry["files"][0] if entry["files"] else None
    kind = "video" if first and Path(first).suffix.lower() in VIDEO_SUFFIXES else "image"
    if first is not None:
        picture = f'<a href="{html.escape(first)}" data-kind="{kind}">{picture}</a>'
    values = " · ".join(f"{html.escape(str(name))} {html.escape(_text(value))}" for name, value in run.values.items())
    seed = f" · seed {run.seed}" if run.seed is not None else ""
    seconds = f" · {entry['seconds']:.1f}s" if entry["seconds"] is not None else ""
    badge = {"all": '<span class="badge cache">cached</span>', "partial": '<span class="badge part">part cached</span>'}
    tags = badge.get(entry["cache"], "") + (
        f'<span class="badge fail" title="{html.escape(entry["error"])}">failed</span>'
        if entry["status"] == "failed"
        else ""
    )
    return (
        f'<figure class="run {entry["status"]}" data-index="{run.index}" data-cache="{entry["cache"]}">{picture}'
        f"<figcaption><b>#{run.index}</b> {values}{seed}{seconds} {tags}</figcaption></figure>"
    )


def _asset(name: str) -> str:
    """The page's stylesheet or script, kept beside this module as plain files and inlined into every page."""
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def _placeholder(entry: Mapping[str, Any]) -> str:
    if entry["status"] == "failed":
        return entry["error"][:200] or "failed"
    return "no picture" if entry["status"] == "done" else entry["status"]


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{reload}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body><header><h1>{title}</h1><p id="summary">{summary}</p>
<form id="controls" onsubmit="return false">
<label>Sort by <select id="sort"></select></label>
<label>Rows <select id="rows"></select></label>
<label>Columns <select id="cols"></select></label>
<span id="filters"></span>
<label>Show <select id="status"><option value="">all runs</option><option value="done">done</option>
<option value="failed">failed</option><option value="cached">served from cache</option>
<option value="unfinished">unfinished</option></select></label>
<span id="count"></span></form></header>
<main id="sheet"><div id="grid" class="grid">
{cards}
</div></main>
<div id="viewer" hidden><button id="close" type="button">Close</button><div id="media"></div></div>
<script type="application/json" id="sweep-data">{data}</script>
<script>{script}</script>
</body></html>
"""
