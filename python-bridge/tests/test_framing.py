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


class _RecordingWriter(FrameWriter):
    """A FrameWriter on a pipe that also records each write_raw call (one per os.write)."""

    def __init__(self, fd: int, max_frame_bytes: int = 1 << 20) -> None:
        super().__init__(fd, max_frame_bytes)
        self.writes: list[bytes] = []

    def write_raw(self, data: bytes) -> None:
        self.writes.append(data)
        super().write_raw(data)


@pytest.fixture
def batch_pipe():
    r, w = os.pipe()
    scheduled: list[object] = []
    writer = _RecordingWriter(w, max_frame_bytes=200)
    yield writer, scheduled, r
    os.close(r)
    os.close(w)


def _batch(writer: FrameWriter, scheduled: list[object], **limits: int):
    from synapse_bridge._framing import FrameBatch

    return FrameBatch(writer, scheduled.append, threading.get_ident(), **limits)


def test_batch_coalesces_until_the_scheduled_flush_in_order(batch_pipe) -> None:
    writer, scheduled, r = batch_pipe
    batch = _batch(writer, scheduled)
    for i in range(5):
        batch.add({'t': 'result', 'id': f'r{i}'})
    assert writer.writes == [] and batch.pending() == 5
    assert len(scheduled) == 1, 'one flush scheduled per batch, not per frame'
    scheduled.pop()()  # the loop runs the scheduled flush
    assert len(writer.writes) == 1
    assert [decode_line(x)['id'] for x in os.read(r, 4096).splitlines()] == [f'r{i}' for i in range(5)]
    batch.add({'t': 'result', 'id': 'next'})
    assert len(scheduled) == 1, 'the next batch schedules its own flush'


def test_batch_writes_at_once_when_full_by_frames_or_bytes(batch_pipe) -> None:
    writer, scheduled, r = batch_pipe
    batch = _batch(writer, scheduled, max_frames=3, max_bytes=10_000)
    for i in range(7):
        batch.add({'t': 'result', 'id': f'r{i}'})
    assert [len(w.splitlines()) for w in writer.writes] == [3, 3] and batch.pending() == 1
    by_bytes = _batch(writer, scheduled, max_frames=100, max_bytes=60)
    writer.writes.clear()
    for i in range(4):
        by_bytes.add({'t': 'result', 'id': f'b{i}', 'output': 'x' * 10})  # ~40 bytes each
    assert [len(w.splitlines()) for w in writer.writes] == [2, 2]
    scheduled.clear()
    batch.flush()
    got = [decode_line(x)['id'] for x in os.read(r, 4096).splitlines()]
    assert got == [f'r{i}' for i in range(6)] + [f'b{i}' for i in range(4)] + ['r6']


def test_batch_rejects_unencodable_frames_with_nothing_queued(batch_pipe) -> None:
    writer, scheduled, _ = batch_pipe
    batch = _batch(writer, scheduled)
    with pytest.raises(FrameTooLargeError):
        batch.add({'t': 'result', 'id': 'big', 'output': 'x' * 500})
    with pytest.raises(ValueError):
        batch.add({'t': 'result', 'id': 'nan', 'output': float('nan')})
    assert batch.pending() == 0 and scheduled == [] and writer.writes == []


def test_batch_off_the_owner_thread_writes_through_after_the_queue(batch_pipe) -> None:
    writer, scheduled, r = batch_pipe
    batch = _batch(writer, scheduled)
    batch.add({'t': 'result', 'id': 'queued'})
    t = threading.Thread(target=batch.add, args=({'t': 'log', 'id': 'from-thread'},))
    t.start()
    t.join()
    assert batch.pending() == 0
    assert [decode_line(x)['id'] for x in os.read(r, 4096).splitlines()] == ['queued', 'from-thread']


def test_batch_non_blocking_flush_gives_up_while_another_flush_holds_the_lock(batch_pipe) -> None:
    writer, scheduled, r = batch_pipe
    batch = _batch(writer, scheduled)
    batch.add({'t': 'result', 'id': 'held'})
    batch._lock.acquire()  # another thread is writing (e.g. blocked on a full pipe)
    try:
        batch.flush(blocking=False)  # returns at once instead of waiting
        assert batch.pending() == 1 and writer.writes == []
    finally:
        batch._lock.release()
    batch.flush(blocking=False)
    assert batch.pending() == 0 and decode_line(os.read(r, 4096).splitlines()[0])['id'] == 'held'
