"""Video work through the ffmpeg binary alone: probe, transcode to fit a limit, grab a frame."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from discomfy.media.models import FittedFile, MediaError, TooLarge
from discomfy.media.sniff import MP4, upload_name

log = logging.getLogger(__name__)

TRANSCODE_TIMEOUT = 900.0
FRAME_TIMEOUT = 60.0
TARGET_FILL = 0.9  # aim below the limit: container overhead and rate-control overshoot
RETRY_FILL = 0.85  # the second try corrects by what the first one missed, with this much slack
AUDIO_KBPS = 96
MIN_AUDIO_KBPS = 32
MIN_VIDEO_KBPS = 48  # below this H.264 is mush; say the video is too long instead
X264_PRESET = "medium"
# (minimum video kbit/s, cap on the shorter side): fewer pixels when bits are scarce.
SHORT_SIDE_BY_KBPS = ((4000, None), (2000, 1080), (1000, 720), (500, 480), (0, 360))
NO_FFMPEG = (
    "ffmpeg is needed to shrink videos and was not found: install ffmpeg, set its path in the"
    " config, or pip install imageio-ffmpeg"
)

_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+)[^,]*, (?P<pix>\w+)(?P<rest>.*)")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})\b")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: ")
_OUT_TIME = re.compile(rb"out_time_us=(\d+)")


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What `ffmpeg -i` says about a file; None where it did not say."""

    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    pixel_format: str | None
    has_audio: bool


@dataclass(frozen=True, slots=True)
class BitratePlan:
    """Bitrates that make `duration` seconds fit a byte budget, and the frame size they afford."""

    video_kbps: int
    audio_kbps: int
    width: int | None
    height: int | None


def find_ffmpeg(configured: str | None = "ffmpeg") -> str | None:
    """Resolve the ffmpeg binary: the configured name or path, else imageio-ffmpeg's, else None."""
    if configured and (found := shutil.which(configured)):
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        log.info("ffmpeg not found (configured %r) and imageio-ffmpeg is not installed", configured)
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        log.info("imageio-ffmpeg has no usable binary: %s", exc)
        return None


def parse_probe(stderr: str) -> VideoInfo:
    """Read duration, first video stream and audio presence from `ffmpeg -i` output."""
    duration = None
    if match := _DURATION.search(stderr):
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    codec = pix = None
    width = height = None
    for line in stderr.splitlines():
        stream = _VIDEO_STREAM.search(line)
        if stream is None or "attached pic" in line:
            continue
        codec, pix = stream["codec"], stream["pix"]
        if size := _SIZE.search(stream["rest"]):
            width, height = int(size[1]), int(size[2])
        break
    has_audio = _AUDIO_STREAM.search(stderr) is not None
    return VideoInfo(duration, width, height, codec, pix, has_audio)


async def probe(ffmpeg: str, path: Path) -> VideoInfo:
    """Probe with `ffmpeg -i`; when the container has no duration, decode packets to measure it.

    Raises:
        MediaError: ffmpeg could not be run.
    """
    _, _, stderr = await _run([ffmpeg, "-hide_banner", "-nostdin", "-i", _input(path)])
    info = parse_probe(stderr.decode(errors="replace"))
    if info.duration is None or info.duration <= 0:
        duration = await _measure_duration(ffmpeg, path)
        info = VideoInfo(duration, info.width, info.height, info.video_codec, info.pixel_format, info.has_audio)
    return info


def plan_bitrate(limit: int, info: VideoInfo, fill: float = TARGET_FILL) -> BitratePlan | None:
    """Split a byte budget over the duration; None when the video would be mush."""
    if not info.duration:
        return None
    total_kbps = limit * 8 * fill / info.duration / 1000
    audio_kbps = 0
    if info.has_audio:
        audio_kbps = max(MIN_AUDIO_KBPS, min(AUDIO_KBPS, int(total_kbps * 0.15)))
    video_kbps = int(total_kbps - audio_kbps)
    if video_kbps < MIN_VIDEO_KBPS:
        return None
    width, height = _frame_size(info.width, info.height, video_kbps)
    return BitratePlan(video_kbps, audio_kbps, width, height)


async def fit_video(
    path: Path, limit: int, workdir: Path, ffmpeg: str | None, original_size: int
) -> FittedFile | TooLarge:
    """Transcode to H.264 MP4 at a bitrate that fits, retrying once lower if it came out big."""
    if ffmpeg is None:
        return TooLarge(NO_FFMPEG, path, original_size, limit)
    out = workdir / f"{path.stem}-{uuid.uuid4().hex[:8]}.mp4"
    try:
        async with asyncio.timeout(TRANSCODE_TIMEOUT):
            result = await _shrink_video(ffmpeg, path, out, limit, original_size)
    except asyncio.CancelledError:
        await asyncio.to_thread(out.unlink, missing_ok=True)  # ffmpeg is already killed by _run
        raise
    except (MediaError, OSError, TimeoutError) as exc:
        problem = f"took longer than {TRANSCODE_TIMEOUT:.0f} s" if isinstance(exc, TimeoutError) else exc
        log.warning("Cannot transcode %s: %s", path, problem)
        result = TooLarge(f"the video could not be transcoded ({problem})", path, original_size, limit)
    if isinstance(result, TooLarge):
        await asyncio.to_thread(out.unlink, missing_ok=True)
    return result


