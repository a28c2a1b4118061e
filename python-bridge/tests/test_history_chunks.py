"""Chunked history (feature ``history_chunks``): ``HistoryAssembler`` bounds, interleaving and
cancellation, then end to end through a real ``python -m synapse_bridge``."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import REPO, Bridge, run_frame
from synapse_bridge import HistoryTooLargeError, ProtocolError
from synapse_bridge._history import CANCELLED, HistoryAssembler

SIZER = 'test/fixtures/agents/history_size.py:agent'
Spawn = Callable[..., Bridge]


def _exchange(prompt: str, answer: str = 'ok') -> list[dict[str, Any]]:
    return [
        {'kind': 'request', 'parts': [{'part_kind': 'user-prompt', 'content': prompt, 'timestamp': '2026-01-01T00:00:00Z'}]},
        {'kind': 'response', 'parts': [{'part_kind': 'text', 'content': answer}], 'model_name': 'function:x', 'timestamp': '2026-01-01T00:00:01Z'},
    ]


def _slices(history: list[Any], size: int) -> list[str]:
    """The history's UTF-8 JSON cut every ``size`` bytes (inside characters too), as base64."""
    raw = json.dumps(history, ensure_ascii=False).encode()
    return [base64.b64encode(raw[i : i + size]).decode() for i in range(0, len(raw), size)]


def _answer(messages: int, prompts: list[str]) -> str:
    return f'messages={messages} prompts={len(prompts)} sha256={hashlib.sha256(chr(10).join(prompts).encode()).hexdigest()}'


# ── HistoryAssembler ─────────────────────────────────────────────────────────


def test_reassembles_byte_slices_of_interleaved_runs() -> None:
    a, b = _exchange('ä€𝄞' * 50), _exchange('plain ' * 40)
    h = HistoryAssembler(max_bytes=10_000)
    sa, sb = _slices(a, 7), _slices(b, 13)  # 7-byte cuts land inside multi-byte characters
    for i in range(max(len(sa), len(sb))):
        if i < len(sa):
            h.add('a', sa[i])
        if i < len(sb):
            h.add('b', sb[i])
    assert h.pending == 2
    assert h.take('b', len(sb)) == b
    assert h.take('a', len(sa)) == a
    assert h.pending == 0 and h.buffered_bytes == 0


def test_byte_cap_covers_all_partial_histories_and_fails_only_the_run_that_passed_it() -> None:
    h = HistoryAssembler(max_bytes=100)
    h.add('a', base64.b64encode(b'x' * 60).decode())
    h.add('b', base64.b64encode(b'y' * 30).decode())
    h.add('b', base64.b64encode(b'y' * 30).decode())  # 60 + 60 > 100: b is dropped
    assert h.buffered_bytes == 60
    h.add('b', base64.b64encode(b'y' * 30).decode())  # counted, not kept
    assert h.buffered_bytes == 60
    with pytest.raises(HistoryTooLargeError, match='maxHistoryBytes'):
        h.take('b', 3)
    h.add('a', base64.b64encode(b'"').decode())
    with pytest.raises(ProtocolError, match='not valid UTF-8 JSON'):  # a's bytes are not JSON: still its own run
        h.take('a', 2)
    assert h.pending == 0 and h.buffered_bytes == 0


def test_cancel_mid_chunks_discards_the_bytes_and_the_run_is_answered_cancelled() -> None:
    h = HistoryAssembler()
    h.add('r', base64.b64encode(b'[1,').decode())
    assert h.cancel('r') is True
    assert h.buffered_bytes == 0
    h.add('r', base64.b64encode(b'2]').decode())  # the rest still arrives: counted, not kept
    assert h.buffered_bytes == 0
    assert h.take('r', 2) == CANCELLED
    assert h.cancel('r') is False and h.pending == 0


@pytest.mark.parametrize(
    ('feed', 'take', 'match'),
    [
        ([], ('r', 1), 'historyChunks=1 but 0'),
        ([b'[1]'], ('r', 2), 'historyChunks=2 but 1'),
        ([b'{}'], ('r', 1), 'not a JSON array'),
        ([b'[NaN]'], ('r', 1), 'not valid UTF-8 JSON'),
        ([b'["\xff"]'], ('r', 1), 'not valid UTF-8 JSON'),
    ],
)
def test_bad_reassembly_is_a_protocol_error_and_leaves_nothing(feed: list[bytes], take: tuple[str, int], match: str) -> None:
    h = HistoryAssembler()
    for raw in feed:
        h.add('r', base64.b64encode(raw).decode())
    with pytest.raises(ProtocolError, match=match):
        h.take(*take)
    assert h.pending == 0 and h.buffered_bytes == 0


