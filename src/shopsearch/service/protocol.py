"""uvicorn's HTTP protocol with a timeout for request heads (slow clients).

uvicorn closes an *idle* keep-alive connection after ``timeout_keep_alive``, but a client that
opens a connection (or starts its next request) and then trickles the request line and headers
holds a connection, and its buffers, for as long as it likes: one slow client per worker
connection slot is enough to starve a server. Here a connection must deliver a complete request
head within ``header_timeout_s`` of its first byte (or of the connection opening); otherwise it
is closed. Bodies are not covered: they are bounded by the body-size limit, and a reverse proxy
in front (docs/deploy.md) should still set its own client timeouts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # uvicorn's default implementation when httptools is installed ("uvicorn[standard]")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    HAS_HTTPTOOLS = True
except ImportError:  # pragma: no cover - depends on the installed extras
    HAS_HTTPTOOLS = False

logger = logging.getLogger(__name__)


class _HeadTimeout(asyncio.Protocol):
    """Mixin over a uvicorn HTTP protocol class (it uses ``cycle``, ``loop``, ``transport``
    and ``on_response_complete``, which both of uvicorn's implementations have)."""

    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def __init__(self, *args: Any, header_timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._waiting_for_head():  # the first byte of the next request
            self._arm()
        super().data_received(data)

    def on_response_complete(self) -> None:
        self._disarm()  # the idle connection is uvicorn's keep-alive timeout's business
        super().on_response_complete()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            logger.info("closing a connection that sent no complete request head in %.0f s",
                        self.header_timeout_s)
            self.transport.close()


class H11HeadTimeout(_HeadTimeout, H11Protocol):
    """uvicorn's h11 protocol with the request-head timeout."""


if HAS_HTTPTOOLS:
    class HttpToolsHeadTimeout(_HeadTimeout, HttpToolsProtocol):
        """uvicorn's httptools protocol with the request-head timeout."""


def head_timeout_protocol(header_timeout_s: float, impl: str = "auto") -> type[asyncio.Protocol]:
    """The protocol factory to pass as ``uvicorn.run(..., http=...)``: httptools (uvicorn's
    default when installed) or h11, with the request-head timeout. Picklable, so it reaches
    worker processes too."""
    if impl not in ("auto", "h11", "httptools"):
        raise ValueError(f"impl must be auto, h11 or httptools, got {impl!r}")
    if impl == "httptools" and not HAS_HTTPTOOLS:
        raise ImportError('the httptools protocol needs httptools; run: pip install "uvicorn[standard]"')
    cls: type[_HeadTimeout] = H11HeadTimeout if impl == "h11" or not HAS_HTTPTOOLS else HttpToolsHeadTimeout
    # uvicorn types ``http`` as a protocol class but only ever calls it (with keyword arguments)
    # and reads its optional ``alpn_protocols``; a partial of the class carries the timeout and,
    # unlike a class made here at run time, pickles into spawned worker processes.
    return cast("type[asyncio.Protocol]", functools.partial(cls, header_timeout_s=header_timeout_s))
