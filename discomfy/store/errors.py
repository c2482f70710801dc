"""Errors of the job store."""

from __future__ import annotations

from discomfy.errors import DiscomfyError


class StoreError(DiscomfyError):
    """The job store cannot do what was asked: unusable file, newer schema, unknown job or field."""


class StoreUnavailableError(StoreError):
    """The database would not take the operation now (locked by another program, disk full, read-only, I/O):
    the same operation may work later, unlike a refusal of what was asked."""


class UnknownJobError(StoreError):
    """The store holds no job of that id (it was never written, or the file was replaced)."""
