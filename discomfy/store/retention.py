"""Keeping storage.outputs within bounds: delivered jobs' files past an age or a total size are deleted.

Only delivered (DONE) jobs lose files: an undelivered job's files are what its delivery still needs, and a
failed upload's are what an admin may want to post by hand. Without settings nothing is deleted (the files
stay as they always did). A record keeps naming its files; buttons that need one say it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from discomfy.store.database import JobStore
from discomfy.store.errors import StoreError

log = logging.getLogger(__name__)

DAY = 86400.0
PRUNE_EVERY = 3600.0  # seconds between two passes while the bot runs


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pass deleted."""

    files: int
    bytes: int


async def prune_outputs(
    store: JobStore, *, keep_days: float | None, keep_bytes: int | None, now: float | None = None
) -> Pruned:
    """Delete the files of delivered jobs older than `keep_days`, then the oldest while over `keep_bytes`."""
    if keep_days is None and keep_bytes is None:
        return Pruned(0, 0)
    now = time.time() if now is None else now
    jobs = await store.delivered_outputs()
    return await asyncio.to_thread(_prune, jobs, now - keep_days * DAY if keep_days else None, keep_bytes)


def _prune(jobs: list[tuple[float, tuple[str, ...]]], cutoff: float | None, keep_bytes: int | None) -> Pruned:
    """Blocking: stats and unlinks. `jobs` is oldest first."""
    sized = [(finished, path, size) for finished, names in jobs for path, size in _existing(names)]
    total = sum(size for _finished, _path, size in sized)
    files = freed = 0
    for finished, path, size in sized:
        too_old = cutoff is not None and finished < cutoff
        too_much = keep_bytes is not None and total > keep_bytes
        if not (too_old or too_much):
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("Could not delete old output %s: %s", path, exc)
            continue
        _remove_if_empty(path.parent)
        files, freed, total = files + 1, freed + size, total - size
    return Pruned(files, freed)


def _existing(names: Iterable[str]) -> list[tuple[Path, int]]:
    found = []
    for name in names:
        path = Path(name)
        try:
            found.append((path, path.stat().st_size))
        except OSError:
            continue  # deleted already (a previous pass, or by hand)
    return found


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty yet
        folder.rmdir()  # a prompt's folder, once its last file is gone


async def keep_pruning(store: JobStore, *, keep_days: float | None, keep_bytes: int | None) -> None:
    """Prune now and every hour while the bot runs; a failing pass is logged and the next one goes on."""
    while True:
        try:
            pruned = await prune_outputs(store, keep_days=keep_days, keep_bytes=keep_bytes)
        except StoreError as exc:
            log.warning("Could not prune old outputs: %s", exc)
        else:
            if pruned.files:
                log.info("Deleted %d old output file(s), %.1f MB", pruned.files, pruned.bytes / 2**20)
        await asyncio.sleep(PRUNE_EVERY)
