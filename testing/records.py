"""Values of our own types for pure tests: a workflow spec without files behind it, a stored job record."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from discomfy.store import JobRecord, JobStatus
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


def job_record(**changes: Any) -> JobRecord:
    """A delivered job as the store keeps it (a /generate of txt2img), with `changes` over those values."""
    base = JobRecord(
        job_id="0123456789abcdef0123456789abcdef",
        owner_id=42,
        guild_id=111,
        channel_id=222,
        message_id=333,
        workflow="txt2img",
        params={"prompt": "a lighthouse at dusk"},
        seed=1234,
        prompt_id="9f2c7e4a-1b3d-4c5e-8f60-718293a4b5c6",
        batch_id=None,
        batch_index=None,
        status=JobStatus.DONE,
        created_at=1_700_000_000.0,
    )
    return replace(base, **changes)
