"""Ctrl-C held back across the few steps that must not stop halfway, and the points where a
test can stop the process to kill it there."""

from __future__ import annotations

import contextlib
import os
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


# Test-only hook: with `PAPERS_ETL_PAUSE_AT=<stage>` (`parse`, `write:<table>` or `swap`, the
# last one between `etl.swap`'s two renames, for publish too) the process stops itself
# (SIGSTOP) the first time it reaches that stage, so that a test can SIGKILL it there or let
# it go on (SIGCONT); see tests/test_interrupt.py. Unset, it costs one dict lookup.
PAUSE_ENV = "PAPERS_ETL_PAUSE_AT"


def pause_point(stage: str) -> None:
    if os.environ.get(PAUSE_ENV) == stage:
        del os.environ[PAUSE_ENV]  # once
        os.kill(os.getpid(), signal.SIGSTOP)
