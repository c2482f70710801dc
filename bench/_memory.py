"""Metric 4: how much the client's RSS grows while the service downloads one very large output."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench._common import SKIP, LoopLag, Row, graph, stamp_dispatches, verdict
from discomfy.comfy import ComfyService, ComfySettings

MEMORY_TARGET = 50_000_000  # bytes (50 MB)
MIN_FREE_DISK = 2_000_000_000
_REPO = Path(__file__).resolve().parent.parent
_STATUS = Path("/proc/self/status")


def status_kib(field: str) -> int:
    """A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`)."""
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc malloc_trim), so that a baseline read next is what is in use and
    a later allocation cannot hide in pages an earlier one left resident; a no-op without glibc."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


class RssSampler(threading.Thread):
    """Reads VmRSS every 2 ms and keeps the highest value (KiB)."""

    def __init__(self) -> None:
        super().__init__(name="bench-rss-sampler", daemon=True)
        self.peak = status_kib("VmRSS")
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.002):
            self.peak = max(self.peak, status_kib("VmRSS"))
            self.samples += 1

    def stop(self) -> None:
        self._stop_event.set()


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Growth:
    """RSS of this process before and at the peak of some work (KiB)."""

    baseline_kib: int
    peak_kib: int
    exact: bool  # VmHWM could be reset (else only the 2 ms samples)

    @property
    def grown(self) -> int:
        """Bytes."""
        return (self.peak_kib - self.baseline_kib) * 1024


async def measure_growth(work: Callable[[], Awaitable[T]]) -> tuple[T, Growth]:
    """Run `work()` between a fresh baseline (gc, heap trimmed) and its peak RSS (VmHWM reset + 2 ms samples)."""
    gc.collect()
    trim_heap()
    baseline = status_kib("VmRSS")
    exact = reset_peak()
    sampler = RssSampler()
    sampler.start()
    try:
        result = await work()
    finally:
        sampler.stop()
        await asyncio.to_thread(sampler.join)
    peak = max(sampler.peak, status_kib("VmHWM")) if exact else sampler.peak
    return result, Growth(baseline, peak, exact)


async def download_memory(tmp: Path, size: int) -> list[Row]:
    """Peak RSS growth of this process (the client only: the fake runs in a subprocess) over one download."""
    label = f"4. Peak RSS growth of the client while downloading a {size / 2**20:,.0f} MiB output"
    free = (await asyncio.to_thread(shutil.disk_usage, tmp)).free
    if free < MIN_FREE_DISK:
        return [Row(label, f"skipped: only {free / 1e9:.1f} GB free in {tmp} (needs 2 GB)", "< 50 MB", SKIP)]
    root = tmp / "memory"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._fake_server",
        str(root / "fake-output"),
        cwd=_REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        return await _measure(proc, root, size, label)
    finally:
        await _stop(proc)
        await asyncio.to_thread(shutil.rmtree, root, True)


async def _measure(proc: asyncio.subprocess.Process, root: Path, size: int, label: str) -> list[Row]:
    url = (await _line(proc)).removeprefix("URL ")
    async with ComfyService(ComfySettings(url=url, download_dir=root / "downloads")) as service:
        if not await service.wait_connected(10.0):
            raise RuntimeError("the service did not connect to the fake ComfyUI subprocess")
        dispatched = stamp_dispatches(service, "executed")
        warm = await (await service.submit(graph(1))).result()  # same code path once: imports, pools, buffers
        await _command(proc, f"size {size}")
        gc.collect()
        baseline = status_kib("VmRSS")
        exact = reset_peak()
        sampler = RssSampler()
        sampler.start()
        async with LoopLag() as lag:
            job = await service.submit(graph(2))
            result = await job.result()
            done = time.monotonic()
        sampler.stop()
        await asyncio.to_thread(sampler.join)
        peak = max(sampler.peak, status_kib("VmHWM")) if exact else sampler.peak
        downloaded = result.files[0]
        if downloaded.size != size or downloaded.path.stat().st_size != size:
            raise RuntimeError(f"downloaded {downloaded.size} bytes, expected {size}")
        seconds = done - dispatched["executed", job.prompt_id]
        await asyncio.to_thread(downloaded.path.unlink)
    growth = (peak - baseline) * 1024
    how = "VmHWM reset + 2 ms VmRSS samples" if exact else f"{sampler.samples} VmRSS samples (VmHWM not resettable)"
    return [
        Row(label, f"{growth / 1e6:.1f} MB", "< 50 MB", verdict(growth < MEMORY_TARGET)),
        Row("4a. ... baseline RSS / peak RSS / how", f"{baseline / 1024:.1f} MiB / {peak / 1024:.1f} MiB / {how}"),
        Row(
            "4b. ... `executed` (names the file, the download starts) -> result(), throughput",
            f"{seconds:.2f} s, {size / seconds / 1e6:,.0f} MB/s (warm-up file {warm.files[0].size} B)",
        ),
        Row("4c. ... worst event-loop stall during the job", f"{lag.worst * 1000:.1f} ms"),
    ]


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line:
        raise RuntimeError("the fake ComfyUI subprocess exited early")
    return line.decode().strip()


async def _command(proc: asyncio.subprocess.Process, command: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(command.encode() + b"\n")
    await proc.stdin.drain()
    answer = await _line(proc)
    if answer != "OK":
        raise RuntimeError(f"the fake ComfyUI subprocess answered {answer!r} to {command!r}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Close its stdin (it stops and cleans up by itself); kill it only if it hangs."""
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