def test_bad_base64_and_too_many_partial_runs_are_protocol_errors() -> None:
    h = HistoryAssembler(max_pending=2)
    with pytest.raises(ProtocolError, match='not base64'):
        h.add('r', 'not base64!')
    h = HistoryAssembler(max_pending=2)
    h.add('a', '')
    h.add('b', '')
    with pytest.raises(ProtocolError, match='partial history'):
        h.add('c', '')
    h.clear()
    assert h.pending == 0
    h.add('c', '')


# ── end to end ───────────────────────────────────────────────────────────────


def _ready(spawn: Spawn, **init: Any) -> Bridge:
    b = spawn()
    hello = b.recv()
    assert 'history_chunks' in hello['features']
    b.send({'t': 'init', 'agents': [{'name': 'sizer', 'ref': SIZER}], 'tools': [], 'concurrency': 4, 'maxFrameBytes': 64 * 1024, 'cwd': str(REPO), **init})
    assert b.recv() == {'t': 'ready', 'agents': ['sizer']}
    return b


def test_chunked_history_reaches_the_agent_with_other_frames_in_between(spawn: Spawn) -> None:
    b = _ready(spawn)
    huge = 'ü€𝄞z' * 20_000  # one message larger than a frame
    slices = _slices(_exchange(huge), 40_000)
    assert len(slices) > 3
    for i, data in enumerate(slices):
        b.send({'t': 'history_chunk', 'id': 'big', 'data': data})
        if i == 1:  # another run, a ping and a stray cancel arrive mid-chunks
            b.send(run_frame('small', 'sizer', 'hi'))
            b.send({'t': 'ping', 'seq': 1})
            b.send({'t': 'cancel', 'id': 'unknown'})
    b.send(run_frame('big', 'sizer', 'next') | {'historyChunks': len(slices)})
    results = {f['id']: f for f in (b.terminal('small')[0], b.terminal('big')[0])}
    assert results['small']['output'] == _answer(1, ['hi'])
    assert results['big']['output'] == _answer(3, [huge, 'next'])


def test_cancel_mid_chunks_answers_cancelled_and_the_process_serves_on(spawn: Spawn) -> None:
    b = _ready(spawn)
    slices = _slices(_exchange('x' * 100_000), 40_000)
    b.send({'t': 'history_chunk', 'id': 'c1', 'data': slices[0]})
    b.send({'t': 'cancel', 'id': 'c1'})
    for data in slices[1:]:
        b.send({'t': 'history_chunk', 'id': 'c1', 'data': data})
    b.send(run_frame('c1', 'sizer', 'p') | {'historyChunks': len(slices)})
    err, _ = b.terminal('c1')
    assert err['kind'] == 'cancelled' and err['type'] == 'CancelledError'
    b.send(run_frame('c2', 'sizer', 'p'))
    assert b.terminal('c2')[0]['output'] == _answer(1, ['p'])
    b.send({'t': 'ping', 'seq': 2})
    assert b.recv_until(lambda f: f['t'] == 'pong')[0]['inFlight'] == 0


def test_history_over_max_history_bytes_is_a_run_error_not_a_crash(spawn: Spawn) -> None:
    b = _ready(spawn, maxHistoryBytes=100_000)
    slices = _slices(_exchange('x' * 150_000), 40_000)
    for data in slices:
        b.send({'t': 'history_chunk', 'id': 'o1', 'data': data})
    b.send(run_frame('o1', 'sizer', 'p') | {'historyChunks': len(slices)})
    err, _ = b.terminal('o1')
    assert (err['kind'], err['type'], err['retryable']) == ('agent', 'HistoryTooLargeError', False)
    ok = _slices(_exchange('y' * 50_000), 40_000)  # the budget is free again
    for data in ok:
        b.send({'t': 'history_chunk', 'id': 'o2', 'data': data})
    b.send(run_frame('o2', 'sizer', 'p') | {'historyChunks': len(ok)})
    assert b.terminal('o2')[0]['output'] == _answer(3, ['y' * 50_000, 'p'])


@pytest.mark.parametrize(
    'frames',
    [
        pytest.param([{'t': 'history_chunk', 'id': 'r', 'data': ''}], id='chunk before init'),
        pytest.param(['init', run_frame('r', 'sizer', 'p') | {'historyChunks': 1}], id='run announces a chunk that never came'),
        pytest.param(['init', {'t': 'history_chunk', 'id': 'r', 'data': '%%%'}], id='data not base64'),
    ],
)
def test_chunk_sequencing_violations_exit_3(spawn: Spawn, frames: list[Any]) -> None:
    b = spawn()
    assert b.recv()['t'] == 'hello'
    for frame in frames:
        if frame == 'init':
            b.send({'t': 'init', 'agents': [{'name': 'sizer', 'ref': SIZER}], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1 << 20, 'cwd': str(REPO)})
            assert b.recv()['t'] == 'ready'
        else:
            b.send(frame)
    err = b.recv_until(lambda f: f['t'] == 'error')[0]
    assert err['id'] is None and err['kind'] == 'protocol'
    assert b.wait() == 3
