"""One grid image of a batch's results, so a batch reads as one message instead of a wall of files."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from discomfy.media.fit import first_frame
from discomfy.media.models import MediaError

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

BACKGROUND = (30, 31, 34)
CELL_BACKGROUND = (43, 45, 49)
LABEL_COLOUR = (224, 226, 230)
PLACEHOLDER_COLOUR = (150, 155, 165)
GAP = 8
MIN_CELL_WIDTH = 192  # narrower cells cannot hold a readable "seed ..." label
MAX_ASPECT = 3.0  # a panorama or a strip still gets a usable cell
MAX_HEIGHT_FACTOR = 2  # the sheet is at most this many times as tall as it is wide
TARGET_BYTES = 8 * 1024 * 1024  # well below Discord's 10 MiB
JPEG_QUALITY = 88

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True, slots=True)
class SheetItem:
    """One result on the sheet and the text written under it."""

    path: Path
    label: str


@dataclass(frozen=True, slots=True)
class _Layout:
    columns: int
    rows: int
    cell_width: int
    cell_height: int
    label_height: int

    @property
    def size(self) -> tuple[int, int]:
        width = self.columns * self.cell_width + (self.columns + 1) * GAP
        height = self.rows * (self.cell_height + self.label_height) + (self.rows + 1) * GAP
        return width, height

    def cell_origin(self, index: int) -> tuple[int, int]:
        column, row = index % self.columns, index // self.columns
        x = GAP + column * (self.cell_width + GAP)
        y = GAP + row * (self.cell_height + self.label_height + GAP)
        return x, y


async def build_contact_sheet(
    items: Sequence[SheetItem], out: Path, *, ffmpeg: str | None, max_width: int = 2048
) -> Path:
    """Draw every item as a labelled thumbnail in a balanced grid and save it.

    Writes PNG, or JPEG when `out` says so; a PNG that would be too heavy is written as JPEG next
    to it instead. Returns the path actually written.

    Raises:
        MediaError: there is nothing to draw or the sheet cannot be written.
    """
    if not items:
        raise MediaError(out, "a contact sheet needs at least one item")
    return await asyncio.to_thread(_build, tuple(items), out, ffmpeg, max_width)


def _build(items: tuple[SheetItem, ...], out: Path, ffmpeg: str | None, max_width: int) -> Path:
    columns = math.ceil(math.sqrt(len(items)))
    rows = math.ceil(len(items) / columns)
    widest_cell = max(1, (max_width - (columns + 1) * GAP) // columns)
    thumbs = [thumbnail(item.path, widest_cell, ffmpeg) for item in items]
    cell_width = _cell_width(thumbs, widest_cell)
    font = label_font(cell_width)
    layout = _layout(thumbs, columns, rows, cell_width, max_width, font)
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, (item, thumb) in enumerate(zip(items, thumbs, strict=True)):
        _draw_cell(sheet, draw, layout, index, item, thumb, font)
    log.info(
        "Contact sheet of %d items: %dx%d grid, %dx%d px",
        len(items), columns, rows, *layout.size,
    )  # fmt: skip
    return save_image(sheet, out)


def thumbnail(path: Path, box: int, ffmpeg: str | None) -> Image.Image | None:
    """Decode one item (only one is ever held at full size) and shrink it right away."""
    frame = first_frame(path, ffmpeg=ffmpeg)
    if frame is None:
        log.warning("Contact sheet: %s is unreadable; drawing a placeholder", path)
        return None
    frame.thumbnail((box, round(box * MAX_ASPECT)), Image.Resampling.LANCZOS)
    return frame


def _cell_width(thumbs: list[Image.Image | None], widest_cell: int) -> int:
    """As wide as the widest thumbnail (never upscaled), but wide enough for a label."""
    natural_width = max((t.width for t in thumbs if t is not None), default=MIN_CELL_WIDTH)
    return min(widest_cell, max(natural_width, MIN_CELL_WIDTH))


def _layout(
    thumbs: list[Image.Image | None],
    columns: int,
    rows: int,
    cell_width: int,
    max_width: int,
    font: Font,
) -> _Layout:
    """One cell size for all: tall enough for the tallest aspect ratio, within a height budget."""
    readable = [t for t in thumbs if t is not None]
    ratios = [min(MAX_ASPECT, max(1 / MAX_ASPECT, t.width / t.height)) for t in readable]
    cell_height = round(cell_width / min(ratios, default=1.0))
    cell_height = min(cell_height, max((t.height for t in readable), default=cell_height))
    label_height = line_height(font) + GAP
    height_budget = max_width * MAX_HEIGHT_FACTOR - (rows + 1) * GAP
    cell_height = max(16, min(cell_height, height_budget // rows - label_height))
    return _Layout(columns, rows, cell_width, cell_height, label_height)


def _draw_cell(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    layout: _Layout,
    index: int,
    item: SheetItem,
    thumb: Image.Image | None,
    font: Font,
) -> None:
    x, y = layout.cell_origin(index)
    box = (x, y, x + layout.cell_width - 1, y + layout.cell_height - 1)
    draw.rectangle(box, fill=CELL_BACKGROUND)
    if thumb is None:
        message = fit_text(draw, f"cannot read {item.path.name}", font, layout.cell_width - GAP)
        centre = (x + layout.cell_width // 2, y + layout.cell_height // 2)
        draw.text(centre, message, fill=PLACEHOLDER_COLOUR, font=font, anchor="mm")
    else:
        thumb.thumbnail((layout.cell_width, layout.cell_height), Image.Resampling.LANCZOS)
        left = x + (layout.cell_width - thumb.width) // 2
        top = y + (layout.cell_height - thumb.height) // 2
        sheet.paste(thumb, (left, top), thumb if thumb.mode == "RGBA" else None)
    label = fit_text(draw, item.label, font, layout.cell_width)
    label_centre = (x + layout.cell_width // 2, y + layout.cell_height + layout.label_height // 2)
    draw.text(label_centre, label, fill=LABEL_COLOUR, font=font, anchor="mm")


def label_font(cell_width: int) -> Font:
    """Pillow's bundled font, scaled with the cell so labels stay readable on phones."""
    return ImageFont.load_default(size=max(14, min(28, cell_width // 16)))


def line_height(font: Font) -> int:
    _, top, _, bottom = font.getbbox("Ag")
    return int(bottom - min(0, top))


def fit_text(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """Cut with an ellipsis rather than let a long label run into the next cell."""
    text = " ".join(text.split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def save_image(sheet: Image.Image, out: Path) -> Path:
    """PNG keeps thumbnails crisp; fall back to JPEG when that would be too heavy to upload."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() in (".jpg", ".jpeg"):
            sheet.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
            return out
        sheet.save(out, "PNG")
        if out.stat().st_size <= TARGET_BYTES:
            return out
        jpeg = out.with_suffix(".jpg")
        log.info("Contact sheet PNG is %d bytes; writing %s instead", out.stat().st_size, jpeg)
        sheet.save(jpeg, "JPEG", quality=JPEG_QUALITY, optimize=True)
        out.unlink()
    except OSError as exc:
        raise MediaError(out, f"cannot write the contact sheet: {exc}") from exc
    return jpeg
