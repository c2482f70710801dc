"""Reading ComfyUI's history entries: which files a job made, of what kind, and how it ended."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from discomfy.comfy.errors import ComfyError, ExecutionFailedError, JobInterruptedError
from discomfy.comfy.models import MediaKind, OutputFile

_VIDEO_EXT = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"}
_AUDIO_EXT = {".flac", ".mp3", ".wav", ".ogg", ".opus", ".m4a", ".aac"}
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".apng"}
OUTPUT_TYPES = frozenset({"output", "temp"})  # the folders of ComfyUI's /view that hold what prompts made
NAME_BYTES = 200  # longest file name we write, in UTF-8 bytes
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def media_kind(filename: str, *, key: str = "images", fmt: str | None = None) -> MediaKind:
    """Decide an output's media kind from its extension first, then the key or `format` it came under."""
    ext = PurePosixPath(filename).suffix.lower()
    if ext in _VIDEO_EXT:
        return MediaKind.VIDEO
    if ext in _AUDIO_EXT:
        return MediaKind.AUDIO
    if ext in _IMAGE_EXT:
        return MediaKind.IMAGE
    if fmt and fmt.split("/")[0] in {"video", "audio", "image"}:
        return MediaKind(fmt.split("/")[0])
    if key in {"gifs", "videos"}:
        return MediaKind.VIDEO
    if key == "audio":
        return MediaKind.AUDIO
    return MediaKind.OTHER


def parse_outputs(outputs: Mapping[str, Any]) -> tuple[OutputFile, ...]:
    """Every file listed under any key of every node's UI output (`images`, `gifs`, `videos`, `audio`...)."""
    files: list[OutputFile] = []
    for node_id, ui in outputs.items():
        if not isinstance(ui, Mapping):
            continue
        animated = any(a is True for a in ui.get("animated") or ())
        for key, items in ui.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if not (isinstance(item, Mapping) and isinstance(item.get("filename"), str)) or not _servable(item):
                    continue
                filename = item["filename"]
                kind = media_kind(filename, key=key, fmt=item.get("format"))
                files.append(
                    OutputFile(
                        node_id=str(node_id),
                        filename=filename,
                        subfolder=str(item.get("subfolder") or ""),
                        type=str(item.get("type") or "output"),
                        kind=kind,
                        animated=animated or key == "gifs",
                    )
                )
    return tuple(files)


def _servable(item: Mapping[str, Any]) -> bool:
    """Only what a prompt made: ComfyUI's output or temp folder, no way out of it (`..`, absolute paths).

    A history that names `type=input` would have the bot fetch and post other users' uploads.
    """
    if str(item.get("type") or "output") not in OUTPUT_TYPES:
        return False
    for path in (str(item.get("subfolder") or ""), str(item["filename"])):
        path = path.replace("\\", "/")
        if path.startswith("/") or ":" in path or ".." in PurePosixPath(path).parts:
            return False
    return True


def select_deliverables(
    files: Iterable[OutputFile], output_nodes: Iterable[str] | None = None
) -> tuple[OutputFile, ...]:
    """Files worth sending: those of the chosen nodes, else saved ones, else previews (temp)."""
    files = tuple(files)
    if output_nodes is not None:
        wanted = set(output_nodes)
        files = tuple(f for f in files if f.node_id in wanted)
    saved = tuple(f for f in files if not f.is_temp)
    return saved or files


def safe_filename(name: str, *, fallback: str = "output") -> str:
    """A server-given name made safe to join to a directory: no separators, traversal or control chars.

    Cut to NAME_BYTES bytes of UTF-8 (file systems count bytes, not characters), keeping the extension, so
    ` (2)` and `.part` still fit under the usual 255.
    """
    base = PurePosixPath(name.replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base.encode()) > NAME_BYTES:
        path = PurePosixPath(base)
        suffix = path.suffix if len(path.suffix.encode()) <= 16 else ""
        room = NAME_BYTES - len(suffix.encode())
        base = path.stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .") + suffix
    return base or fallback


@dataclass(frozen=True, slots=True)
class HistoryOutcome:
    """How a prompt ended according to its history entry."""

    outputs: tuple[OutputFile, ...]
    error: ComfyError | None
    run_time: float | None
    cached_nodes: tuple[str, ...]


def parse_history_entry(prompt_id: str, entry: Mapping[str, Any]) -> HistoryOutcome:
    """Turn one `/history/{id}` entry into outputs or the error that ended it."""
    status = entry.get("status") or {}
    messages = [m for m in status.get("messages") or () if isinstance(m, list) and len(m) == 2]
    by_type = {kind: data for kind, data in messages if isinstance(data, Mapping)}
    error: ComfyError | None = None
    if "execution_error" in by_type:
        error = execution_error(by_type["execution_error"])
    elif "execution_interrupted" in by_type:
        data = by_type["execution_interrupted"]
        error = JobInterruptedError(prompt_id, data.get("node_id"), data.get("node_type"))
    elif status.get("status_str") == "error" or status.get("completed") is False:
        error = ExecutionFailedError(None, None, "Error", "ComfyUI reported the job as failed.")
    start, end = by_type.get("execution_start") or {}, by_type.get("execution_success") or {}
    run_time = seconds_between(start.get("timestamp"), end.get("timestamp"))
    cached = tuple(str(n) for n in (by_type.get("execution_cached") or {}).get("nodes") or ())
    return HistoryOutcome(parse_outputs(entry.get("outputs") or {}), error, run_time, cached)


def seconds_between(start_ms: object, end_ms: object) -> float | None:
    """ComfyUI's run time from its own millisecond time stamps; None unless both are numbers."""
    if isinstance(start_ms, bool) or isinstance(end_ms, bool):
        return None
    if isinstance(start_ms, int | float) and isinstance(end_ms, int | float):
        return max(0.0, (end_ms - start_ms) / 1000)
    return None


def execution_error(data: Mapping[str, Any]) -> ExecutionFailedError:
    """The error of an `execution_error` message (WebSocket or history)."""
    return ExecutionFailedError(
        node_id=_str_or_none(data.get("node_id")),
        node_type=_str_or_none(data.get("node_type")),
        exception_type=str(data.get("exception_type") or "Error"),
        message=str(data.get("exception_message") or "unknown error"),
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
