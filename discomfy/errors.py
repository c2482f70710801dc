"""The root of every error DisComfy raises on purpose; each package defines its own errors below it."""

from __future__ import annotations


class DiscomfyError(Exception):
    """Root of the hierarchy: anything under it has a message fit to show a user or an admin."""
