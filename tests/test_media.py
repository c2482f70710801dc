"""Media fitting against real files made here with Pillow and the imageio-ffmpeg binary."""

from __future__ import annotations

import logging
import subprocess
import wave
from pathlib import Path

import pytest
from PIL import Image

from discomfy.comfy.models import MediaKind
from discomfy.errors import DiscomfyError
from discomfy.media import (
    FittedFile,
    MediaError,
    TooLarge,
    detect_media_type,
    find_ffmpeg,
    first_frame,
    fit_for_upload,
    parse_probe,
    probe,
)

try:
    import imageio_ffmpeg
except ImportError:  # pragma: no cover - CI installs it from requirements-dev.txt
    imageio_ffmpeg = None

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe() if imageio_ffmpeg else None
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="imageio-ffmpeg is not installed, so there is no ffmpeg binary to test with"
)


def _noisy_image(size: tuple[int, int], seed_level: int = 60) -> Image.Image:
    """Noise over a gradient: compresses like a detailed render, not like a flat test card."""
    noise = Image.effect_noise(size, seed_level).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(noise, gradient, 0.5)


def _ffmpeg(*args: str) -> None:
    if FFMPEG is None:
        pytest.skip("imageio-ffmpeg is not installed, so there is no ffmpeg binary to make videos")
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _lossless_mp4(path: Path, size: str, seconds: float) -> Path:
    """A near-lossless H.264 clip: about 1 MB for 2 s at 640x360, far over a small limit."""
    source = f"testsrc2=size={size}:rate=25:duration={seconds}"
    _ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
            str(path))  # fmt: skip
    return path


@pytest.fixture
def big_mp4(tmp_path: Path) -> Path:
    return _lossless_mp4(tmp_path / "clip.mp4", "640x360", 2)


@pytest.fixture
def small_mp4(tmp_path: Path) -> Path:
    return _lossless_mp4(tmp_path / "clip.mp4", "320x240", 1)


@pytest.fixture
def noise_mp4(tmp_path: Path) -> Path:
    """Pure noise: x264 overshoots a low bitrate on it, which exercises the retry."""
    path = tmp_path / "noise.mp4"
    source = "nullsrc=s=320x240:r=25:d=1,geq=lum='random(1)*255':cb=128:cr=128"
    _ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
            "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


@pytest.fixture
def webm_with_audio(tmp_path: Path) -> Path:
    path = tmp_path / "clip.webm"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=480x270:rate=25:duration=1.5",
            "-f", "lavfi", "-i", "sine=duration=1.5",
            "-c:v", "libvpx-vp9", "-b:v", "4M", "-deadline", "realtime", "-cpu-used", "8",
            "-c:a", "libopus", str(path))  # fmt: skip
    return path


@pytest.fixture
def streamed_webm(tmp_path: Path) -> Path:
    """Written to a pipe, so the muxer could not go back to store the duration."""
    if FFMPEG is None:
        pytest.skip("imageio-ffmpeg is not installed, so there is no ffmpeg binary to make videos")
    path = tmp_path / "streamed.webm"
    with path.open("wb") as out:
        args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libvpx-vp9", "-deadline",
                "realtime", "-f", "webm", "pipe:1"]  # fmt: skip
        subprocess.run(args, stdout=out, check=True)
    header = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True)
    assert "Duration: N/A" in header.stderr.decode()  # what the test relies on
    return path


def _animated_gif(path: Path, size: tuple[int, int], frames: int = 8) -> Path:
    images = [_noisy_image(size, 40 + i) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
    return path


# ---- content types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow_format", "options", "content_type", "extension"),
    [
        ("PNG", {}, "image/png", ".png"),
        ("JPEG", {"quality": 80}, "image/jpeg", ".jpg"),
        ("WEBP", {"quality": 80}, "image/webp", ".webp"),
        ("GIF", {}, "image/gif", ".gif"),
    ],
)
def test_image_content_type_comes_from_magic_bytes_not_the_name(
    tmp_path: Path, pillow_format: str, options: dict[str, int], content_type: str, extension: str
) -> None:
    path = tmp_path / "ComfyUI_00001_.bin"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(path, pillow_format, **options)

    found = detect_media_type(path)

    assert (found.content_type, found.extension, found.kind) == (
        content_type,
        extension,
        MediaKind.IMAGE,
    )
    assert found.animated is False


