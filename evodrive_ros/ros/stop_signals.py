"""Ctrl-C and SIGTERM as a request to stop, for the node and the replayer.

rclpy's own handlers shut the context down from inside the signal, under a running executor: it
then fails building its next wait set or publishing (``RCLError``, exit 1, about once in twenty stops
under load), and the process's loop never finishes its work. Our processes call ``rclpy.init`` with
``SignalHandlerOptions.NO`` and let the signal only set an event that their loops check.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Within the block, SIGINT/SIGTERM set the yielded event; the previous handlers come back after."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
