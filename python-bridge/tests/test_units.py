"""Unit tests of the runtime's parts, in process (no subprocess)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import exceptions as pai

from synapse_bridge import AgentLoadError, ProtocolError, ToolError, current_run_id
from synapse_bridge._agents import load_agents, load_ref
from synapse_bridge._framing import FrameWriter, encode_frame
from synapse_bridge._limits import caused_by_memory_error, rss_bytes, virtual_bytes
from synapse_bridge._logging import FrameLogHandler, forward_threshold, install_log_forwarding, run_id_var
from synapse_bridge._runtime import Runtime
from synapse_bridge._tools import ToolBridge
from synapse_bridge._watchdog import Watchdog, expected_parent_pid
from synapse_bridge.exceptions import OverloadedError, UnknownAgentError, classify, error_frame

from conftest import REPO


# ── exceptions ────────────────────────────────────────────────────────────────

@pytest.mark.parametrize(
    ('exc', 'kind', 'retryable'),
    [
        (ValueError('x'), 'agent', False),
        (asyncio.CancelledError(), 'cancelled', False),
        (pai.UsageLimitExceeded('too many'), 'usage_limit', False),
        (pai.UnexpectedModelBehavior('weird'), 'unexpected_model_behavior', True),
        (pai.ModelHTTPError(503, 'm'), 'provider', True),
        (pai.ModelHTTPError(400, 'm'), 'provider', False),
        (ProtocolError('bad'), 'protocol', False),
        (AgentLoadError('bad'), 'startup', False),
        (UnknownAgentError('x'), 'agent', False),
        (OverloadedError('x'), 'agent', True),
        (ToolError('t', KeyError('k')), 'tool', False),
    ],
)
def test_classify(exc: BaseException, kind: str, retryable: bool) -> None:
    assert classify(exc) == (kind, retryable)


def test_error_frame_reports_the_original_type_of_a_tool_error() -> None:
    try:
        raise KeyError('k')
    except KeyError as original:
        try:
            raise ToolError('lookup', original) from original
        except ToolError as exc:
            frame = error_frame(exc, 'r1')
    assert frame['type'] == 'KeyError' and frame['kind'] == 'tool' and frame['id'] == 'r1'
    assert "tool 'lookup' raised KeyError" in frame['message'] and 'KeyError' in frame['traceback']


def test_misuse_and_runtime_roots_are_apart() -> None:
    from synapse_bridge import BridgeMisuseError, BridgeRuntimeError

    assert issubclass(AgentLoadError, BridgeMisuseError) and not issubclass(AgentLoadError, BridgeRuntimeError)
    assert issubclass(ProtocolError, BridgeRuntimeError) and not issubclass(ProtocolError, BridgeMisuseError)


# ── agent loading ─────────────────────────────────────────────────────────────

def test_load_file_and_module_refs(tmp_path: Path) -> None:
    (tmp_path / 'mypkg').mkdir()
    (tmp_path / 'mypkg' / '__init__.py').write_text('')
    (tmp_path / 'mypkg' / 'mod.py').write_text('class Holder:\n    value = 42\ndef handler(prompt, history):\n    return prompt\n')
    assert load_ref('mypkg.mod:Holder.value', str(tmp_path)) == 42
    assert load_ref('mypkg/mod.py:Holder.value', str(tmp_path)) == 42
    loaded = load_agents([{'name': 'h', 'ref': 'mypkg.mod:handler'}], str(tmp_path))
    assert loaded['h'].handler_arity == 2 and not loaded['h'].handler_is_async
    support = load_agents([{'name': 's', 'ref': 'examples/agents/support.py:agent'}], str(REPO))['s']
    assert support.agent is not None


@pytest.mark.parametrize(
    ('ref', 'match'),
    [
        ('no-colon', 'must look like'),
        ('examples/agents/support.py:', 'must look like'),
        ('examples/agents/missing.py:agent', 'not found'),
        ('examples/agents/support.py:nope', "no attribute 'nope'"),
        ('examples/agents/support.py:ORDERS', 'not a pydantic-ai Agent'),
        ('examples/agents/support.py:Agent', 'not a pydantic-ai Agent'),
    ],
)
def test_bad_refs(ref: str, match: str) -> None:
    with pytest.raises(AgentLoadError, match=match):
        load_agents([{'name': 'a', 'ref': ref}], str(REPO))


def test_duplicate_names_and_bad_handler_arity(tmp_path: Path) -> None:
    (tmp_path / 'h.py').write_text('def three(a, b, c): pass\nasync def one(p): return p\n')
    with pytest.raises(AgentLoadError, match='duplicate'):
        load_agents([{'name': 'a', 'ref': 'h.py:one'}, {'name': 'a', 'ref': 'h.py:one'}], str(tmp_path))
    with pytest.raises(AgentLoadError, match='takes 3'):
        load_agents([{'name': 'a', 'ref': 'h.py:three'}], str(tmp_path))
    assert load_agents([{'name': 'a', 'ref': 'h.py:one'}], str(tmp_path))['a'].handler_is_async


# ── runtime sequencing (reader-thread checks) ─────────────────────────────────

@pytest.fixture
def runtime() -> Any:
    r, w = os.pipe()
    rt = Runtime(FrameWriter(w))
    posted: list[dict[str, Any]] = []

    def admit(frame: dict[str, Any]) -> None:
        """The reader thread's per-frame step; what it hands to the loop lands in ``posted``."""
        admitted = rt._admit(frame)
        if admitted is not None:
            posted.append(admitted)

    yield rt, admit, posted, r
    os.close(r)
    os.close(w)


