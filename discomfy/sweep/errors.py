"""Errors of sweep files and sweep folders; each names the file and the key at fault."""

from __future__ import annotations

from discomfy.errors import DiscomfyError


class SweepError(DiscomfyError):
    """A sweep file, its plan or its folder is wrong; `file` and `key` say where."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.key = key
        super().__init__(": ".join(part for part in (file, key, message) if part))
