"""Short forms of our ids for log lines and footers: eight characters tell jobs apart in practice."""

from __future__ import annotations

SHORT_ID_LENGTH = 8


def short_id(value: str | None) -> str:
    """`3f2a9c1e` for a job, batch or prompt id; `-` when there is none yet."""
    return value[:SHORT_ID_LENGTH] if value else "-"