def test_sequencing_rules(runtime: Any) -> None:
    rt, admit, posted, _ = runtime
    for t in ('run', 'cancel', 'tool_result'):
        with pytest.raises(ProtocolError, match='before init'):
            admit({'t': t, 'id': 'x'})
    admit({'t': 'init', 'maxFrameBytes': 1234})
    assert rt._splitter.max_frame_bytes == 1234
    with pytest.raises(ProtocolError, match='second init'):
        admit({'t': 'init', 'maxFrameBytes': 1})
    admit({'t': 'cancel', 'id': 'x'})
    assert [f['t'] for f in posted] == ['init', 'cancel']


def test_ping_is_answered_on_the_calling_thread(runtime: Any) -> None:
    _, admit, posted, r = runtime
    admit({'t': 'ping', 'seq': 9})
    line = os.read(r, 4096)
    assert line.startswith(b'{"t":"pong","seq":9,') and not posted


def test_reader_posts_the_frames_of_one_read_as_one_batch(runtime: Any) -> None:
    rt, _, _, r = runtime
    stdin_r, stdin_w = os.pipe()
    calls: list[tuple[str, tuple[Any, ...]]] = []
    rt._stdin_fd = stdin_r
    rt._post = lambda fn, *args: calls.append((fn.__name__, args))
    rt._on_eof = lambda: calls.append(('eof', ()))
    init = {'t': 'init', 'agents': [], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 4096}
    os.write(stdin_w, encode_frame(init) + b'{"t":"ping","seq":5}\n{"t":"cancel","id":"a"}\n')
    os.close(stdin_w)
    try:
        rt._read_forever()
    finally:
        os.close(stdin_r)
    assert calls == [('_dispatch_all', ([init, {'t': 'cancel', 'id': 'a'}],)), ('eof', ())]
    assert os.read(r, 4096).startswith(b'{"t":"pong","seq":5,')  # answered on the reader thread


@pytest.mark.parametrize('frame', [
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': None, 'stream': False},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': 5.5, 'stream': True, 'conversationId': 'c', 'turnId': 't'},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'stream': False},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': -1, 'stream': False},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': float('inf'), 'stream': False},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': True, 'stream': False},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': 3, 'stream': 1},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': {}, 'timeoutMs': 3, 'stream': False},
    {'id': 1, 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': 3, 'stream': False},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': 3, 'stream': False, 'conversationId': None},
    {'id': 'r', 'agent': 'a', 'prompt': 'p', 'history': [], 'timeoutMs': 3, 'stream': False, 'turnId': 7},
])
def test_run_fast_path_accepts_exactly_what_the_precise_checks_accept(frame: dict[str, Any]) -> None:
    from synapse_bridge import _schema

    def verdict(check: Any) -> str:
        try:
            check(frame, 'run')
        except ProtocolError as exc:
            return str(exc)
        return 'ok'

    assert verdict(_schema._check_run) == verdict(_schema._check_run_precisely)


# ── watchdog, limits, logging, tools ──────────────────────────────────────────

def test_watchdog_fires_once_the_parent_changes() -> None:
    fired = threading.Event()
    ppid = [100]
    dog = Watchdog(100, interval_s=0.01, on_orphaned=fired.set, getppid=lambda: ppid[0]).start()
    assert not fired.is_set()
    ppid[0] = 1
    assert fired.wait(10)
    dog.close()
    dog.close()  # idempotent


def test_watchdog_fires_at_start_if_already_orphaned() -> None:
    fired = threading.Event()
    Watchdog(100, on_orphaned=fired.set, getppid=lambda: 1).start().close()
    assert fired.is_set()


def test_expected_parent_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('SYNAPSE_PARENT_PID', '4321')
    assert expected_parent_pid() == 4321
    monkeypatch.setenv('SYNAPSE_PARENT_PID', 'junk')
    assert expected_parent_pid() == os.getppid()


_WIRE_ORDER = ['debug', 'info', 'warning', 'error']


