"""Content type and extension from magic bytes, because ComfyUI names files by node, not by format."""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import BinaryIO

from discomfy.comfy.models import MediaKind
from discomfy.media.models import MediaError, MediaType

log = logging.getLogger(__name__)

HEAD_BYTES = 64
OCTET_STREAM = MediaType("application/octet-stream", "", MediaKind.OTHER)

PNG = MediaType("image/png", ".png", MediaKind.IMAGE)
APNG = MediaType("image/png", ".png", MediaKind.IMAGE, animated=True)
JPEG = MediaType("image/jpeg", ".jpg", MediaKind.IMAGE)
GIF = MediaType("image/gif", ".gif", MediaKind.IMAGE)
ANIMATED_GIF = MediaType("image/gif", ".gif", MediaKind.IMAGE, animated=True)
WEBP = MediaType("image/webp", ".webp", MediaKind.IMAGE)
ANIMATED_WEBP = MediaType("image/webp", ".webp", MediaKind.IMAGE, animated=True)
MP4 = MediaType("video/mp4", ".mp4", MediaKind.VIDEO)
MOV = MediaType("video/quicktime", ".mov", MediaKind.VIDEO)
WEBM = MediaType("video/webm", ".webm", MediaKind.VIDEO)
MKV = MediaType("video/x-matroska", ".mkv", MediaKind.VIDEO)
M4A = MediaType("audio/mp4", ".m4a", MediaKind.AUDIO)
FLAC = MediaType("audio/flac", ".flac", MediaKind.AUDIO)
MP3 = MediaType("audio/mpeg", ".mp3", MediaKind.AUDIO)
AAC = MediaType("audio/aac", ".aac", MediaKind.AUDIO)
WAV = MediaType("audio/wav", ".wav", MediaKind.AUDIO)
OGG = MediaType("audio/ogg", ".ogg", MediaKind.AUDIO)
OPUS = MediaType("audio/ogg", ".opus", MediaKind.AUDIO)
OGV = MediaType("video/ogg", ".ogv", MediaKind.VIDEO)

_BY_EXTENSION: dict[str, MediaType] = {
    ".png": PNG,
    ".apng": APNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".gif": GIF,
    ".webp": WEBP,
    ".mp4": MP4,
    ".m4v": MP4,
    ".mov": MOV,
    ".webm": WEBM,
    ".mkv": MKV,
    ".m4a": M4A,
    ".flac": FLAC,
    ".mp3": MP3,
    ".aac": AAC,
    ".wav": WAV,
    ".ogg": OGG,
    ".oga": OGG,
    ".opus": OPUS,
    ".ogv": OGV,
}
_AUDIO_MP4_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
BMP = MediaType("image/bmp", ".bmp", MediaKind.IMAGE)
TIFF = MediaType("image/tiff", ".tiff", MediaKind.IMAGE)
#: What ComfyUI's LoadImage reads (Pillow), recognised by content: a file's name or claimed type proves nothing.
INPUT_IMAGES = frozenset({PNG, JPEG, GIF, WEBP, ANIMATED_WEBP, BMP, TIFF})


def media_type_from_name(name: str) -> MediaType:
    """Best guess from a file name alone, for files whose bytes we do not recognise."""
    suffix = Path(name).suffix.lower()
    return _BY_EXTENSION.get(suffix, OCTET_STREAM)


def sniff_input_image(data: bytes) -> MediaType | None:
    """The image type of an attachment's bytes, or None when they are not an image LoadImage reads."""
    head = data[:HEAD_BYTES]
    if head.startswith(b"BM") and len(data) > 26:
        return BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    found = _from_head(head)
    return found if found in INPUT_IMAGES else None


def detect_media_type(path: Path) -> MediaType:
    """Sniff the real type of a file (blocking: a few small reads); falls back to its name.

    Raises:
        MediaError: the file cannot be opened.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
            found = _from_head(head)
            if found is PNG and _png_is_animated(fh):
                found = APNG
            elif found is GIF and _gif_is_animated(fh):
                found = ANIMATED_GIF
    except OSError as exc:
        raise MediaError(path, f"cannot read file: {exc}") from exc
    if found is None:
        found = media_type_from_name(path.name)
        log.debug("No known magic in %s; guessed %s from its name", path, found.content_type)
    return found


def upload_name(path: Path, media_type: MediaType) -> str:
    """The file's name with the extension its content type calls for."""
    if not media_type.extension:
        return path.name
    if path.suffix.lower() == media_type.extension or (media_type is JPEG and path.suffix.lower() == ".jpeg"):
        return path.name
    return path.stem + media_type.extension


def _from_head(head: bytes) -> MediaType | None:
    """Recognise a format from its first bytes alone, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        animated = head[12:16] == b"VP8X" and len(head) > 20 and head[20] & 0x02
        return ANIMATED_WEBP if animated else WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_MP4_BRANDS:
            return M4A
        return MOV if brand == b"qt  " else MP4
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM if b"webm" in head else MKV
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"OggS"):
        return _ogg_kind(head)
    return _from_audio_frame(head)


def _ogg_kind(head: bytes) -> MediaType:
    """Ogg says what it carries in the first packet, right after the 28-byte page header."""
    if head[28:36] == b"OpusHead":
        return OPUS
    if head[28:35] == b"\x80theora":
        return OGV
    return OGG


def _from_audio_frame(head: bytes) -> MediaType | None:
    """MP3 starts with an ID3 tag or an MPEG frame sync; ADTS AAC has layer bits 00."""
    if head.startswith(b"ID3"):
        return MP3
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return MP3 if head[1] & 0x06 else AAC
    return None


def _png_is_animated(fh: BinaryIO) -> bool:
    """An APNG has an acTL chunk before its first IDAT; walk chunk headers only."""
    fh.seek(8)
    while header := fh.read(8):
        if len(header) < 8:
            return False
        length, chunk_type = struct.unpack(">I4s", header)
        if chunk_type == b"acTL":
            return True
        if chunk_type in (b"IDAT", b"IEND"):
            return False
        fh.seek(length + 4, 1)  # chunk data + CRC
    return False


def _gif_is_animated(fh: BinaryIO) -> bool:
    """Count image descriptors by walking GIF blocks, skipping pixel data without decoding it."""
    fh.seek(10)
    flags = fh.read(3)
    if len(flags) < 3:
        return False
    if flags[0] & 0x80:
        fh.seek(3 << ((flags[0] & 0x07) + 1), 1)  # global colour table
    frames = 0
    while introducer := fh.read(1):
        if introducer == b"\x2c":  # image descriptor
            frames += 1
            if frames > 1:
                return True
            descriptor = fh.read(9)
            if len(descriptor) < 9:
                return False
            if descriptor[8] & 0x80:
                fh.seek(3 << ((descriptor[8] & 0x07) + 1), 1)  # local colour table
            fh.read(1)  # LZW minimum code size
            _skip_sub_blocks(fh)
        elif introducer == b"\x21":  # extension
            fh.read(1)
            _skip_sub_blocks(fh)
        else:  # trailer or garbage
            return False
    return False


def _skip_sub_blocks(fh: BinaryIO) -> None:
    while (size := fh.read(1)) and size[0]:
        fh.seek(size[0], 1)
