"""One refresh at a time per ICP home: an advisory lock that the kernel releases when its holder dies."""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

from pipelines.paths import Paths


class RefreshRunning(RuntimeError):
    """Another refresh holds the lock of this ICP home."""


def holder(paths: Paths) -> dict:
    """Who holds (or last held) the lock: pid, start time and refresh id, as far as recorded."""
    try:
        return json.loads(paths.lock_file.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe(h: dict) -> str:
    return (f"pid {h.get('pid', '?')}, refresh {h.get('refresh_id') or '?'}, started {h.get('started_at', '?')}")


@contextmanager
def refresh_lock(paths: Paths, wait_seconds: float = 0.0, refresh_id: str = "",
                 on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the home's refresh lock; wait up to `wait_seconds` for it (telling `on_wait` once whom it waits
    for), else raise RefreshRunning naming the refresh that holds it.

    flock(2) locks die with their process, so a killed refresh never leaves a stale lock behind.
    """
    paths.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RefreshRunning(
                        f"another refresh is running on {paths.home} ({describe(holder(paths))}); this one did "
                        f"not start after waiting {wait_seconds:g} s for it (schedule.lock_wait_seconds in icp.yaml, "
                        "or icp refresh --wait SECONDS); the publication is left to the running refresh") from None
                if on_wait is not None:
                    on_wait(f"waiting up to {wait_seconds:g} s for the refresh running on {paths.home} "
                            f"({describe(holder(paths))})")
                    on_wait = None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "refresh_id": refresh_id,
                                 "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode())
        yield
    finally:
        os.close(fd)
