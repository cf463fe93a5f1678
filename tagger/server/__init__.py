"""The HTTP service and the editors' web page (needs the `server` extras)."""

import signal
import threading

SIGHUP_AT_START = threading.Event()


def hold_sighup() -> None:
    """From the start of `tagger serve` until it can reload: a SIGHUP is kept (and done
    once serving) instead of its default action, which ended the process as it started."""
    signal.signal(signal.SIGHUP, lambda _sig, _frame: SIGHUP_AT_START.set())


def how_it_ended(exitcode: int | None) -> str:
    """A process's end in words, from its multiprocessing exit code (negative: a signal)."""
    if exitcode is None:
        return "stopped answering (still running)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-exitcode} ({name})"
    return f"exited with code {exitcode}"
