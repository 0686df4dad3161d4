"""The chunked body of a Docker log stream, decoded by hand (``engine.streams._body``):
whatever the reads' sizes, the frames and lines that come out are exactly those sent."""

from __future__ import annotations

import io
import random

import pytest

from environments.engine.streams import _body, _payloads
from environments.live.lines import iter_lines


class _Trickle(io.RawIOBase):
    """A socket that hands over at most a few bytes per read."""

    def __init__(self, data: bytes, seed: int):
        self.data, self.at, self.random = data, 0, random.Random(seed)

    def readable(self):
        return True

    def readinto(self, into):
        size = min(len(into), self.random.randint(1, 40), len(self.data) - self.at)
        into[:size] = self.data[self.at : self.at + size]
        self.at += size
        return size


class _Message:  # what http.client's response offers: its reader and chunked state
    def __init__(self, data: bytes, seed: int, chunked: bool = True):
        self.fp = io.BufferedReader(_Trickle(data, seed), buffer_size=64)
        self.chunked, self.chunk_left = chunked, None

    def close(self):
        self.fp.close()


class _Raw:
    def __init__(self, message: _Message):
        self._fp = message

    def read1(self, size):
        return self._fp.fp.read1(size)


class _Response:
    def __init__(self, data: bytes, seed: int, chunked: bool = True):
        self.raw = _Raw(_Message(data, seed, chunked))
        self.headers = {}


def _frame(payload: bytes) -> bytes:
    return b"\x01\x00\x00\x00" + len(payload).to_bytes(4, "big") + payload


def _chunked(pieces: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return body + b"0\r\n\r\n"


TS = "2026-12-03T12:00:00.{:09d}Z"
LINES = [f"{TS.format(n)} line {n} {'x' * (n % 50)}\n".encode() for n in range(300)]


@pytest.mark.parametrize("seed", range(8))
def test_chunks_split_anywhere_give_back_every_frame(seed):
    frames = [_frame(line) for line in LINES]
    rng = random.Random(seed)
    pieces, rest = [], b"".join(frames)
    while rest:  # HTTP chunks that cut frames anywhere, as well as one per frame
        size = rng.choice([1, 3, 8, 9, 50, 200, len(rest)])
        pieces.append(rest[:size])
        rest = rest[size:]
    assert b"".join(_body(_Response(_chunked(pieces), seed))) == b"".join(frames)
    lines = list(iter_lines(_payloads(_Response(_chunked(pieces), seed), True), framed=True))
    assert lines == [(TS.format(n), f"line {n} {'x' * (n % 50)}") for n in range(300)]


def test_a_partial_message_still_joins_its_continuation():
    # Docker cuts a long line into messages without a newline, each with a timestamp.
    sent = [f"{TS.format(1)} aaa".encode(), f"{TS.format(2)} bbb\n".encode(),
            f"{TS.format(3)} next\n".encode()]  # fmt: skip
    response = _Response(_chunked([_frame(message) for message in sent]), seed=1)
    lines = list(iter_lines(_payloads(response, True), framed=True))
    assert lines == [(TS.format(1), "aaabbb"), (TS.format(3), "next")]


def test_a_body_that_is_not_chunked_is_read_as_it_comes():
    data = b"".join(_frame(line) for line in LINES[:20])
    assert b"".join(_body(_Response(data, seed=2, chunked=False))) == data


def test_a_chunk_size_that_is_not_hex_breaks_the_stream():
    with pytest.raises(ValueError):
        list(_body(_Response(b"zz\r\nabc\r\n0\r\n\r\n", seed=3)))


def test_a_connection_closed_mid_chunk_ends_the_body():
    body = _chunked([_frame(LINES[0]), _frame(LINES[1])])
    response = _Response(body[: len(body) - 30], seed=4)
    assert b"".join(_body(response)) == _frame(LINES[0])
    assert response.raw._fp.fp.closed  # its connection is let go, as http.client does


def test_the_reader_is_closed_when_the_body_ends_or_is_left():
    ended = _Response(_chunked([_frame(LINES[0])]), seed=5)
    list(_body(ended))
    left = _Response(_chunked([_frame(line) for line in LINES]), seed=6)
    body = _body(left)
    next(body)
    body.close()
    assert ended.raw._fp.fp.closed and left.raw._fp.fp.closed


def test_a_compressed_body_is_left_to_urllib3_to_decode():
    data = _chunked([_frame(LINES[0])])
    response = _Response(data, seed=7)
    response.headers = {"Content-Encoding": "gzip"}
    assert b"".join(_body(response)) == data  # as urllib3's read1 hands it over
