"""The set of loaded workflows the bot offers: lookup by name and autocomplete; replaced whole on reload."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from discomfy.workflows.errors import UnknownWorkflowError
from discomfy.workflows.model import WorkflowSpec


class WorkflowLibrary:
    """Validated workflows by name; built by `load_workflows`.

    The bot, the job manager and the commands share one library; `/workflow add|remove|reload` swap its whole
    content at once with `replace`, so every reader sees either the old set or the new one, never a mix.
    """

    __slots__ = ("_state", "directory")

    def __init__(self, specs: Iterable[WorkflowSpec], directory: Path | None = None) -> None:
        self.directory = directory
        self._state = _state(specs)

    def __repr__(self) -> str:
        return f"WorkflowLibrary({', '.join(self.names)})"

    def replace(self, other: WorkflowLibrary) -> None:
        """Take over `other`'s workflows (a reload): live for the next lookup and autocomplete.

        One attribute is assigned, so a reader on another thread sees the whole old set or the whole new one.
        """
        self._state = other._state

    @property
    def specs(self) -> tuple[WorkflowSpec, ...]:
        return self._state[0]

    @property
    def _by_name(self) -> dict[str, WorkflowSpec]:
        return self._state[1]

    def __iter__(self) -> Iterator[WorkflowSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> WorkflowSpec:
        """The workflow called `name`; raises UnknownWorkflowError (autocomplete can be ignored)."""
        spec = self._by_name.get(name.strip()) if isinstance(name, str) else None
        if spec is None:
            raise UnknownWorkflowError(str(name), self.names)
        return spec

    def find(self, name: str) -> WorkflowSpec | None:
        """The workflow called `name`, or None (for records of workflows since removed)."""
        return self._by_name.get(name)

    def matching(self, text: str, limit: int = 25) -> tuple[WorkflowSpec, ...]:
        """Workflows whose name or title contains `text`, prefix matches first (for autocomplete)."""
        needle = text.strip().casefold()
        ranked = []
        for index, spec in enumerate(self.specs):
            name, title = spec.name.casefold(), spec.title.casefold()
            if name.startswith(needle) or title.startswith(needle):
                ranked.append((0, index, spec))
            elif needle in name or needle in title:
                ranked.append((1, index, spec))
        return tuple(spec for _, _, spec in sorted(ranked, key=lambda r: r[:2])[:limit])


def _state(specs: Iterable[WorkflowSpec]) -> tuple[tuple[WorkflowSpec, ...], dict[str, WorkflowSpec]]:
    ordered = tuple(sorted(specs, key=lambda s: s.name))
    return ordered, {spec.name: spec for spec in ordered}
