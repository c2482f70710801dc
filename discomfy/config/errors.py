"""Errors of the configuration: what is wrong, in which file, under which key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from discomfy.errors import DiscomfyError

if TYPE_CHECKING:
    from collections.abc import Sequence


class ConfigError(DiscomfyError):
    """The configuration cannot be used; names the file and the key path that is wrong."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = file
        self.field = field
        self.message = message
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong, located by its key path (`limits.max_count`) or environment variable."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class InvalidConfigError(ConfigError):
    """Every problem found in one pass, so an admin fixes the file once rather than once per key."""

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            super().__init__(file, self.problems[0].key, self.problems[0].message)
        else:
            lines = "\n".join(f"  {problem}" for problem in self.problems)
            super().__init__(file, "", f"{len(self.problems)} problems:\n{lines}")
