"""uvicorn's h11 protocol with a header read timeout (slowloris).

uvicorn closes a kept-alive connection that stays idle, but waits forever for the rest of
a request's headers. Here a connection whose request line and headers are not complete
`header_timeout` seconds after they began (or after the connection opened) is closed.
The request body's read time is bounded by `guards.BodyGate`; the body of a request that
was answered before it was read (a refusal: 503 or 429) must arrive within the same
`header_timeout`, else the connection is closed (uvicorn would drop its bytes for as long
as they trickle in).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "TAGGER_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT = 10.0


class GuardedH11Protocol(H11Protocol):
    """H11Protocol that drops connections slow to send their headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = float(os.environ.get(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT))
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            # bytes of a request whose headers are not complete yet (or the end of a
            # refused body: uvicorn then sets no keep-alive timer, this one closes it)
            if self._header_timer is None:
                self._arm()
        elif not self._answered_early():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # the next request starts the timer with its first byte; idle time in between
        # is uvicorn's keep-alive timeout
        self._disarm()
        if self._answered_early() and not self.transport.is_closing():
            self._arm()  # the rest of a refused request's body has header_timeout to come

    def _answered_early(self) -> bool:
        """The answer is sent and the request's body is still coming."""
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            self.logger.info("closing a connection whose request headers took too long")
            self.transport.close()
        elif self._answered_early():
            self.logger.info("closing a connection whose refused request body took too long")
            self.transport.close()
