"""The ``gc`` notices of the heartbeat control channel (``_control.GcNotices``, feature ``gc_notices``)."""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synapse_bridge._control import NOTICE_LOCK_WAIT_S, ControlChannel, GcNotices
from synapse_bridge._framing import FrameWriter
from synapse_bridge._schema import FEATURES, validate_from_node, validate_from_python

from conftest import FIXTURES, Bridge


@pytest.fixture
def channel() -> Iterator[tuple[ControlChannel, int]]:
    """A control channel whose write end is a real pipe; yields it and the pipe's read fd.
    (Its serving thread is not started: only the write side is under test.)"""
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    ch = ControlChannel(ping_r, FrameWriter(pong_w), lambda seq: {}, lambda exc: None, lambda: None)
    try:
        yield ch, pong_r
    finally:
        for fd in (ping_r, ping_w, pong_r, pong_w):
            os.close(fd)


def _assert_pairs(frames: list[dict[str, Any]]) -> None:
    """Start/stop pairs in order (building a graph may trigger automatic full collections too)."""
    assert frames and [f['phase'] for f in frames] == ['start', 'stop'] * (len(frames) // 2)
    assert all('pauseMs' not in f for f in frames[::2])
    assert all(f['pauseMs'] >= 0 for f in frames[1::2]) and frames[-1]['pauseMs'] > 0


def _lines(fd: int) -> list[dict[str, Any]]:
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return []
    return [validate_from_python(json.loads(line)) for line in data.splitlines()]


def test_the_feature_is_announced_and_init_gc_notices_is_a_boolean() -> None:
    assert 'gc_notices' in FEATURES
    init = {'t': 'init', 'agents': [], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1024}
    validate_from_node({**init, 'gcNotices': True})
    with pytest.raises(Exception, match='gcNotices'):
        validate_from_node({**init, 'gcNotices': 'yes'})


def test_a_full_collection_writes_start_then_stop_with_its_pause(channel: tuple[ControlChannel, int]) -> None:
    ch, read_fd = channel
    notices = GcNotices(ch.try_send).install()
    try:
        graph = [[i, {'k': [i]}] for i in range(50_000)]  # something for the collector to walk
        gc.collect()
        del graph
    finally:
        notices.uninstall()
    frames = _lines(read_fd)
    _assert_pairs(frames)
    assert notices.sent == len(frames) and notices.dropped == 0


def test_younger_generations_write_nothing(channel: tuple[ControlChannel, int]) -> None:
    ch, read_fd = channel
    notices = GcNotices(ch.try_send).install()
    try:
        gc.collect(0)
        gc.collect(1)
    finally:
        notices.uninstall()
    assert _lines(read_fd) == []


def test_install_and_uninstall_are_idempotent(channel: tuple[ControlChannel, int]) -> None:
    ch, read_fd = channel
    notices = GcNotices(ch.try_send)
    notices.install().install()
    assert gc.callbacks.count(notices._on_gc) == 1  # pyright: ignore[reportPrivateUsage]
    notices.uninstall()
    notices.uninstall()
    gc.collect()
    assert _lines(read_fd) == []


def test_a_busy_channel_drops_the_notice_after_a_bounded_wait_instead_of_blocking(channel: tuple[ControlChannel, int]) -> None:
    """Another thread holding the write lock (a pong being written, a full pipe): the collection
    goes on after at most NOTICE_LOCK_WAIT_S, without its notice; nothing half-written."""
    ch, read_fd = channel
    held = threading.Event()
    release = threading.Event()

    def writer_busy() -> None:
        with ch._write_lock:  # pyright: ignore[reportPrivateUsage]
            held.set()
            release.wait()

    t = threading.Thread(target=writer_busy)
    t.start()
    held.wait()
    notices = GcNotices(ch.try_send).install()
    try:
        gc.collect()
    finally:
        notices.uninstall()
        release.set()
        t.join()
    assert notices.sent == 0 and notices.dropped >= 2
    assert _lines(read_fd) == []
    assert NOTICE_LOCK_WAIT_S <= 0.05  # the most a collection can be delayed per notice


def test_a_failing_send_never_escapes_the_gc_callback() -> None:
    def boom(frame: dict[str, Any]) -> bool:
        raise RuntimeError('broken')

    notices = GcNotices(boom).install()
    try:
        gc.collect()  # would print an "Exception ignored in" warning and lose nothing else
    finally:
        notices.uninstall()
    assert notices.dropped >= 2


def test_the_runtime_sends_notices_on_the_control_channel_only_when_init_asks(tmp_path: Path) -> None:
    """End to end through ``python -m synapse_bridge``: with ``gcNotices`` a full collection in a run
    announces itself on the control channel (never on stdout); without it nothing is sent."""
    for asked in (True, False):
        b = Bridge(control=True)
        try:
            init: dict[str, Any] = {'gcNotices': True} if asked else {}
            assert b.handshake({'gc': f'{FIXTURES}/gc_pause.py:agent'}, **init)['t'] == 'ready'
            b.send({'t': 'run', 'id': 'r', 'agent': 'gc', 'prompt': 'collect 1', 'history': [], 'timeoutMs': None, 'stream': False})
            result, seen = b.terminal('r')
            assert result['t'] == 'result' and result['output'] == 'collected'
            gcs = [f for f in seen if f['t'] == 'gc']
            if asked:
                _assert_pairs(gcs)
            else:
                assert gcs == []
            assert b'"t":"gc"' not in b''.join(b.raw_lines), 'notices travel on the control channel only'
        finally:
            b.close()


def test_init_gc_thresholds_are_applied_in_the_worker() -> None:
    """``init.gcThresholds`` (``python.gcThresholds``) → ``gc.set_threshold`` after the agents load;
    without it the worker keeps CPython's default."""
    for init, expected in (({'gcThresholds': [700, 10, 100]}, '700,10,100'), ({}, ','.join(map(str, gc.get_threshold())))):
        b = Bridge(control=True)
        try:
            assert b.handshake({'gc': f'{FIXTURES}/gc_pause.py:agent'}, **init)['t'] == 'ready'
            b.send({'t': 'run', 'id': 't', 'agent': 'gc', 'prompt': 'thresholds', 'history': [], 'timeoutMs': None, 'stream': False})
            result, _ = b.terminal('t')
            assert result['output'] == expected
        finally:
            b.close()
