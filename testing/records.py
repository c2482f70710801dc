"""Values of our own types for pure tests: a workflow spec without files behind it."""

from __future__ import annotations

from pathlib import Path

from discomfy.workflows import WorkflowKind, WorkflowSpec


def workflow_spec(*, name: str = "txt2img", title: str = "Text to image") -> WorkflowSpec:
    """A loaded workflow as embeds and rows see it: a name, a title, and nothing to build."""
    return WorkflowSpec(
        name=name,
        title=title,
        description="",
        kind=WorkflowKind.IMAGE,
        graph={},
        parameters=(),
        seed_inputs=(),
        outputs=(),
        mapping_path=Path(f"workflows/{name}.yaml"),
        graph_path=Path(f"workflows/{name}.json"),
    )
