"""Shrink images to an upload limit with Pillow: better codecs first, fewer pixels only when needed."""

from __future__ import annotations

import io
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from PIL import Image, ImageSequence

from discomfy.media.models import FittedFile, MediaType, TooLarge
from discomfy.media.sniff import ANIMATED_WEBP, JPEG, WEBP, upload_name

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

MIN_SIDE = 256  # below this the picture is a thumbnail, not the result the user asked for
SCALE_STEP = 0.75  # each downscale keeps at most this share of the width and height
WEBP_MAX_SIDE = 16383
JPEG_MAX_SIDE = 65500
_Ladder: TypeAlias = tuple[tuple[str, int], ...]  # (Pillow format, quality), tried in order
FULL_SIZE_LADDER: _Ladder = (("WEBP", 90), ("WEBP", 80), ("WEBP", 70), ("WEBP", 60))
FULL_SIZE_LADDER += (("JPEG", 85), ("JPEG", 70), ("JPEG", 55))
SCALED_LADDER: _Ladder = (("WEBP", 80), ("WEBP", 60), ("JPEG", 70))
ANIMATION_QUALITIES = (80, 60)
ANIMATION_PIXEL_BUDGET = 4096 * 4096  # all downscaled frames together: one large image's worth
PIL_ERRORS = (OSError, ValueError, EOFError, Image.DecompressionBombError)

_MAX_SIDE = {"WEBP": WEBP_MAX_SIDE, "JPEG": JPEG_MAX_SIDE}
_TYPES = {"WEBP": WEBP, "JPEG": JPEG}
_NAMES = {"WEBP": "WebP", "JPEG": "JPEG"}


@dataclass(frozen=True, slots=True)
class _Encoded:
    data: bytes = field(repr=False)
    media_type: MediaType
    note: str


def fit_image(
    path: Path, limit: int, media_type: MediaType, workdir: Path, original_size: int
) -> FittedFile | TooLarge:
    """Re-encode, then downscale, an image until it fits (blocking: run it in a thread)."""
    try:
        encoded = _fit_animation(path, limit) if media_type.animated else None
        if encoded is None:
            encoded = _fit_still(_load_still(path), limit)
            if encoded is not None and media_type.animated:
                encoded = _Encoded(
                    encoded.data,
                    encoded.media_type,
                    f"first frame only (the animation could not fit); {encoded.note}",
                )
        if encoded is not None:
            return _write(encoded, path, workdir, original_size)
    except PIL_ERRORS as exc:  # OSError covers a full disk in _write too
        log.warning("Cannot re-encode %s: %s", path, exc)
        return TooLarge(f"the image could not be re-encoded ({exc})", path, original_size, limit)
    reason = (
        f"the image is {original_size:,} bytes and stays over the {limit:,}-byte limit even"
        f" re-encoded and shrunk to {MIN_SIDE} px"
    )
    return TooLarge(reason, path, original_size, limit)


def image_first_frame(path: Path) -> Image.Image:
    """Frame 0 of any image Pillow reads, decoded and detached from the file."""
    return _load_still(path)


def _write(encoded: _Encoded, path: Path, workdir: Path, original_size: int) -> FittedFile:
    workdir.mkdir(parents=True, exist_ok=True)
    ext = encoded.media_type.extension
    out = workdir / f"{path.stem}-{uuid.uuid4().hex[:8]}{ext}"
    out.write_bytes(encoded.data)
    log.info("Shrank %s from %d to %d bytes: %s", path.name, original_size, len(encoded.data), encoded.note)
    return FittedFile(
        path=out,
        filename=upload_name(path, encoded.media_type),
        content_type=encoded.media_type.content_type,
        kind=encoded.media_type.kind,
        size=len(encoded.data),
        original=path,
        original_size=original_size,
        animated=encoded.media_type.animated,
        note=encoded.note,
    )


def _load_still(path: Path) -> Image.Image:
    """Decode frame 0 once, as RGB, or RGBA only when some pixel is see-through."""
    with Image.open(path) as image:
        image.load()
        frame = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
    if frame.mode == "RGBA" and frame.getchannel("A").getextrema()[0] == 255:
        frame = frame.convert("RGB")
    return frame


