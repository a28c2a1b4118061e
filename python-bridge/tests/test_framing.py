"""Framing: line splitting with a hard size limit, decoding, encoding, writer."""

from __future__ import annotations

import json
import os
import random
import threading

import pytest

from synapse_bridge import FrameTooLargeError, LineSplitter, ProtocolError, decode_line, encode_frame
from synapse_bridge._framing import FrameWriter


def _lines(frames: list[dict[str, object]]) -> bytes:
    return b''.join(encode_frame(f) for f in frames)


def test_lines_survive_every_chunk_split() -> None:
    frames = [{'t': 'ping', 'seq': i, 'pad': 'é☃' * i} for i in range(20)]
    data = _lines(frames)
    rng = random.Random(1234)
    for _ in range(200):
        splitter = LineSplitter(1024)
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, 30)))
        got: list[bytes] = []
        for a, b in zip([0, *cuts], [*cuts, len(data)]):
            got += splitter.feed(data[a:b])
        assert [decode_line(x) for x in got] == frames
        assert splitter.at_eof() == 0


def test_byte_at_a_time() -> None:
    data = _lines([{'t': 'bye'}, {'t': 'ping', 'seq': 7}])
    splitter = LineSplitter(64)
    got = [line for i in range(len(data)) for line in splitter.feed(data[i : i + 1])]
    assert [decode_line(x)['t'] for x in got] == ['bye', 'ping']


def test_limit_is_enforced_before_buffering_more() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'x' * 60) == []
    assert splitter.buffered_bytes == 60
    with pytest.raises(FrameTooLargeError, match='maxFrameBytes'):
        splitter.feed(b'y' * 41)  # 101 bytes, no newline yet
    assert splitter.buffered_bytes == 0
    with pytest.raises(FrameTooLargeError):  # poisoned: nothing more is buffered
        splitter.feed(b'\n')


def test_a_huge_chunk_never_gets_buffered() -> None:
    splitter = LineSplitter(1000)
    with pytest.raises(FrameTooLargeError):
        splitter.feed(b'z' * 10_000_000)
    assert splitter.buffered_bytes == 0


def test_line_of_exactly_the_limit_passes_and_newline_is_not_counted() -> None:
    splitter = LineSplitter(10)
    assert splitter.feed(b'0123456789\n') == [b'0123456789']
    with pytest.raises(FrameTooLargeError):
        LineSplitter(10).feed(b'0123456789A\n')


def test_truncated_tail_is_reported_at_eof() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"t":"bye"}\n{"t":"pi') == [b'{"t":"bye"}']
    assert splitter.at_eof() == len(b'{"t":"pi')


@pytest.mark.parametrize('line', [b'{bad', b'[]', b'"s"', b'\xff\xfe', b'{"t":NaN}', b''])
def test_bad_lines(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_line(line)


def test_encode_is_compact_utf8_and_checks_size() -> None:
    line = encode_frame({'t': 'log', 'msg': 'café'})
    assert line == '{"t":"log","msg":"café"}\n'.encode()
    with pytest.raises(FrameTooLargeError):
        encode_frame({'t': 'log', 'msg': 'x' * 100}, 50)
    with pytest.raises(ValueError):
        encode_frame({'t': 'pong', 'loopLagMs': float('nan')})


def test_encode_lone_surrogate_falls_back_to_escapes() -> None:
    line = encode_frame({'t': 'log', 'msg': 'a\ud800b'})
    line.decode('utf-8')  # valid UTF-8
    assert json.loads(line)['msg'] == 'a\ud800b'


def test_writer_never_interleaves_frames() -> None:
    r, w = os.pipe()
    writer = FrameWriter(w, max_frame_bytes=1 << 20)
    big = 'x' * 100_000  # larger than the pipe buffer: forces partial writes
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    threads = [threading.Thread(target=lambda i=i: [writer.write({'t': 'log', 'n': i, 'msg': big}) for _ in range(5)]) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.close(w)
    reader.join()
    os.close(r)
    lines = bytes(received).split(b'\n')
    assert lines[-1] == b''
    assert sorted(json.loads(x)['n'] for x in lines[:-1]) == sorted([0, 1, 2, 3] * 5)


def test_writer_rejects_oversized_frames_without_writing() -> None:
    r, w = os.pipe()
    try:
        writer = FrameWriter(w, max_frame_bytes=32)
        with pytest.raises(FrameTooLargeError):
            writer.write({'t': 'log', 'msg': 'x' * 64})
        writer.write({'t': 'bye'})
        assert os.read(r, 100) == b'{"t":"bye"}\n'
    finally:
        os.close(r)
        os.close(w)
