"""Contact sheets drawn from real files: the grid, the labels, and what happens with bad items."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from discomfy.media import MediaError
from discomfy.media.contact_sheet import SheetItem, build_contact_sheet

try:
    import imageio_ffmpeg
except ImportError:  # pragma: no cover - CI installs it from requirements-dev.txt
    imageio_ffmpeg = None

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe() if imageio_ffmpeg else None
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="imageio-ffmpeg is not installed, so there is no ffmpeg binary to test with"
)

RED, GREEN, BLUE, YELLOW = (220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 210, 30)
MAGENTA = (255, 0, 255)


def _solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def magenta_video(tmp_path: Path) -> Path:
    if FFMPEG is None:
        pytest.skip("imageio-ffmpeg is not installed, so there is no ffmpeg binary to make videos")
    path = tmp_path / "clip.mp4"
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
            "color=c=0xFF00FF:size=320x240:rate=10:duration=1", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
    subprocess.run(args, check=True)
    return path


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def _is_dark(pixel: tuple[int, ...]) -> bool:
    return sum(pixel[:3]) < 3 * 60


def _count_close(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixels are within `tolerance` of `colour` in every channel."""
    masks = [
        band.point(lambda v, c=c: 255 if abs(v - c) <= tolerance else 0)
        for band, c in zip(image.convert("RGB").split(), colour, strict=True)
    ]
    both = ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])
    return both.histogram()[255]


def _has_light_text(image: Image.Image) -> bool:
    return image.convert("L").getextrema()[1] > 150


