"""The X/Y plot of a sweep: every cell's result in a grid, the parameter names and values written on its edges.

Columns follow the x axis, rows the y axis; the x name sits above the column values, the y name in the corner
above the row values, as in the X/Y plots people know from other tools. Every label is drawn from its own
small image (`render_label`) and its place is returned (`XYGrid.labels`), so what the grid says can be checked.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from discomfy.media.contact_sheet import (
    BACKGROUND,
    CELL_BACKGROUND,
    GAP,
    LABEL_COLOUR,
    MAX_ASPECT,
    MAX_HEIGHT_FACTOR,
    PLACEHOLDER_COLOUR,
    Font,
    fit_text,
    line_height,
    save_image,
    thumbnail,
)
from discomfy.media.models import MediaError

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

MIN_CELL_WIDTH = 128  # values are short ("4.5", "euler"); a narrower cell would show nothing useful
MAX_LABEL_WIDTH = 320  # a long choice name on the left edge is cut rather than squeeze the images
NO_RESULT = "no result"


@dataclass(frozen=True, slots=True)
class AxisText:
    """One axis as written on the grid: its name and the label of each of its values, in order."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GridLabel:
    """A text drawn on the grid's edge and where it is (left, top, right, bottom; right and bottom exclusive)."""

    role: str  # "x name", "x value", "y name", "y value"
    text: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class XYGrid:
    """The image written, and every label on it."""

    path: Path
    size: tuple[int, int]
    font_size: int
    labels: tuple[GridLabel, ...]


@dataclass(frozen=True, slots=True)
class _Layout:
    left: int  # width of the row labels' margin
    top: int  # height of the two header bands (x name, x values)
    band: int  # height of one header band
    cell_width: int
    cell_height: int
    columns: int
    rows: int

    @property
    def size(self) -> tuple[int, int]:
        width = self.left + self.columns * (self.cell_width + GAP) + GAP
        height = self.top + self.rows * (self.cell_height + GAP) + GAP
        return width, height

    def origin(self, row: int, column: int) -> tuple[int, int]:
        return self.left + GAP + column * (self.cell_width + GAP), self.top + GAP + row * (self.cell_height + GAP)


async def build_xy_grid(
    cells: Sequence[Path | None],
    x: AxisText,
    y: AxisText | None,
    out: Path,
    *,
    ffmpeg: str | None,
    max_width: int = 2048,
) -> XYGrid:
    """Draw the cells (row by row; None: no result) with labelled axes and save the grid; off the event loop.

    Raises:
        MediaError: the cells do not fill the grid, or the image cannot be written.
    """
    rows = len(y.values) if y else 1
    if not x.values or len(cells) != len(x.values) * rows:
        raise MediaError(out, f"an X/Y grid of {len(x.values)}x{rows} needs as many cells, got {len(cells)}")
    return await asyncio.to_thread(_build, tuple(cells), x, y, out, ffmpeg, max_width)


def render_label(text: str, font_size: int) -> Image.Image:
    """One label as the grid draws it: light text on the grid's background, as wide and tall as the text."""
    font = label_font_of_size(font_size)
    width = max(1, round(font.getlength(text)))
    image = Image.new("RGB", (width, line_height(font)), BACKGROUND)
    _, top, _, _ = font.getbbox("Ag")
    ImageDraw.Draw(image).text((0, -min(0, top)), text, fill=LABEL_COLOUR, font=font)
    return image


def label_font_of_size(font_size: int) -> Font:
    """The grid's font at `font_size` (Pillow's bundled font, as on the contact sheet)."""
    return ImageFont.load_default(size=font_size)


