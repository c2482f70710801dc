"""The two entry points the Discord layer calls: make a file fit an upload limit, show a frame of it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from discomfy.comfy.models import MediaKind
from discomfy.media.image import PIL_ERRORS, fit_image, image_first_frame
from discomfy.media.models import FittedFile, MediaError, MediaType, TooLarge
from discomfy.media.sniff import detect_media_type, upload_name
from discomfy.media.video import fit_video, video_first_frame

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

log = logging.getLogger(__name__)


async def fit_for_upload(file: Path, limit: int, *, workdir: Path, ffmpeg: str | None) -> FittedFile | TooLarge:
    """Return the file as is when it fits, else a smaller copy in `workdir`, else why not.

    `ffmpeg` is the binary from `find_ffmpeg()`, or None when there is none. A changed file
    (`FittedFile.changed`) is the caller's to delete after the upload.

    Raises:
        MediaError: the file cannot be read at all.
    """
    size, media_type = await asyncio.to_thread(_inspect, file)
    if size <= limit:
        return FittedFile(
            path=file,
            filename=upload_name(file, media_type),
            content_type=media_type.content_type,
            kind=media_type.kind,
            size=size,
            original=file,
            original_size=size,
            animated=media_type.animated,
        )
    log.info("%s is %d bytes, over the %d-byte limit: shrinking", file.name, size, limit)
    if media_type.kind is MediaKind.IMAGE:
        return await asyncio.to_thread(fit_image, file, limit, media_type, workdir, size)
    if media_type.kind is MediaKind.VIDEO:
        return await fit_video(file, limit, workdir, ffmpeg, size)
    reason = f"{media_type.kind.value} files ({media_type.content_type}) are not re-encoded"
    return TooLarge(f"the file is over the {limit:,}-byte limit and {reason}", file, size, limit)


def first_frame(file: Path, *, ffmpeg: str | None) -> Image.Image | None:
    """Frame 0 of a video, animation or still, for previews; None if it cannot be read.

    Blocking (Pillow, and ffmpeg for videos): call it through `asyncio.to_thread`.
    """
    try:
        media_type = detect_media_type(file)
    except MediaError as exc:
        log.warning("No frame from %s: %s", file, exc)
        return None
    if media_type.kind is MediaKind.VIDEO:
        if ffmpeg is None:
            log.info("No frame from video %s: ffmpeg is not available", file)
            return None
        return video_first_frame(ffmpeg, file)
    try:
        return image_first_frame(file)
    except PIL_ERRORS as exc:
        log.warning("No frame from %s: %s", file, exc)
        return None


def _inspect(file: Path) -> tuple[int, MediaType]:
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise MediaError(file, f"cannot read file: {exc}") from exc
    return size, detect_media_type(file)