@pytest.mark.parametrize("pillow_format", ["WEBP", "GIF", "PNG"])
def test_animated_webp_gif_and_apng_are_recognised_as_animated(tmp_path: Path, pillow_format: str) -> None:
    path = tmp_path / "anim"
    frames = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(path, pillow_format, save_all=True, append_images=frames[1:], duration=100)

    found = detect_media_type(path)

    assert found.animated is True
    assert found.kind is MediaKind.IMAGE


@pytest.mark.parametrize(
    ("head", "content_type", "extension"),
    [
        (b"fLaC\x00\x00\x00\x22", "audio/flac", ".flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg", ".mp3"),
        (b"\xff\xfb\x90\x64\x00\x00", "audio/mpeg", ".mp3"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead", "audio/ogg", ".opus"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "audio/ogg", ".ogg"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4", ".mp4"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "audio/mp4", ".m4a"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm", ".webm"),
    ],
)
def test_audio_and_video_content_types_come_from_their_headers(
    tmp_path: Path, head: bytes, content_type: str, extension: str
) -> None:
    path = tmp_path / "output.dat"
    path.write_bytes(head + b"\x00" * 64)

    found = detect_media_type(path)

    assert (found.content_type, found.extension) == (content_type, extension)


def test_wav_written_by_the_wave_module_is_audio_wav(tmp_path: Path) -> None:
    path = tmp_path / "tone"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 800)

    found = detect_media_type(path)

    assert (found.content_type, found.extension, found.kind) == (
        "audio/wav",
        ".wav",
        MediaKind.AUDIO,
    )


def test_unknown_bytes_fall_back_to_the_name_and_then_to_octet_stream(tmp_path: Path) -> None:
    named = tmp_path / "notes.mp3"
    named.write_bytes(b"plain text, no magic")
    unnamed = tmp_path / "notes.xyz"
    unnamed.write_bytes(b"plain text, no magic")

    assert detect_media_type(named).content_type == "audio/mpeg"
    assert detect_media_type(unnamed).content_type == "application/octet-stream"


def test_missing_file_raises_media_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "gone.png"

    with pytest.raises(MediaError, match=r"gone\.png") as caught:
        detect_media_type(missing)

    assert isinstance(caught.value, DiscomfyError)
    assert caught.value.path == missing


# ---- images ------------------------------------------------------------------------------------