def _cell_centres(sheet: Image.Image, columns: int, rows: int) -> list[list[tuple[int, int]]]:
    """Approximate centres of the thumbnails: good enough inside solid-colour cells."""
    width, height = sheet.size
    return [
        [(width * (2 * c + 1) // (2 * columns), height * (2 * r + 1) // (2 * rows)) for c in range(columns)]
        for r in range(rows)
    ]


@needs_ffmpeg
async def test_four_images_and_a_video_make_a_three_by_two_png_grid(tmp_path: Path, magenta_video: Path) -> None:
    colours = (RED, GREEN, BLUE, YELLOW)
    items = [SheetItem(_solid(tmp_path / f"{i}.png", c), f"seed {i}") for i, c in enumerate(colours)]
    items.append(SheetItem(magenta_video, "seed 4"))

    out = await build_contact_sheet(items, tmp_path / "sheet.png", ffmpeg=FFMPEG)

    assert out == tmp_path / "sheet.png"
    with Image.open(out) as sheet:
        assert sheet.format == "PNG"
        sheet.load()
    # Three 320 px thumbnails side by side, two rows of 240 px thumbnails plus their labels.
    assert 3 * 320 <= sheet.width <= 3 * 320 + 4 * 16
    assert 2 * 240 + 2 * 14 <= sheet.height <= 2 * 240 + 2 * 60
    centres = _cell_centres(sheet, columns=3, rows=2)
    top, bottom = centres
    assert all(_close(sheet.getpixel(xy), c) for xy, c in zip(top, (RED, GREEN, BLUE), strict=True))
    assert _close(sheet.getpixel(bottom[0]), YELLOW)
    assert _close(sheet.getpixel(bottom[1]), MAGENTA, tolerance=24)  # the video's first frame
    assert _is_dark(sheet.getpixel(bottom[2]))  # no sixth item: dark background
    assert _is_dark(sheet.getpixel((1, 1)))


async def test_each_thumbnail_has_its_label_written_under_it(tmp_path: Path) -> None:
    items = [SheetItem(_solid(tmp_path / "a.png", RED), "seed 12345678901234567890")]

    out = await build_contact_sheet(items, tmp_path / "sheet.png", ffmpeg=None)

    with Image.open(out) as sheet:
        sheet = sheet.convert("RGB")
    x, y = _cell_centres(sheet, columns=1, rows=1)[0][0]
    while _close(sheet.getpixel((x, y)), RED):
        y += 1  # walk down to the bottom edge of the red thumbnail
    label_band = sheet.crop((0, y, sheet.width, sheet.height))
    assert label_band.height >= 14
    assert _has_light_text(label_band)
    assert not _has_light_text(sheet.crop((0, 0, sheet.width, y)))  # nothing drawn over the image


async def test_unreadable_item_gets_a_placeholder_cell_instead_of_failing_the_sheet(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    items = [
        SheetItem(_solid(tmp_path / "a.png", RED), "seed 1"),
        SheetItem(broken, "seed 2"),
        SheetItem(tmp_path / "never-downloaded.png", "seed 3"),
        SheetItem(_solid(tmp_path / "d.png", BLUE), "seed 4"),
    ]

    out = await build_contact_sheet(items, tmp_path / "sheet.png", ffmpeg=FFMPEG)

    with Image.open(out) as sheet:
        sheet = sheet.convert("RGB")
    (first, second), (third, fourth) = _cell_centres(sheet, columns=2, rows=2)
    assert _close(sheet.getpixel(first), RED)
    assert _close(sheet.getpixel(fourth), BLUE)
    for placeholder in (second, third):
        x, y = placeholder
        cell = sheet.crop((x - 150, y - 40, x + 150, y + 40))
        assert _count_close(cell, RED) == _count_close(cell, BLUE) == 0
        assert _has_light_text(cell)  # "cannot read ..."


async def test_video_without_ffmpeg_is_drawn_as_a_placeholder(tmp_path: Path) -> None:
    fake_video = tmp_path / "clip.mp4"
    fake_video.write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + b"\x00" * 100)
    items = [SheetItem(_solid(tmp_path / "a.png", GREEN), "a"), SheetItem(fake_video, "b")]

    out = await build_contact_sheet(items, tmp_path / "sheet.png", ffmpeg=None)

    with Image.open(out) as sheet:
        sheet = sheet.convert("RGB")
    left, right = _cell_centres(sheet, columns=2, rows=1)[0]
    assert _close(sheet.getpixel(left), GREEN)
    x, y = right
    placeholder = sheet.crop((x - 150, y - 40, x + 150, y + 40))
    assert _count_close(placeholder, GREEN) == 0
    assert _has_light_text(placeholder)


async def test_sheet_of_large_noisy_renders_stays_within_max_width_and_well_under_10_mib(
    tmp_path: Path,
) -> None:
    items = []
    for i in range(4):
        path = tmp_path / f"big{i}.png"
        Image.effect_noise((1400, 1400), 80 + i).convert("RGB").save(path, compress_level=0)
        items.append(SheetItem(path, f"seed {i}"))

    out = await build_contact_sheet(items, tmp_path / "sheet.png", ffmpeg=None, max_width=2048)

    assert out.stat().st_size < 8 * 1024 * 1024
    with Image.open(out) as sheet:
        assert sheet.width <= 2048
        assert sheet.format in {"PNG", "JPEG"}
        assert out.suffix == {"PNG": ".png", "JPEG": ".jpg"}[sheet.format]


async def test_jpeg_output_path_gives_a_jpeg_sheet(tmp_path: Path) -> None:
    items = [SheetItem(_solid(tmp_path / "a.png", RED), "a")]

    out = await build_contact_sheet(items, tmp_path / "sheet.jpg", ffmpeg=None)

    with Image.open(out) as sheet:
        assert sheet.format == "JPEG"


async def test_tall_and_wide_items_share_one_cell_size_without_cropping(tmp_path: Path) -> None:
    items = [
        SheetItem(_solid(tmp_path / "wide.png", RED, (400, 200)), "wide"),
        SheetItem(_solid(tmp_path / "tall.png", BLUE, (200, 400)), "tall"),
    ]

    out = await build_contact_sheet(items, tmp_path / "sheet.png", ffmpeg=None)

    with Image.open(out) as sheet:
        sheet = sheet.convert("RGB")
    assert _count_close(sheet, RED) == 400 * 200  # whole: neither cropped nor scaled
    assert _count_close(sheet, BLUE) == 200 * 400


async def test_empty_sheet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="at least one item"):
        await build_contact_sheet([], tmp_path / "sheet.png", ffmpeg=None)
