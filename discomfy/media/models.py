"""Typed results of media handling, so the Discord layer never guesses what happened to a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from discomfy.errors import DiscomfyError

if TYPE_CHECKING:
    from pathlib import Path

    from discomfy.comfy.models import MediaKind

#: Suffixes by what may be done with such a file, each set named for its use.
STILL_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})  # a result image a workflow can take back
EMBEDDABLE_IMAGES = STILL_IMAGE_SUFFIXES | {".gif"}  # what Discord shows inside an embed
INPUT_IMAGE_SUFFIXES = EMBEDDABLE_IMAGES | {".bmp", ".tif", ".tiff"}  # attachments accepted as an input image


class MediaError(DiscomfyError):
    """A media file could not be read at all; names the file so an admin can look at it."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class MediaType:
    """What a file really is, from its bytes, with the extension Discord needs to show it inline."""

    content_type: str
    extension: str  # with the dot, e.g. ".webp"
    kind: MediaKind
    animated: bool = False


@dataclass(frozen=True, slots=True)
class FittedFile:
    """A file ready to upload: the original when it fits, else a smaller copy in the work dir."""

    path: Path
    filename: str  # the name to upload under; its extension always matches content_type
    content_type: str
    kind: MediaKind
    size: int
    original: Path
    original_size: int
    animated: bool = False
    note: str | None = None  # how it was shrunk, e.g. "re-encoded as WebP q80 at 1536x1536"

    @property
    def changed(self) -> bool:
        """True when `path` is a new file the caller should delete after uploading."""
        return self.path != self.original


@dataclass(frozen=True, slots=True)
class TooLarge:
    """Nothing under the limit could be made; the original stays at `original` on disk."""

    reason: str
    original: Path
    size: int
    limit: int
