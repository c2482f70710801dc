"""Typed values that cross the boundary of the ComfyUI service: no raw ComfyUI JSON leaves `comfy/`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from discomfy.comfy.errors import ComfyError


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A file a node produced, as ComfyUI lists it in history."""

    node_id: str
    filename: str
    subfolder: str
    type: str  # "output" or "temp"
    kind: MediaKind
    animated: bool = False

    @property
    def is_temp(self) -> bool:
        return self.type == "temp"


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    """An output file saved on our disk."""

    output: OutputFile
    path: Path
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a finished job produced."""

    prompt_id: str
    outputs: tuple[OutputFile, ...]
    files: tuple[DownloadedFile, ...]
    cached_nodes: tuple[str, ...]
    elapsed: float  # seconds from submission (or from tracking start) to result
    run_time: float | None  # seconds ComfyUI spent executing, from its timestamps
    left_out: tuple[OutputFile, ...] = ()  # deliverables beyond settings.max_outputs: named, not fetched


@dataclass(frozen=True, slots=True)
class QueueEntry:
    number: int
    prompt_id: str
    client_id: str | None
    node_count: int


@dataclass(frozen=True, slots=True)
class QueueState:
    """ComfyUI's queue; `pending` is sorted by number (the server sends a heap). Lookups are O(1)."""

    running: tuple[QueueEntry, ...]
    pending: tuple[QueueEntry, ...]
    requested_at: float = 0.0  # time.monotonic() when asked for: it knows nothing accepted later
    _positions: dict[str, int] = field(init=False, repr=False, compare=False)
    _running: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positions = {entry.prompt_id: index for index, entry in enumerate(self.pending, start=1)}
        object.__setattr__(self, "_positions", positions)
        object.__setattr__(self, "_running", frozenset(entry.prompt_id for entry in self.running))

    def position(self, prompt_id: str) -> int | None:
        """1-based place among pending jobs, or None if not pending."""
        return self._positions.get(prompt_id)

    def is_running(self, prompt_id: str) -> bool:
        return prompt_id in self._running

    def knows(self, prompt_id: str) -> bool:
        """Pending or running."""
        return prompt_id in self._running or prompt_id in self._positions


@dataclass(frozen=True, slots=True)
class UploadedImage:
    """Where ComfyUI stored an upload: use `reference` as LoadImage's `image` input."""

    name: str
    subfolder: str
    type: str

    @property
    def reference(self) -> str:
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


@dataclass(frozen=True, slots=True)
class SystemStats:
    comfyui_version: str | None
    python_version: str | None
    devices: tuple[str, ...]
    vram: tuple[tuple[int | None, int | None], ...] = ()  # (free, total) bytes per device, as devices


# ---- job events: what a job handle streams to its watchers ------------------------------------


@dataclass(frozen=True, slots=True)
class Queued:
    position: int  # 1-based among pending prompts
    total: int  # all pending prompts on the server, ours or not


@dataclass(frozen=True, slots=True)
class Started:
    pass


@dataclass(frozen=True, slots=True)
class NodeStarted:
    node_id: str
    class_type: str | None


@dataclass(frozen=True, slots=True)
class CachedNodes:
    node_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Progress:
    value: int
    max: int
    node_id: str | None


@dataclass(frozen=True, slots=True)
class Preview:
    image: bytes = field(repr=False)
    mime: str
    node_id: str | None


@dataclass(frozen=True, slots=True)
class Finished:
    result: JobResult


@dataclass(frozen=True, slots=True)
class Failed:
    error: ComfyError


JobEvent = Queued | Started | NodeStarted | CachedNodes | Progress | Preview | Finished | Failed


class PromptStatus(enum.StrEnum):
    """Where a prompt stands in ComfyUI, as this client sees it (the job store has its own JobStatus)."""

    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