async def test_file_under_the_limit_is_returned_untouched(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(path)

    fitted = await fit_for_upload(path, 1_000_000, workdir=tmp_path / "work", ffmpeg=None)

    assert isinstance(fitted, FittedFile)
    assert fitted.path == path
    assert fitted.changed is False
    assert (fitted.filename, fitted.content_type) == ("small.png", "image/png")
    assert fitted.size == fitted.original_size == path.stat().st_size
    assert not (tmp_path / "work").exists()


async def test_misnamed_file_is_uploaded_under_the_extension_of_its_real_type(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ComfyUI_00007_.png"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(path, "WEBP")

    fitted = await fit_for_upload(path, 1_000_000, workdir=tmp_path, ffmpeg=None)

    assert isinstance(fitted, FittedFile)
    assert (fitted.filename, fitted.content_type) == ("ComfyUI_00007_.webp", "image/webp")


async def test_noisy_png_over_the_limit_is_reencoded_as_webp_at_full_size(tmp_path: Path) -> None:
    path = tmp_path / "render.png"
    _noisy_image((1024, 1024)).save(path)
    limit = 600_000
    assert path.stat().st_size > 3 * limit  # about 2.1 MB

    fitted = await fit_for_upload(path, limit, workdir=tmp_path / "work", ffmpeg=None)

    assert isinstance(fitted, FittedFile)
    assert fitted.changed is True
    assert fitted.size <= limit
    assert fitted.size == fitted.path.stat().st_size
    assert fitted.path.parent == tmp_path / "work"
    assert (fitted.filename, fitted.content_type) == ("render.webp", "image/webp")
    assert detect_media_type(fitted.path).content_type == fitted.content_type
    with Image.open(fitted.path) as image:
        image.load()
        assert image.size == (1024, 1024)
    assert path.exists()  # the original stays where it was


async def test_image_is_downscaled_when_no_quality_step_fits(tmp_path: Path) -> None:
    path = tmp_path / "render.png"
    _noisy_image((1024, 1024)).save(path)
    limit = 150_000

    fitted = await fit_for_upload(path, limit, workdir=tmp_path, ffmpeg=None)

    assert isinstance(fitted, FittedFile)
    assert fitted.size <= limit
    assert detect_media_type(fitted.path).content_type == fitted.content_type
    assert fitted.filename == "render" + detect_media_type(fitted.path).extension
    with Image.open(fitted.path) as image:
        image.load()
        assert 256 <= image.width < 1024
        assert image.width == image.height  # aspect ratio kept


async def test_image_that_cannot_fit_even_at_a_small_size_is_too_large_with_a_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "render.png"
    _noisy_image((768, 768)).save(path)
    workdir = tmp_path / "work"

    result = await fit_for_upload(path, 2_000, workdir=workdir, ffmpeg=None)

    assert isinstance(result, TooLarge)
    assert result.original == path
    assert result.limit == 2_000
    assert result.size == path.stat().st_size
    assert "2,000-byte limit" in result.reason
    assert not workdir.exists() or not any(workdir.iterdir())


async def test_animated_gif_over_the_limit_stays_animated_as_webp(tmp_path: Path) -> None:
    path = _animated_gif(tmp_path / "loop.gif", (256, 256))
    limit = path.stat().st_size // 2

    fitted = await fit_for_upload(path, limit, workdir=tmp_path, ffmpeg=None)

    assert isinstance(fitted, FittedFile)
    assert fitted.size <= limit
    assert fitted.animated is True
    assert (fitted.filename, fitted.content_type) == ("loop.webp", "image/webp")
    assert detect_media_type(fitted.path).animated is True
    with Image.open(fitted.path) as image:
        assert image.n_frames == 8


async def test_animation_too_big_to_stay_animated_falls_back_to_its_first_frame(
    tmp_path: Path,
) -> None:
    path = _animated_gif(tmp_path / "loop.gif", (512, 512))
    limit = 60_000  # eight noisy frames never fit; one does

    fitted = await fit_for_upload(path, limit, workdir=tmp_path, ffmpeg=None)

    assert isinstance(fitted, FittedFile)
    assert fitted.size <= limit
    assert fitted.animated is False
    assert fitted.note is not None
    assert "first frame" in fitted.note
    with Image.open(fitted.path) as image:
        assert getattr(image, "n_frames", 1) == 1


async def test_audio_over_the_limit_is_too_large_not_reencoded(tmp_path: Path) -> None:
    path = tmp_path / "voice.flac"
    path.write_bytes(b"fLaC" + b"\x00" * 5_000)

    result = await fit_for_upload(path, 1_000, workdir=tmp_path, ffmpeg=FFMPEG)

    assert isinstance(result, TooLarge)
    assert "audio" in result.reason
    assert result.original == path


# ---- videos ------------------------------------------------------------------------------------


async def test_video_over_the_limit_without_ffmpeg_is_too_large_saying_ffmpeg_is_needed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + b"\x00" * 10_000)

    result = await fit_for_upload(path, 1_000, workdir=tmp_path / "work", ffmpeg=None)

    assert isinstance(result, TooLarge)
    assert "ffmpeg" in result.reason
    assert result.original == path


@needs_ffmpeg
def test_find_ffmpeg_falls_back_to_imageio_ffmpeg_when_the_configured_one_is_missing() -> None:
    assert find_ffmpeg("no-such-ffmpeg-binary") == FFMPEG
    assert find_ffmpeg(None) == FFMPEG


@needs_ffmpeg
def test_find_ffmpeg_prefers_the_configured_path() -> None:
    assert FFMPEG is not None
    assert find_ffmpeg(FFMPEG) == str(Path(FFMPEG))


@needs_ffmpeg
async def test_mp4_over_the_limit_is_transcoded_to_an_h264_mp4_under_it(tmp_path: Path, big_mp4: Path) -> None:
    path = big_mp4
    limit = 300_000
    assert path.stat().st_size > 3 * limit  # about 960 kB

    fitted = await fit_for_upload(path, limit, workdir=tmp_path / "work", ffmpeg=FFMPEG)

    assert isinstance(fitted, FittedFile)
    assert fitted.size <= limit
    assert (fitted.filename, fitted.content_type, fitted.kind) == (
        "clip.mp4",
        "video/mp4",
        MediaKind.VIDEO,
    )
    assert FFMPEG is not None
    info = await probe(FFMPEG, fitted.path)
    assert (info.video_codec, info.pixel_format, info.has_audio) == ("h264", "yuv420p", False)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    frame = first_frame(fitted.path, ffmpeg=FFMPEG)
    assert frame is not None
    assert frame.size == (640, 360)


@needs_ffmpeg
async def test_webm_with_sound_becomes_an_mp4_that_keeps_its_audio(tmp_path: Path, webm_with_audio: Path) -> None:
    path = webm_with_audio
    assert detect_media_type(path).content_type == "video/webm"
    limit = path.stat().st_size // 2

    fitted = await fit_for_upload(path, limit, workdir=tmp_path, ffmpeg=FFMPEG)

    assert isinstance(fitted, FittedFile)
    assert fitted.size <= limit
    assert (fitted.filename, fitted.content_type) == ("clip.mp4", "video/mp4")
    assert detect_media_type(fitted.path).content_type == "video/mp4"
    assert FFMPEG is not None
    info = await probe(FFMPEG, fitted.path)
    assert (info.video_codec, info.has_audio) == ("h264", True)


@needs_ffmpeg
async def test_video_that_overshoots_its_first_bitrate_is_retried_once_lower_and_fits(
    tmp_path: Path, noise_mp4: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="discomfy.media")
    limit = 80_000

    fitted = await fit_for_upload(noise_mp4, limit, workdir=tmp_path / "work", ffmpeg=FFMPEG)

    assert isinstance(fitted, FittedFile)
    assert fitted.size <= limit
    tries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Transcoded")]
    assert len(tries) == 2
    assert list((tmp_path / "work").iterdir()) == [fitted.path]


@needs_ffmpeg
async def test_video_too_long_for_any_sane_bitrate_is_too_large_and_leaves_no_files(
    tmp_path: Path, small_mp4: Path
) -> None:
    path = small_mp4
    workdir = tmp_path / "work"

    result = await fit_for_upload(path, 3_000, workdir=workdir, ffmpeg=FFMPEG)

    assert isinstance(result, TooLarge)
    assert "kbit/s" in result.reason
    assert result.original == path
    assert not workdir.exists() or not any(workdir.iterdir())


@needs_ffmpeg
async def test_duration_missing_from_a_streamed_webm_is_measured_by_reading_it(
    streamed_webm: Path,
) -> None:
    assert FFMPEG is not None
    info = await probe(FFMPEG, streamed_webm)

    assert info.duration == pytest.approx(1.0, abs=0.1)
    assert (info.width, info.height) == (320, 240)


def test_probe_output_is_parsed_skipping_cover_art_and_noting_audio() -> None:
    stderr = """
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/x.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 3906 kb/s
  Stream #0:0[0x1](und): Video: mjpeg (Baseline), yuvj420p(pc), 600x600, 90k tbn (attached pic)
  Stream #0:1[0x2](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1280x720 [SAR 1:1 DAR 16:9], 3825 kb/s, 25 fps
  Stream #0:2[0x3](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s
"""  # noqa: E501 - real ffmpeg line

    info = parse_probe(stderr)

    assert info.duration == pytest.approx(62.5)
    assert (info.video_codec, info.pixel_format) == ("h264", "yuv420p")
    assert (info.width, info.height) == (1280, 720)
    assert info.has_audio is True


def test_probe_output_without_duration_says_none() -> None:
    info = parse_probe("  Duration: N/A, start: 0.000000, bitrate: N/A\n")

    assert info.duration is None
    assert info.video_codec is None
    assert info.has_audio is False


# ---- first frames ------------------------------------------------------------------------------


def test_first_frame_of_an_animation_is_frame_zero(tmp_path: Path) -> None:
    path = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (48, 32), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, lossless=True)

    frame = first_frame(path, ffmpeg=None)

    assert frame is not None
    assert frame.size == (48, 32)
    assert frame.convert("RGB").getpixel((10, 10)) == (250, 0, 0)


@needs_ffmpeg
def test_first_frame_of_a_video_is_decoded_with_ffmpeg(small_mp4: Path) -> None:
    assert first_frame(small_mp4, ffmpeg=None) is None
    frame = first_frame(small_mp4, ffmpeg=FFMPEG)
    assert frame is not None
    assert frame.size == (320, 240)


def test_first_frame_of_garbage_is_none(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)

    assert first_frame(path, ffmpeg=FFMPEG) is None