def _fit_still(frame: Image.Image, limit: int) -> _Encoded | None:
    """Walk the quality ladder at full size, then at smaller sizes down to MIN_SIDE."""
    width, height = frame.size
    scale, ladder = 1.0, FULL_SIZE_LADDER
    while True:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        candidate = frame if scale == 1.0 else frame.resize(size, Image.Resampling.LANCZOS)
        smallest: int | None = None
        for fmt, quality in ladder:
            if max(size) > _MAX_SIDE[fmt]:
                continue
            data = _encode(candidate, fmt, quality)
            log.debug("%s q%d at %dx%d: %d bytes", fmt, quality, *size, len(data))
            if len(data) <= limit:
                return _Encoded(data, _TYPES[fmt], f"{_NAMES[fmt]} q{quality} at {size[0]}x{size[1]}")
            smallest = len(data) if smallest is None else min(smallest, len(data))
        del candidate
        next_scale = _next_scale(scale, max(size), max(width, height), smallest, limit)
        if next_scale is None:
            return None
        scale, ladder = next_scale, SCALED_LADDER


def _next_scale(scale: float, side: int, full_side: int, smallest: int | None, limit: int) -> float | None:
    """Jump close to the size the best encoding suggests, by at least one step, not below MIN_SIDE."""
    if side <= MIN_SIDE:
        return None
    factor = SCALE_STEP
    if smallest:
        factor = min(SCALE_STEP, max(0.25, math.sqrt(limit / smallest) * 0.95))
    return max(scale * factor, MIN_SIDE / full_side)


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode != "RGB":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    options = {"method": 4} if fmt == "WEBP" else {"optimize": True}
    image.save(buffer, fmt, quality=quality, **options)
    return buffer.getvalue()


def _fit_animation(path: Path, limit: int) -> _Encoded | None:
    """Keep the animation as WebP; at full size the encoder pulls frames one at a time."""
    with Image.open(path) as image:
        durations = [int(frame.info.get("duration", 100)) for frame in ImageSequence.Iterator(image)]
        loop = int(image.info.get("loop", 0))
        smallest: int | None = None
        if max(image.size) <= WEBP_MAX_SIDE:
            for quality in ANIMATION_QUALITIES:
                data = _encode_animation(image, [], durations, loop, quality)
                if len(data) <= limit:
                    return _Encoded(data, ANIMATED_WEBP, f"animated WebP q{quality}")
                smallest = len(data) if smallest is None else min(smallest, len(data))
        return _fit_scaled_animation(image, durations, loop, limit, smallest)


def _fit_scaled_animation(
    image: Image.Image, durations: list[int], loop: int, limit: int, smallest: int | None
) -> _Encoded | None:
    """Fewer pixels per frame; Pillow wants all scaled frames at once, so they share a budget."""
    width, height = image.size
    side = max(width, height)
    quality = ANIMATION_QUALITIES[-1]
    scale = 1.0
    while (next_scale := _next_scale(scale, round(side * scale), side, smallest, limit)) is not None:
        scale = next_scale
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if len(durations) * size[0] * size[1] > ANIMATION_PIXEL_BUDGET or max(size) > WEBP_MAX_SIDE:
            continue
        scaled = [
            frame.convert("RGBA").resize(size, Image.Resampling.LANCZOS) for frame in ImageSequence.Iterator(image)
        ]
        data = _encode_animation(scaled[0], scaled[1:], durations, loop, quality)
        del scaled
        if len(data) <= limit:
            return _Encoded(data, ANIMATED_WEBP, f"animated WebP q{quality} at {size[0]}x{size[1]}")
        smallest = len(data)
    return None


def _encode_animation(
    first: Image.Image, rest: list[Image.Image], durations: list[int], loop: int, quality: int
) -> bytes:
    buffer = io.BytesIO()
    first.save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=rest,
        duration=durations,
        loop=loop,
        quality=quality,
        method=4,
    )
    return buffer.getvalue()
