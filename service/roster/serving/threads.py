"""Worker threads that must yield the CPU to the event loop's thread."""

from __future__ import annotations

import contextlib
import os
import threading


def lower_priority(niceness: int) -> None:
    """Let the event loop's thread win the CPU from this thread when both want it.

    On Linux a thread is a task of its own, so this lowers this thread only.
    """
    if niceness > 0 and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(niceness, 19))
