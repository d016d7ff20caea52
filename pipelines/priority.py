"""Work that should only use the CPU the refresh's main work leaves idle: a thread of low priority."""
from __future__ import annotations

import os
import threading

NICENESS = 10  # below the refresh's own priority, whatever that is (a nightly job may run niced already)


def lower_this_thread() -> None:
    """Lower the calling thread's priority (and that of the threads it starts) by NICENESS, so that it runs on
    the CPU other work leaves idle; the process's other threads keep theirs (Linux sets it per thread)."""
    thread = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + NICENESS))
