"""Ctrl-C that is never lost.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be, and some of
those places swallow it: finalizers and weakref callbacks print "Exception ignored in: ..." and
go on, and so, now and then, does start-up (a press 0.4 s after `rot90 train` began was lost
that way, and the run trained on). So the command line records every press as well as raising
it (recorded(), around all it does), and long work looks at pressed() where stopping is safe.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_pressed = False


def _record(signum, frame):
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def recorded():
    """Within: every Ctrl-C recorded as well as raised (the command line's whole run). Outside the main thread, or
    where SIGINT is ignored (`nohup`, a background job) or someone else's, it changes nothing."""
    global _pressed
    _pressed = False
    if not replaceable():
        yield
        return
    old = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def replaceable() -> bool:
    """Whether the caller may take SIGINT for a while: in the main thread (where handlers live), and the handler is
    Python's default or recorded()'s — not ignored (`nohup`, a background job), not someone else's."""
    handler = signal.getsignal(signal.SIGINT)
    return (threading.current_thread() is threading.main_thread()
            and (handler is signal.default_int_handler or handler is _record))


def pressed() -> bool:
    """Whether Ctrl-C was pressed within recorded(), even where its KeyboardInterrupt was swallowed."""
    return _pressed