def _build(
    cells: tuple[Path | None, ...], x: AxisText, y: AxisText | None, out: Path, ffmpeg: str | None, max_width: int
) -> XYGrid:
    columns, rows = len(x.values), len(y.values) if y else 1
    widest = max(MIN_CELL_WIDTH, (max_width - (columns + 1) * GAP) // columns)
    thumbs = [thumbnail(path, widest, ffmpeg) if path is not None else None for path in cells]
    natural = max((t.width for t in thumbs if t is not None), default=MIN_CELL_WIDTH)
    font_size = _font_size(min(widest, natural))
    font = label_font_of_size(font_size)
    layout = _layout(thumbs, x, y, font, max_width)
    grid = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for index, thumb in enumerate(thumbs):
        _draw_cell(grid, draw, layout, divmod(index, columns), thumb, font)
    labels = _draw_labels(grid, draw, layout, x, y, font, font_size)
    path = save_image(grid, out)
    log.info("X/Y grid of %dx%d cells, %dx%d px", columns, rows, *layout.size)
    return XYGrid(path, layout.size, font_size, labels)


def _font_size(cell_width: int) -> int:
    """The contact sheet's rule: readable on a phone, growing with the cell."""
    return max(14, min(28, cell_width // 16))


def _layout(thumbs: list[Image.Image | None], x: AxisText, y: AxisText | None, font: Font, max_width: int) -> _Layout:
    columns, rows = len(x.values), len(y.values) if y else 1
    band = line_height(font) + GAP
    texts = [y.name, *y.values] if y else []
    left = min(MAX_LABEL_WIDTH, max((round(font.getlength(t)) for t in texts), default=0)) + GAP
    cell_width = max(MIN_CELL_WIDTH, (max_width - left - (columns + 1) * GAP) // columns)
    readable = [t for t in thumbs if t is not None]
    cell_width = min(cell_width, max([MIN_CELL_WIDTH, *(t.width for t in readable)]))
    ratios = [min(MAX_ASPECT, max(1 / MAX_ASPECT, t.width / t.height)) for t in readable]
    cell_height = round(cell_width / min(ratios, default=1.0))
    height_budget = max_width * MAX_HEIGHT_FACTOR - 2 * band - (rows + 1) * GAP
    cell_height = max(16, min(cell_height, height_budget // rows))
    return _Layout(left, 2 * band, band, cell_width, cell_height, columns, rows)


def _draw_cell(
    grid: Image.Image,
    draw: ImageDraw.ImageDraw,
    layout: _Layout,
    place: tuple[int, int],
    thumb: Image.Image | None,
    font: Font,
) -> None:
    left, top = layout.origin(*place)
    draw.rectangle((left, top, left + layout.cell_width - 1, top + layout.cell_height - 1), fill=CELL_BACKGROUND)
    if thumb is None:
        centre = (left + layout.cell_width // 2, top + layout.cell_height // 2)
        draw.text(centre, NO_RESULT, fill=PLACEHOLDER_COLOUR, font=font, anchor="mm")
        return
    thumb.thumbnail((layout.cell_width, layout.cell_height), Image.Resampling.LANCZOS)
    x = left + (layout.cell_width - thumb.width) // 2
    y = top + (layout.cell_height - thumb.height) // 2
    grid.paste(thumb, (x, y), thumb if thumb.mode == "RGBA" else None)


def _draw_labels(
    grid: Image.Image,
    draw: ImageDraw.ImageDraw,
    layout: _Layout,
    x: AxisText,
    y: AxisText | None,
    font: Font,
    font_size: int,
) -> tuple[GridLabel, ...]:
    """The x name centred over the columns, each x value over its column, the y name and values on the left."""
    placed: list[GridLabel] = []

    def put(role: str, text: str, centre_x: int, top: int, width: int) -> None:
        text = fit_text(draw, text, font, width)
        image = render_label(text, font_size)
        left = max(0, centre_x - image.width // 2)
        grid.paste(image, (left, top))
        placed.append(GridLabel(role, text, (left, top, left + image.width, top + image.height)))

    columns_left = layout.left + GAP
    columns_width = layout.columns * (layout.cell_width + GAP) - GAP
    put("x name", x.name, columns_left + columns_width // 2, GAP // 2, columns_width)
    for column, value in enumerate(x.values):
        left, _ = layout.origin(0, column)
        put("x value", value, left + layout.cell_width // 2, layout.band + GAP // 2, layout.cell_width)
    if y is not None:
        width = layout.left - GAP
        put("y name", y.name, GAP // 2 + width // 2, layout.band + GAP // 2, width)
        for row, value in enumerate(y.values):
            _, top = layout.origin(row, 0)
            middle = top + layout.cell_height // 2 - layout.band // 2
            put("y value", value, GAP // 2 + width // 2, middle, width)
    return tuple(placed)
