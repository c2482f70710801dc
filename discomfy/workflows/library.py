"""The set of loaded workflows the bot offers: lookup by name and autocomplete."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from discomfy.workflows.errors import UnknownWorkflowError
from discomfy.workflows.model import WorkflowSpec


@dataclass(frozen=True, slots=True)
class WorkflowLibrary:
    """Validated workflows by name; built by `load_workflows`, read-only afterwards."""

    specs: tuple[WorkflowSpec, ...]
    directory: Path | None = None
    _by_name: dict[str, WorkflowSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.specs, key=lambda s: s.name))
        object.__setattr__(self, "specs", ordered)
        object.__setattr__(self, "_by_name", {spec.name: spec for spec in ordered})

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