async def _shrink_video(ffmpeg: str, path: Path, out: Path, limit: int, original_size: int) -> FittedFile | TooLarge:
    info = await probe(ffmpeg, path)
    plan = plan_bitrate(limit, info)
    if plan is None:
        return _too_long(path, original_size, limit, info)
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    for attempt in (1, 2):
        await transcode(ffmpeg, path, out, plan)
        size = (await asyncio.to_thread(out.stat)).st_size
        log.info(
            "Transcoded %s (%d bytes) at %d+%d kbit/s, try %d: %d bytes",
            path.name, original_size, plan.video_kbps, plan.audio_kbps, attempt, size,
        )  # fmt: skip
        if size <= limit:
            return _fitted(path, out, size, original_size, plan)
        plan = _lower(plan, limit, size, info)
        if plan is None:
            break
    reason = f"the video stays over the {limit:,}-byte limit even transcoded at a low bitrate"
    return TooLarge(reason, path, original_size, limit)


async def transcode(ffmpeg: str, source: Path, dest: Path, plan: BitratePlan) -> None:
    """H.264 + yuv420p + faststart plays inline everywhere Discord does; AAC only if there was audio.

    Raises:
        MediaError: ffmpeg failed or could not be started.
    """
    scale = "scale=trunc(iw/2)*2:trunc(ih/2)*2"  # yuv420p needs even sides
    if plan.width and plan.height:
        scale = f"scale={plan.width}:{plan.height}"
    kbps = plan.video_kbps
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", _input(source)]
    args += ["-map", "0:v:0", "-vf", scale, "-c:v", "libx264", "-preset", X264_PRESET]
    args += ["-b:v", f"{kbps}k", "-maxrate", f"{kbps * 3 // 2}k", "-bufsize", f"{kbps * 2}k"]
    args += ["-pix_fmt", "yuv420p", "-movflags", "+faststart", "-sn", "-dn"]
    if plan.audio_kbps:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", f"{plan.audio_kbps}k"]
    else:
        args += ["-an"]
    args += ["-f", "mp4", _output(dest)]
    returncode, _, stderr = await _run(args)
    if returncode != 0:
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        raise MediaError(source, f"ffmpeg exited with {returncode}: {_last_line(stderr)}")


def video_first_frame(ffmpeg: str, path: Path) -> Image.Image | None:
    """Decode frame 0 to a PNG in a temporary dir (blocking: run it in a thread)."""
    with tempfile.TemporaryDirectory(prefix="discomfy-frame-") as tmp:
        png = Path(tmp) / "frame.png"
        args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", _input(path)]
        args += ["-map", "0:v:0", "-frames:v", "1", "-f", "image2", _output(png)]
        try:
            result = subprocess.run(args, capture_output=True, timeout=FRAME_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("ffmpeg could not grab a frame of %s: %s", path, exc)
            return None
        if result.returncode != 0 or not png.exists():
            log.warning("No frame from %s: %s", path, _last_line(result.stderr))
            return None
        with Image.open(png) as image:
            image.load()
        return image


def _too_long(path: Path, original_size: int, limit: int, info: VideoInfo) -> TooLarge:
    if info.duration is None:
        reason = "ffmpeg could not tell how long the video is, so no bitrate can be planned"
    else:
        reason = (
            f"the video is {info.duration:.1f} s long: fitting it in {limit:,} bytes would need"
            f" under {MIN_VIDEO_KBPS} kbit/s"
        )
    return TooLarge(reason, path, original_size, limit)


def _lower(plan: BitratePlan, limit: int, size: int, info: VideoInfo) -> BitratePlan | None:
    """Scale the video bitrate by how far the last try overshot, with extra slack."""
    video_kbps = int(plan.video_kbps * limit / size * RETRY_FILL)
    if video_kbps < MIN_VIDEO_KBPS:
        return None
    width, height = _frame_size(info.width, info.height, video_kbps)
    return BitratePlan(video_kbps, plan.audio_kbps, width, height)


def _frame_size(width: int | None, height: int | None, kbps: int) -> tuple[int | None, int | None]:
    """Even dimensions, with the shorter side capped for the bitrate; None when unknown."""
    if not width or not height:
        return None, None
    cap = next(side for floor, side in SHORT_SIDE_BY_KBPS if kbps >= floor)
    factor = min(1.0, cap / min(width, height)) if cap else 1.0
    return _even(width * factor), _even(height * factor)


def _even(value: float) -> int:
    return max(2, math.floor(value / 2) * 2)


def _fitted(path: Path, out: Path, size: int, original_size: int, plan: BitratePlan) -> FittedFile:
    dims = f" at {plan.width}x{plan.height}" if plan.width else ""
    return FittedFile(
        path=out,
        filename=upload_name(path, MP4),
        content_type=MP4.content_type,
        kind=MP4.kind,
        size=size,
        original=path,
        original_size=original_size,
        note=f"H.264 MP4 at {plan.video_kbps + plan.audio_kbps} kbit/s{dims}",
    )


async def _measure_duration(ffmpeg: str, path: Path) -> float | None:
    """Copy packets to nowhere and read the last timestamp: works when the header has none."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", _input(path)]
    args += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    _, stdout, _ = await _run(args)
    times = _OUT_TIME.findall(stdout)
    if not times or int(times[-1]) <= 0:
        return None
    return int(times[-1]) / 1_000_000


async def _run(args: list[str]) -> tuple[int, bytes, bytes]:
    """Run a subprocess off the event loop; kill it when cancelled (also by a caller's timeout).

    Raises:
        MediaError: it could not be started.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise MediaError(Path(args[0]), f"cannot run ffmpeg: {exc}") from exc
    try:
        stdout, stderr = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stdout, stderr


def _input(path: Path) -> str:
    """`file:` keeps ffmpeg from reading a name with a colon or leading dash as something else."""
    return f"file:{path.absolute()}"


def _output(path: Path) -> str:
    return f"file:{path.absolute()}"


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"
