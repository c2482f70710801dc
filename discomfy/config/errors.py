"""Errors of the configuration: what is wrong, in which file, under which key."""

from __future__ import annotations

from discomfy.errors import DiscomfyError


class ConfigError(DiscomfyError):
    """The configuration cannot be used; names the file and the key path that is wrong."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = file
        self.field = field
        self.message = message
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {message}")
