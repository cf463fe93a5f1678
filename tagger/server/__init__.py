"""The HTTP service and the editors' web page (needs the `server` extras)."""

import signal
import threading

SIGHUP_AT_START = threading.Event()


def hold_sighup() -> None:
    """From the start of `tagger serve` until it can reload: a SIGHUP is kept (and done
    once serving) instead of its default action, which ended the process as it started."""
    signal.signal(signal.SIGHUP, lambda _sig, _frame: SIGHUP_AT_START.set())
