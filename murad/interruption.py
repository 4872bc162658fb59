"""Stopping a command cleanly: SIGINT (Ctrl-C) and SIGTERM raise :class:`Stopped` in the main thread, so every block
on the way out cleans up after itself, and the command ends with one line and exit 130 or 143 (128 + the signal, as
a shell reports it). Steps that must not be cut in two (swapping finished files into place, removing a staging
folder) run :func:`uninterrupted`: a signal arriving then stops the command right after them."""

from __future__ import annotations

import signal
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_deferred = {"depth": 0, "pending": None}


class Stopped(BaseException):
    """The command was asked to stop by a signal; ``note`` says what was left behind. Like KeyboardInterrupt, not an
    Exception: a library's ``except Exception`` (torch's imports have some) must not swallow it."""

    def __init__(self, signum: int):
        self.signum = signum
        self.note = "nothing was written"
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum, _frame) -> None:
    if _deferred["depth"]:
        _deferred["pending"] = signum
        return
    raise Stopped(signum)


@contextmanager
def stoppable():
    """While the block runs (in the main thread), SIGINT and SIGTERM raise :class:`Stopped`."""
    previous = {number: signal.signal(number, _handler) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def uninterrupted():
    """A signal that arrives while the block runs raises :class:`Stopped` when it ends, not inside it."""
    _deferred["depth"] += 1
    try:
        yield
    finally:
        _deferred["depth"] -= 1
        if not _deferred["depth"] and _deferred["pending"] is not None:
            signum, _deferred["pending"] = _deferred["pending"], None
            raise Stopped(signum)


class StopRequest:
    """Whether SIGTERM arrived (what SLURM sends at walltime or preemption) while the block ran: a training job
    finishes its batch, saves its checkpoint and then stops (unlike :func:`stoppable`, which stops at once)."""

    def __init__(self):
        self.requested = False

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGTERM, self._request)
        return self

    def _request(self, *_) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous)
