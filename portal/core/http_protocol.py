"""The HTTP/1.1 protocol Berth's server speaks: uvicorn's httptools parser, with the
request head bounded.

httptools (llhttp) is the fastest parser uvicorn offers, but it keeps no limit of its
own on a request's head: a client sending one endless header line makes the server
buffer all of it (300 MB sent, 400 MB resident, measured). uvicorn's other parser, h11,
stops at 16 KiB, and costs about 0.5 ms more per request here. This protocol counts
the bytes of each request head as they arrive, before the parser sees them, and
answers ``431 Request Header Fields Too Large`` and closes the connection once a head
passes :data:`MAX_HEAD_BYTES` without ending. A head ends at its blank line
(``CRLF CRLF``); the body after it is not counted (Django bounds bodies:
``DATA_UPLOAD_MAX_MEMORY_SIZE``, spooled to disk beyond ``FILE_UPLOAD_MAX_MEMORY_SIZE``).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol"]

#: The request line and headers of one request, as Twisted (daphne) and nginx's large
#: header buffers allow in all (4 x 8 KiB in nginx, 16 KiB per line in Twisted).
MAX_HEAD_BYTES = 64 * 1024

_END = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` refusing a request head over :data:`MAX_HEAD_BYTES`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._head_open = True  # reading a request's head (until its blank line)
        self._head_bytes = 0  # bytes of it seen so far
        self._tail = b""  # the last bytes seen of it: a CRLF CRLF may span two reads

    def data_received(self, data: bytes) -> None:
        if self._head_open and not self._head_fits(data):
            self._refuse_head()
            return
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request on this connection starts its own head. What follows this
        # request in the same read is not counted: at most one read (256 KiB).
        self._head_open, self._head_bytes, self._tail = True, 0, b""

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
        message = f"The request line and headers exceed {MAX_HEAD_BYTES // 1024} KiB."
        body = message.encode()
        self.logger.warning("Refused a request head over %d bytes.", MAX_HEAD_BYTES)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
        self._head_open = False
