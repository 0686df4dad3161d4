"""The HTTP/1.1 protocol Berth's server speaks: uvicorn's httptools parser, with the
request head bounded in size and in time.

httptools (llhttp) is the fastest parser uvicorn offers, but it keeps no limit of its
own on a request's head: a client sending one endless header line makes the server
buffer all of it (300 MB sent, 400 MB resident, measured). uvicorn's other parser, h11,
stops at 16 KiB, and costs about 0.5 ms more per request here. This protocol counts
the bytes of each request head as they arrive, before the parser sees them, and
answers ``431 Request Header Fields Too Large`` and closes the connection once a head
passes :data:`MAX_HEAD_BYTES` without ending. A head ends at its blank line
(``CRLF CRLF``); the body after it is not counted (Django bounds bodies:
``DATA_UPLOAD_MAX_MEMORY_SIZE``, spooled to disk beyond ``FILE_UPLOAD_MAX_MEMORY_SIZE``).

Nor does uvicorn time a head out: a client that connects and sends nothing, or sends a
head a byte now and then, held its connection for ever. Here a head must arrive whole
within :data:`head_timeout` seconds (``BERTH_HEAD_TIMEOUT``, 30; nginx's
``client_header_timeout`` is 60) of the connection opening or of its first byte: a
connection that sent nothing is then closed, one with a partial head answered ``408``
and closed. Between requests, uvicorn's own keep-alive timeout (5 s) closes an idle
connection.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol", "head_timeout"]

#: The request line and headers of one request, as Twisted (daphne) and nginx's large
#: header buffers allow in all (4 x 8 KiB in nginx, 16 KiB per line in Twisted).
MAX_HEAD_BYTES = 64 * 1024

#: Seconds a request head may take to arrive (set by ``manage.py serve``).
head_timeout = 30.0

_END = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` refusing a request head over :data:`MAX_HEAD_BYTES`
    or slower than :data:`head_timeout`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._head_open = True  # reading a request's head (until its blank line)
        self._head_bytes = 0  # bytes of it seen so far
        self._tail = b""  # the last bytes seen of it: a CRLF CRLF may span two reads
        self._head_timer = None  # set while a head is awaited

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            if self._head_timer is None:  # the first bytes of a later request's head
                self._await_head()
            if not self._head_fits(data):
                self._refuse_head()
                return
            if not self._head_open:
                self._head_arrived()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        # The parser's word on where a head ends (also for a head that arrived behind
        # another request, in a read that was not counted).
        self._head_open = False
        self._head_arrived()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request on this connection starts its own head. What follows this
        # request in the same read is not counted: at most one read (256 KiB).
        self._head_open, self._head_bytes, self._tail = True, 0, b""

    def _await_head(self) -> None:
        self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self._answer(
                408, "Request Timeout", f"No whole request head within {head_timeout:g} s."
            )
        self.transport.close()

    def _head_fits(self, data: bytes) -> bool:
        """Count ``data`` into the open head; whether the head is still within bounds."""
        end = (self._tail + data).find(_END)
        if end == -1:
            self._head_bytes += len(data)
            self._tail = (self._tail + data)[-(len(_END) - 1) :]
            return self._head_bytes <= MAX_HEAD_BYTES
        self._head_bytes += end - len(self._tail) + len(_END)
        self._head_open = False
        return self._head_bytes <= MAX_HEAD_BYTES

    def _refuse_head(self) -> None:
        self.logger.warning("Refused a request head over %d bytes.", MAX_HEAD_BYTES)
        self._head_arrived()
        self._head_open = False
        self._answer(
            431,
            "Request Header Fields Too Large",
            f"The request line and headers exceed {MAX_HEAD_BYTES // 1024} KiB.",
        )
        self.transport.close()

    def _answer(self, status: int, reason: str, message: str) -> None:
        body = message.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\n".encode()
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: "
            + str(len(body)).encode()
            + b"\r\n"
            + b"connection: close\r\n\r\n"
            + body
        )
