"""The X/Y grid of a sweep: every cell in its place, and the axes' names and values written on the edges."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops

from discomfy.media import MediaError
from discomfy.media.contact_sheet import CELL_BACKGROUND
from discomfy.media.xy_grid import NO_RESULT, AxisText, XYGrid, build_xy_grid, render_label

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


def _cells(tmp_path: Path, count: int, size: tuple[int, int] = (160, 120)) -> list[Path | None]:
    paths: list[Path | None] = []
    for index in range(count):
        path = tmp_path / f"cell{index}.png"
        Image.new("RGB", size, COLOURS[index % len(COLOURS)]).save(path)
        paths.append(path)
    return paths


def _drawn(grid: XYGrid, role: str) -> list[str]:
    return [label.text for label in grid.labels if label.role == role]


def _assert_label_drawn(image: Image.Image, grid: XYGrid, text: str) -> None:
    """The label's box on the grid holds exactly that text as the grid's font renders it."""
    (box,) = [label.box for label in grid.labels if label.text == text]
    expected = render_label(text, grid.font_size)
    crop = image.crop(box)
    assert crop.size == expected.size
    assert ImageChops.difference(crop, expected).getbbox() is None, f"{text!r} is not drawn at {box}"


async def test_the_axes_names_and_values_are_written_on_the_edges(tmp_path: Path) -> None:
    x = AxisText("cfg", ("3", "5", "7"))
    y = AxisText("sampler", ("euler", "uni_pc"))
    grid = await build_xy_grid(_cells(tmp_path, 6), x, y, tmp_path / "grid.png", ffmpeg=None)

    assert _drawn(grid, "x name") == ["cfg"]
    assert _drawn(grid, "x value") == ["3", "5", "7"]
    assert _drawn(grid, "y name") == ["sampler"]
    assert _drawn(grid, "y value") == ["euler", "uni_pc"]
    with Image.open(grid.path) as saved:
        image = saved.convert("RGB")
    assert image.size == grid.size
    for text in ("cfg", "3", "5", "7", "sampler", "euler", "uni_pc"):
        _assert_label_drawn(image, grid, text)


async def test_column_values_sit_above_their_cells_and_row_values_beside_theirs(tmp_path: Path) -> None:
    x = AxisText("steps", ("10", "20", "30"))
    y = AxisText("seed", ("1", "2"))
    grid = await build_xy_grid(_cells(tmp_path, 6), x, y, tmp_path / "grid.png", ffmpeg=None)
    with Image.open(grid.path) as saved:
        image = saved.convert("RGB")

    columns = [label.box for label in grid.labels if label.role == "x value"]
    rows = [label.box for label in grid.labels if label.role == "y value"]
    for index, colour in enumerate(COLOURS):
        column, row = index % 3, index // 3
        centre_x = (columns[column][0] + columns[column][2]) // 2
        centre_y = (rows[row][1] + rows[row][3]) // 2
        assert image.getpixel((centre_x, centre_y)) == colour  # cell (column, row) is under and beside its labels
    assert max(box[3] for box in columns) < min(box[1] for box in rows)  # the header is above every row label
    assert max(box[2] for box in rows) < min(box[0] for box in columns)  # row labels are left of every column


async def test_one_axis_makes_one_row_and_a_missing_result_says_so(tmp_path: Path) -> None:
    cells = _cells(tmp_path, 2)
    cells[1] = None
    grid = await build_xy_grid(cells, AxisText("denoise", ("0.4", "0.8")), None, tmp_path / "g.png", ffmpeg=None)
    assert _drawn(grid, "y name") == _drawn(grid, "y value") == []
    with Image.open(grid.path) as saved:
        image = saved.convert("RGB")
    _assert_label_drawn(image, grid, "denoise")
    _assert_label_drawn(image, grid, "0.8")
    box = next(label.box for label in grid.labels if label.text == "0.8")
    centre_x, centre_y = (box[0] + box[2]) // 2, (box[3] + grid.size[1]) // 2
    middle = image.crop((centre_x - 40, centre_y - 12, centre_x + 40, centre_y + 12))
    colours = {colour for _, colour in middle.getcolors(maxcolors=10_000) or []}
    assert CELL_BACKGROUND in colours  # an empty cell, not an image...
    assert len(colours) > 1  # ...with the placeholder written in it
    assert NO_RESULT == "no result"


async def test_cells_that_do_not_fill_the_grid_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="needs as many cells"):
        await build_xy_grid(_cells(tmp_path, 3), AxisText("cfg", ("1", "2")), None, tmp_path / "g.png", ffmpeg=None)