@pytest.mark.parametrize('forward', ['debug', 'info', 'warning', 'error', 'off', None, 'bogus'])
def test_log_forwarding_sends_only_the_levels_node_keeps(forward: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Env SYNAPSE_LOG_FORWARD (Node's logger level): records Node would drop are never sent;
    unset or unknown, everything is (as before it existed). The root level is untouched."""
    if forward is None:
        monkeypatch.delenv('SYNAPSE_LOG_FORWARD', raising=False)
    else:
        monkeypatch.setenv('SYNAPSE_LOG_FORWARD', forward)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    sent: list[dict[str, Any]] = []
    try:
        monkeypatch.setenv('SYNAPSE_LOG_LEVEL', 'DEBUG')
        handler = install_log_forwarding(sent.append)
        assert root.level == logging.DEBUG  # SYNAPSE_LOG_LEVEL's, whatever SYNAPSE_LOG_FORWARD says
        root.setLevel(1)  # let the level-5 record reach the handler too
        logger = logging.getLogger('unit.forward')
        for level in (5, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL, 60):
            logger.log(level, 'at %d', level)
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert handler.level == forward_threshold({} if forward is None else {'SYNAPSE_LOG_FORWARD': forward})
    kept = _WIRE_ORDER[_WIRE_ORDER.index(forward):] if forward in _WIRE_ORDER else [] if forward == 'off' else _WIRE_ORDER
    expected = [w for w in ['debug', 'debug', 'info', 'warning', 'error', 'error', 'error'] if w in kept]
    assert [f['level'] for f in sent] == expected


def test_rss_and_virtual_size() -> None:
    assert rss_bytes() > 0
    size = virtual_bytes()
    assert size is None or size >= rss_bytes()


def test_log_handler_tags_the_run_and_maps_levels() -> None:
    sent: list[dict[str, Any]] = []
    logger = logging.getLogger('unit.test')
    logger.propagate = False
    handler = FrameLogHandler(sent.append)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.critical('outside')
        token = run_id_var.set('r9')
        try:
            assert current_run_id() == 'r9'
            logger.debug('inside %s', 'run')
        finally:
            run_id_var.reset(token)
    finally:
        logger.removeHandler(handler)
    assert sent == [
        {'t': 'log', 'level': 'error', 'logger': 'unit.test', 'msg': 'outside'},
        {'t': 'log', 'level': 'debug', 'logger': 'unit.test', 'msg': 'inside run', 'id': 'r9'},
    ]


async def test_tool_bridge_round_trip_and_late_results() -> None:
    sent: list[dict[str, Any]] = []
    bridge = ToolBridge(sent.append, [{'name': 'get_weather', 'description': 'd', 'parameters': {'type': 'object'}}])
    assert bridge.toolset is not None and bridge.names == ['get_weather']
    run_id_var.set('r1')
    call = asyncio.ensure_future(bridge.call('get_weather', {'city': 'Paris'}))
    await asyncio.sleep(0)  # let the call send its frame
    assert sent == [{'t': 'tool_call', 'id': 'r1', 'callId': 'c1', 'tool': 'get_weather', 'args': {'city': 'Paris'}}]
    assert not bridge.resolve({'id': 'other', 'callId': 'c1', 'ok': True})
    assert bridge.resolve({'id': 'r1', 'callId': 'c1', 'ok': True, 'value': 21})
    assert await call == 21 and bridge.pending == 0
    failing = asyncio.ensure_future(bridge.call('get_weather', {}))
    await asyncio.sleep(0)
    bridge.resolve({'id': 'r1', 'callId': 'c2', 'ok': False, 'error': 'down'})
    with pytest.raises(pai.ModelRetry, match='down'):
        await failing
    cancelled = asyncio.ensure_future(bridge.call('get_weather', {}))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert bridge.pending == 0
    assert not bridge.resolve({'id': 'r1', 'callId': 'c3', 'ok': True})  # late: ignored


def _wrapped_memory_error() -> BaseException:
    try:
        try:
            raise MemoryError
        except MemoryError as inner:
            raise ValueError('could not buffer') from inner
    except ValueError as exc:
        return exc


def _memory_error_in_context() -> BaseException:
    try:
        try:
            raise MemoryError
        except MemoryError:
            raise KeyError('while handling it')  # noqa: B904  (implicit __context__ is the point)
    except KeyError as exc:
        return exc


def test_caused_by_memory_error_walks_cause_context_and_groups() -> None:
    assert caused_by_memory_error(MemoryError())
    assert caused_by_memory_error(_wrapped_memory_error())
    assert caused_by_memory_error(_memory_error_in_context())
    assert caused_by_memory_error(ExceptionGroup('g', [ValueError('a'), _wrapped_memory_error()]))
    assert not caused_by_memory_error(ValueError('plain'))
    assert not caused_by_memory_error(ExceptionGroup('g', [ValueError('a'), KeyError('b')]))
    assert not caused_by_memory_error(None)
    loop = ValueError('cycle')
    loop.__context__ = loop
    assert not caused_by_memory_error(loop)
