"""Ctrl-C held back across the few steps that must not stop halfway."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Run the block with Ctrl-C held back, and raise KeyboardInterrupt after it if one came.

    The signal is blocked in this thread, so that processes started meanwhile inherit it
    blocked, and noted by a handler, since this process's other threads (polars', pyarrow's)
    can take it too. Outside the main thread, which alone gets Python's signal handlers, the
    block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _: caught.append(signum))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
