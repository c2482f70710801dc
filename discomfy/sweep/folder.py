"""A sweep's folder: config.yaml, plan.json, state.jsonl, metadata.csv, runs/, thumbnails/ and contact_sheet.html."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from discomfy.media import first_frame
from discomfy.sweep.plan import Plan, load_plan, save_plan
from discomfy.sweep.state import read_states

if TYPE_CHECKING:
    from discomfy.comfy import DownloadedFile
    from discomfy.sweep.plan import PlannedRun

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = (320, 320)


@dataclass(frozen=True, slots=True)
class SweepFolder:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def plan_file(self) -> Path:
        return self.root / "plan.json"

    @property
    def metadata(self) -> Path:
        return self.root / "metadata.csv"

    @property
    def sheet(self) -> Path:
        return self.root / "contact_sheet.html"

    @property
    def downloads(self) -> Path:
        """ComfyService's download_dir: each run's files are moved out of it as the run ends."""
        return self.root / ".downloads"

    @classmethod
    def new(cls, out: Path, workflow: str) -> SweepFolder:
        """A fresh dated folder's path under `out` (made by `initialize`, once the plan holds)."""
        stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
        base = out / f"{stamp}_{Path(workflow).stem}"
        root, number = base, 1
        while root.exists():
            number += 1
            root = base.with_name(f"{base.name}_{number}")
        return cls(root)

    def initialize(self, plan: Plan, source: str) -> None:
        """Make the folder with the sweep file's snapshot (its RNG seed recorded) and the plan."""
        self.root.mkdir(parents=True)
        if not re.search(r"^rng_seed\s*:", source, re.MULTILINE):
            source = (
                source.rstrip("\n")
                + f"\n# recorded by discomfy: the seed the plan was sampled with\nrng_seed: {plan.rng_seed}\n"
            )
        self.config.write_text(source, encoding="utf-8")
        save_plan(plan, self.plan_file)

    def load_plan(self) -> Plan:
        return load_plan(self.plan_file)

    def run_dir(self, run: PlannedRun) -> Path:
        return self.root / "runs" / run.name

    def thumbnail(self, index: int) -> Path:
        return self.root / "thumbnails" / f"{index:04d}.jpg"

    def write_params(self, plan: Plan, run: PlannedRun) -> None:
        """runs/NAME/params.json: the exact graph values the run sets, written before it is submitted."""
        directory = self.run_dir(run)
        directory.mkdir(parents=True, exist_ok=True)
        params = {"index": run.index, "values": dict(run.values), "seed": run.seed, "inputs": plan.inputs_for(run)}
        (directory / "params.json").write_text(json.dumps(params, indent=1), encoding="utf-8")

    def keep_outputs(self, run: PlannedRun, files: tuple[DownloadedFile, ...]) -> tuple[str, ...]:
        """Move a run's downloaded files into its folder; their paths relative to the sweep folder."""
        directory = self.run_dir(run)
        directory.mkdir(parents=True, exist_ok=True)
        kept = []
        for file in files:
            target = directory / file.path.name
            os.replace(file.path, target)
            kept.append(target.relative_to(self.root).as_posix())
        if files:
            shutil.rmtree(files[0].path.parent, ignore_errors=True)
        return tuple(kept)

    def make_thumbnail(self, index: int, files: tuple[str, ...], ffmpeg: str | None) -> bool:
        """thumbnails/NNNN.jpg from the run's first picture (a frame for videos); blocking: run it in a thread."""
        for name in files:
            frame = first_frame(self.root / name, ffmpeg=ffmpeg)
            if frame is None:
                continue
            target = self.thumbnail(index)
            target.parent.mkdir(exist_ok=True)
            frame = frame.convert("RGB")
            frame.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
            frame.save(target, "JPEG", quality=85)
            return True
        return False


def find_unfinished(out: Path, source_sha256: str) -> SweepFolder | None:
    """The newest sweep under `out` made from the same file text and not finished: re-running the file resumes it."""
    if not out.is_dir():
        return None
    for root in sorted((p for p in out.iterdir() if (p / "plan.json").is_file()), reverse=True):
        try:
            digest = json.loads((root / "plan.json").read_text(encoding="utf-8")).get("source_sha256")
        except (OSError, ValueError):
            continue
        if digest != source_sha256:
            continue
        plan, states = load_plan(root / "plan.json"), read_states(root)
        finished = sum(1 for run in plan.runs if run.index in states and states[run.index].finished)
        return SweepFolder(root) if finished < len(plan.runs) else None
    return None
