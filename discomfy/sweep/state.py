"""The sweep folder's journal of run states (state.jsonl): every change appended and flushed to disk before the
step it announces (a prompt_id is recorded before it is submitted), so a kill at any point loses nothing."""

from __future__ import annotations

import enum
import json
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any, Self

from discomfy.comfy.cache import CacheUse
from discomfy.sweep.errors import SweepError

log = logging.getLogger(__name__)

STATE_FILE = "state.jsonl"


class RunStatus(enum.StrEnum):
    PENDING = "pending"  # not submitted (or lost by ComfyUI: submitted again under a new prompt_id)
    SUBMITTED = "submitted"  # its prompt_id may be in ComfyUI: re-attached on resume
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunState:
    index: int
    status: RunStatus = RunStatus.PENDING
    prompt_id: str | None = None
    attempts: int = 0  # submissions so far
    seconds: float | None = None  # ComfyUI's run time of the prompt (else the wait for its result)
    cache: CacheUse = CacheUse.NONE
    cached_nodes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # relative to the sweep folder
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.FAILED)

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, "", (), 0) or key == "index"}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        return cls(
            index=int(data["index"]),
            status=RunStatus(data.get("status", RunStatus.PENDING)),
            prompt_id=data.get("prompt_id"),
            attempts=int(data.get("attempts", 0)),
            seconds=data.get("seconds"),
            cache=CacheUse(data.get("cache", "")),
            cached_nodes=tuple(data.get("cached_nodes", ())),
            files=tuple(data.get("files", ())),
            error=str(data.get("error", "")),
        )


class SweepState:
    """Every run's latest state, read from and appended to the journal; one writer (the runner) at a time."""

    def __init__(self, path: Path, client_id: str, runs: Mapping[int, RunState]) -> None:
        self.path = path
        self.client_id = client_id  # ComfyUI routes a resumed sweep's progress to the same socket id
        self.runs: dict[int, RunState] = dict(runs)
        self._file: IO[str] | None = None

    @classmethod
    def open(cls, folder: Path, indexes: Iterable[int], *, client_id: str | None = None) -> Self:
        """The journal of `folder` (made when new, with `client_id`); runs it never mentions are pending."""
        path = folder / STATE_FILE
        recorded_id, recorded = _read(path)
        _end_cut_line(path)
        runs = {i: recorded.get(i, RunState(i)) for i in indexes}
        state = cls(path, recorded_id or client_id or uuid.uuid4().hex, runs)
        if recorded_id is None:
            state._append({"client_id": state.client_id})
        return state

    def record(self, run: RunState) -> RunState:
        """Make `run` the latest state of its index, on disk first."""
        self._append(run.to_json())
        self.runs[run.index] = run
        return run

    def update(self, index: int, **changes: Any) -> RunState:
        return self.record(replace(self.runs[index], **changes))

    def count(self, status: RunStatus) -> int:
        return sum(1 for run in self.runs.values() if run.status is status)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, entry: Mapping[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())


def read_states(folder: Path) -> dict[int, RunState]:
    """The latest state of every run the journal mentions (for `sheet DIR`, which writes nothing to it)."""
    return _read(folder / STATE_FILE)[1]


def _read(path: Path) -> tuple[str | None, dict[int, RunState]]:
    client_id: str | None = None
    runs: dict[int, RunState] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None, runs
    except OSError as exc:
        raise SweepError(f"cannot read the run states: {exc}", file=str(path)) from None
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if "client_id" in entry:
                client_id = str(entry["client_id"])
            else:
                run = RunState.from_json(entry)
                runs[run.index] = run
        except (ValueError, KeyError, TypeError):  # a line cut short by a kill mid-write: the one before holds
            log.warning("%s line %d is unreadable; skipped", path, number)
    return client_id, runs


def _end_cut_line(path: Path) -> None:
    """A line cut short by a kill gets its end, so the next entry starts a line of its own."""
    if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a", encoding="utf-8") as file:
            file.write("\n")
