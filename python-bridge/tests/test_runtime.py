"""End to end: spawn ``python -m synapse_bridge`` and speak protocol v1 to it.

Every frame received is schema-checked by the ``Bridge`` helper; every process is reaped and
checked gone by the ``spawn`` fixture. No sleeps: tests wait on frames and process exits.
"""

from __future__ import annotations

import os
import queue
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import ModelMessagesTypeAdapter

import synapse_bridge
from conftest import Bridge, run_frame
from synapse_bridge import encode_frame

SUPPORT = 'examples/agents/support.py:agent'
RESEARCH = 'examples/agents/research.py:agent'
FAULTS = 'test/fixtures/agents/faults.py:agent'
Spawn = Callable[..., Bridge]
WEATHER_TOOL = {
    'name': 'get_weather',
    'description': 'Current weather for a city',
    'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']},
}


def _ready(spawn: Spawn, agents: dict[str, str], **init: Any) -> Bridge:
    b = spawn()
    ready = b.handshake(agents, **init)
    assert ready == {'t': 'ready', 'agents': list(agents)}, ready
    return b


def test_hello_then_ready_then_result_with_messages_and_usage(spawn: Spawn) -> None:
    b = spawn()
    hello = b.recv()
    assert hello['t'] == 'hello' and hello['v'] == 1 and hello['pid'] == b.pid
    assert hello['pydanticAi'] == '2.68.0' and hello['python'].startswith('3.')
    assert hello['bridge'] == synapse_bridge.__version__  # Node checks it against its package version
    b.send({'t': 'init', 'agents': [{'name': 'support', 'ref': SUPPORT}], 'tools': [], 'concurrency': 2, 'maxFrameBytes': 1 << 20, 'cwd': str(Path(__file__).parents[2])})
    assert b.recv() == {'t': 'ready', 'agents': ['support']}
    b.send(run_frame('r1', 'support', 'where is order 42?'))
    result, before = b.terminal('r1')
    assert result['t'] == 'result'
    assert result['output'] == '[support] order 42 is shipped (re: where is order 42?) history=0'
    assert result['usage']['requests'] == 2 and result['usage']['toolCalls'] == 1
    assert result['usage']['totalTokens'] == result['usage']['inputTokens'] + result['usage']['outputTokens']
    assert len(ModelMessagesTypeAdapter.validate_python(result['messages'])) == 4
    # tool events are sent even when the run is not streamed; no text deltas then
    kinds = [f['event']['kind'] for f in before if f['t'] == 'event']
    assert kinds == ['tool_call', 'tool_result']

    # history round trip: the next turn sees one earlier prompt
    b.send(run_frame('r2', 'support', 'and order 7?', history=result['messages']))
    second, _ = b.terminal('r2')
    assert second['output'] == '[support] order 7 is processing (re: and order 7?) history=1'
    b.send({'t': 'shutdown'})
    assert b.rest() == [{'t': 'bye'}]
    assert b.wait() == 0


def test_streaming_emits_several_text_deltas_that_add_up(spawn: Spawn) -> None:
    b = _ready(spawn, {'support': SUPPORT})
    b.send(run_frame('s1', 'support', 'refund order 13', stream=True))
    result, before = b.terminal('s1')
    deltas = [f['event']['delta'] for f in before if f['event']['kind'] == 'text_delta']
    assert len(deltas) >= 5
    assert ''.join(deltas) == result['output']
    assert 'refund issued for order 13' in result['output']
    tools = [f['event']['tool'] for f in before if f['event']['kind'] == 'tool_call']
    assert tools == ['lookup_order', 'refund']


def test_concurrent_runs_do_not_cross_talk(spawn: Spawn) -> None:
    b = _ready(spawn, {'support': SUPPORT, 'research': RESEARCH}, concurrency=8)
    prompts = {f'c{i}': (('support', f'status of order {i} please') if i % 2 else ('research', f'notes about topic{i} actors')) for i in range(10)}
    for rid, (agent, prompt) in prompts.items():
        b.send(run_frame(rid, agent, prompt, stream=rid == 'c3'))
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(prompts):
        f = b.recv()
        if f['t'] in ('result', 'error'):
            results[f['id']] = f
        elif f['t'] == 'event':
            assert f['id'] in prompts
    for rid, (agent, prompt) in prompts.items():
        assert results[rid]['t'] == 'result', results[rid]
        assert results[rid]['output'].startswith(f'[{agent}]')
        assert f'(re: {prompt})' in results[rid]['output']


def test_cancel_propagates_into_the_tool_and_answers_cancelled(spawn: Spawn, tmp_path: Path) -> None:
    marker = tmp_path / 'cancelled.txt'
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('h1', 'faults', f'hang {marker}'))
    b.recv_until(lambda f: f['t'] == 'event' and f['event']['kind'] == 'tool_call')
    b.send({'t': 'cancel', 'id': 'h1'})
    b.send({'t': 'cancel', 'id': 'unknown'})  # ignored
    err, before = b.terminal('h1')
    assert err['kind'] == 'cancelled' and err['type'] == 'CancelledError' and err['retryable'] is False
    logs = [f for f in before if f['t'] == 'log']
    assert {'t': 'log', 'level': 'warning', 'logger': 'faults', 'msg': 'cancelled h1', 'id': 'h1'} in logs
    assert marker.read_text() == 'cancelled h1\n'
    b.send({'t': 'cancel', 'id': 'h1'})  # finished: ignored
    b.send({'t': 'ping', 'seq': 1})
    assert b.recv()['inFlight'] == 0


def test_deadline_gives_timeout_error(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('t1', 'faults', 'slow 60', timeout_ms=100))
    err, _ = b.terminal('t1')
    assert err['kind'] == 'timeout' and err['type'] == 'TimeoutError' and err['retryable'] is True
    b.send(run_frame('t2', 'faults', 'slow 0', timeout_ms=60_000))
    assert b.terminal('t2')[0]['output'] == '[faults] slow done after 0s (re: slow 0)'


def test_ping_is_answered_while_the_loop_is_blocked(spawn: Spawn, tmp_path: Path) -> None:
    release = tmp_path / 'release'
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('b1', 'faults', f'block_loop {release}'))
    b.recv_until(lambda f: f['t'] == 'log' and f['msg'].startswith('blocking the loop'))
    b.send({'t': 'ping', 'seq': 42})
    pong, _ = b.recv_until(lambda f: f['t'] in ('pong', 'result'))
    assert pong['t'] == 'pong', 'pong must arrive while the loop is still blocked'
    assert pong['seq'] == 42 and pong['inFlight'] == 1 and pong['rssBytes'] > 0 and pong['loopLagMs'] > 0
    release.touch()
    assert b.terminal('b1')[0]['output'] == '[faults] block_loop survived (re: block_loop %s)' % release


def test_print_does_not_corrupt_the_protocol(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('p1', 'faults', 'print_noise', stream=True))
    result, before = b.terminal('p1')
    assert result['output'] == '[faults] printed noise (re: print_noise)'
    assert all(f.get('id') != 'forged' for f in before)
    b.send({'t': 'shutdown'})
    b.rest()
    b.wait()
    assert b'noise: plain print to stdout' in b.stderr and b'noise: raw write to fd 1' in b.stderr
    assert b'"forged"' in b.stderr and all(b'forged' not in line for line in b.raw_lines)


def test_ts_tool_round_trip_ok_and_failure(spawn: Spawn) -> None:
    b = _ready(spawn, {'weather': 'examples/agents/ts_tools.py:agent'}, tools=[WEATHER_TOOL])
    b.send(run_frame('w1', 'weather', 'weather in Lyon?'))
    call, _ = b.recv_until(lambda f: f['t'] == 'tool_call')
    assert call['id'] == 'w1' and call['tool'] == 'get_weather' and call['args'] == {'city': 'Lyon'}
    b.send({'t': 'tool_result', 'id': 'w1', 'callId': 'nope', 'ok': True, 'value': 0})  # unknown: ignored
    b.send({'t': 'tool_result', 'id': 'w1', 'callId': call['callId'], 'ok': True, 'value': {'city': 'Lyon', 'tempC': 19}})
    result, before = b.terminal('w1')
    assert result['output'] == '[weather] {"city": "Lyon", "tempC": 19} (re: weather in Lyon?)'
    assert any(f['t'] == 'event' and f['event']['kind'] == 'tool_result' for f in before)

    b.send(run_frame('w2', 'weather', 'weather in Oslo?'))
    call, _ = b.recv_until(lambda f: f['t'] == 'tool_call')
    b.send({'t': 'tool_result', 'id': 'w2', 'callId': call['callId'], 'ok': False, 'error': 'service down'})
    result, _ = b.terminal('w2')
    assert result['output'].startswith('[weather] unavailable: service down')


def test_plain_handler_and_unknown_agent(spawn: Spawn) -> None:
    b = _ready(spawn, {'noop': 'examples/agents/noop.py:handler'})
    b.send(run_frame('n1', 'noop', 'echo me'))
    result = b.terminal('n1')[0]
    assert {k: v for k, v in result.items() if k != 'messages'} == {
        't': 'result', 'id': 'n1', 'output': 'echo me', 'outputType': 'str',
        'usage': {'requests': 0, 'inputTokens': 0, 'outputTokens': 0, 'totalTokens': 0, 'toolCalls': 0},
    }
    # A committable turn (#12): the user prompt and the handler's text, in pydantic-ai's shape.
    assert [(m['kind'], m['parts'][0]['content']) for m in result['messages']] == [('request', 'echo me'), ('response', 'echo me')]
    b.send(run_frame('n2', 'missing', 'x'))
    err = b.terminal('n2')[0]
    assert err['kind'] == 'agent' and err['type'] == 'UnknownAgentError'


def test_agent_failures_are_typed_errors_and_the_process_lives_on(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('e1', 'faults', 'raise_error'))
    err = b.terminal('e1')[0]
    assert err['kind'] == 'agent' and err['type'] == 'ValueError' and err['retryable'] is False
    assert 'raise_error fixture' in err['message'] and 'Traceback' in err['traceback']
    b.send(run_frame('e2', 'faults', 'hello'))
    assert b.terminal('e2')[0]['output'] == '[faults] ok (re: hello)'


def test_concurrency_cap_queues_runs_and_bounds_the_queue(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS}, concurrency=1)
    b.send(run_frame('q0', 'faults', 'hang'))
    b.recv_until(lambda f: f['t'] == 'event' and f['id'] == 'q0')
    for i in range(1, 66):  # 64 may wait behind the running one; the 66th is refused
        b.send(run_frame(f'q{i}', 'faults', 'hang'))
    refused, before = b.terminal('q65')
    assert refused['type'] == 'OverloadedError' and refused['retryable'] is True
    assert not [f for f in before if f['t'] == 'event'], 'queued runs must not start'
    b.send({'t': 'cancel', 'id': 'q0'})
    started, _ = b.recv_until(lambda f: f['t'] == 'event')
    assert started['id'] == 'q1'
    b.send({'t': 'shutdown'})
    rest = b.rest()
    assert rest[-1] == {'t': 'bye'}
    cancelled = {f['id'] for f in rest if f['t'] == 'error'}
    assert cancelled == {f'q{i}' for i in range(1, 65)}
    assert b.wait() == 0


def test_shutdown_cancels_in_flight_runs_then_bye(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('x1', 'faults', 'hang'))
    b.recv_until(lambda f: f['t'] == 'event')
    b.send({'t': 'shutdown'})
    rest = b.rest()
    assert [f['t'] for f in rest if f['t'] != 'log'] == ['error', 'bye']
    assert rest[-1] == {'t': 'bye'}
    assert b.wait() == 0


def test_stdin_eof_exits_even_with_a_run_in_flight(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS})
    b.send(run_frame('y1', 'faults', 'hang'))
    b.recv_until(lambda f: f['t'] == 'event')
    b.close_stdin()
    assert b.wait() == 0


def test_stdin_eof_before_init_exits(spawn: Spawn) -> None:
    b = spawn()
    assert b.recv()['t'] == 'hello'
    b.close_stdin()
    assert b.wait() == 0


def test_already_orphaned_at_start_exits_4(spawn: Spawn) -> None:
    b = spawn(env={'SYNAPSE_PARENT_PID': str(os.getpid() + 1_000_000)})
    assert b.wait() == 4


def test_startup_failures_exit_2(spawn: Spawn) -> None:
    refs = {
        'import': 'test/fixtures/agents/crash_at_import.py:agent',
        'type': 'examples/agents/support.py:ORDERS',
        'memory': SUPPORT,
    }
    bridges = {k: spawn() for k in refs}  # start together: interpreter start-up dominates
    errs = {}
    for k, b in bridges.items():
        extra = {'memoryLimitMb': 1} if k == 'memory' else {}
        errs[k] = b.handshake({'a': refs[k]}, **extra)
        assert b.wait() == 2, k
        assert errs[k]['t'] == 'error' and errs[k]['id'] is None and errs[k]['kind'] == 'startup', errs[k]
    assert errs['import']['type'] == 'RuntimeError' and 'crash_at_import fixture' in errs['import']['message']
    assert 'crash_at_import.py' in errs['import']['traceback']
    assert errs['type']['type'] == 'AgentLoadError' and 'not a pydantic-ai Agent' in errs['type']['message']
    assert errs['memory']['type'] == 'InvalidInitError'


def test_exit_at_import_dies_without_ready(spawn: Spawn) -> None:
    b = spawn()
    assert b.recv()['t'] == 'hello'
    b.send({'t': 'init', 'agents': [{'name': 'a', 'ref': 'test/fixtures/agents/exit_at_import.py:agent'}], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1 << 20})
    assert b.rest() == []
    assert b.wait() == 21


RUN_HANG = b'{"t":"run","id":"d","agent":"f","prompt":"hang","history":[],"timeoutMs":null,"stream":false}\n'
VIOLATIONS: dict[str, tuple[bool, list[bytes], str]] = {
    # name: (init first?, raw writes, expected message fragment). The schema and sequencing
    # rules themselves are unit-tested (test_protocol.py, test_units.py); these prove each path
    # (reader thread before/after init, loop side) ends in error + exit 3.
    'not json': (False, [b'this is not json\n'], 'not valid UTF-8 JSON'),
    'oversized before init (8 MiB default)': (False, [b'{"t":"ping","seq":"' + b'x' * (8 * 1024 * 1024 + 10)], 'maxFrameBytes'),
    'schema': (True, [b'{"t":"run","id":"a","agent":"f","prompt":"p","history":[],"timeoutMs":null}\n'], "field 'stream'"),
    'before init': (False, [b'{"t":"cancel","id":"a"}\n'], 'before init'),
    'duplicate run id': (True, [RUN_HANG, RUN_HANG], 'already in flight'),
}


def test_protocol_violations_exit_3(spawn: Spawn) -> None:
    bridges = {name: spawn() for name in VIOLATIONS}  # start together: interpreter start-up dominates
    for name, (init, writes, fragment) in VIOLATIONS.items():
        b = bridges[name]
        if init:
            assert b.handshake({'f': FAULTS}, maxFrameBytes=4096)['t'] == 'ready'
        else:
            assert b.recv()['t'] == 'hello'
        for raw in writes:
            b.send_raw(raw)
        frames = b.rest()
        assert b.wait() == 3, name
        err = frames[-1]
        assert err['t'] == 'error' and err['id'] is None and err['kind'] == 'protocol' and err['retryable'] is False
        assert err['type'] in ('ProtocolError', 'FrameTooLargeError')
        assert fragment in err['message'], (name, err['message'])


def _maps_uvloop(pid: int) -> bool:
    return 'uvloop' in Path(f'/proc/{pid}/maps').read_text()


def test_loop_is_uvloop_by_default_and_env_selects_asyncio(spawn: Spawn) -> None:
    for env, uv in (({}, True), ({'SYNAPSE_LOOP': 'asyncio'}, False)):
        b = spawn(env=env)
        assert b.handshake({'f': FAULTS})['t'] == 'ready'  # the loop is serving
        assert _maps_uvloop(b.pid) is uv, env
        b.send(run_frame('r1', 'f', 'hi'))
        assert b.terminal('r1')[0]['output'] == '[faults] ok (re: hi)'


@pytest.mark.parametrize(('fault', 'wire_type'), [('alloc', 'MemoryError'), ('alloc_wrapped', 'ValueError')])
def test_memory_limit_turns_unbounded_allocation_into_memory_error_then_recycles(spawn: Spawn, fault: str, wire_type: str) -> None:
    # alloc_wrapped: user code reports the MemoryError wrapped in another exception; the run
    # fails with that exception and the process recycles all the same (its cause is the limit).
    # Node runs memory-capped workers on the stock loop (uvloop cannot recover from a failed
    # allocation under RLIMIT_AS: the next run fails with SystemError).
    b = spawn(env={'SYNAPSE_FAULT_ALLOC_MAX_MB': '8192', 'SYNAPSE_LOOP': 'asyncio'})
    assert b.recv()['t'] == 'hello'
    vsz_mb = int(Path(f'/proc/{b.pid}/statm').read_text().split()[0]) * os.sysconf('SC_PAGE_SIZE') // (1 << 20)
    limit = vsz_mb + 400  # room for the agent module; far below the 8 GiB the fixture wants
    b.send({'t': 'init', 'agents': [{'name': 'f', 'ref': FAULTS}], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1 << 20, 'memoryLimitMb': limit, 'cwd': str(Path(__file__).parents[2])})
    assert b.recv_until(lambda f: f['t'] in ('ready', 'error'))[0]['t'] == 'ready'
    b.send(run_frame('m1', 'f', fault))
    peak_mb = int(re.search(r'VmHWM:\s+(\d+) kB', Path(f'/proc/{b.pid}/status').read_text()).group(1)) // 1024  # type: ignore[union-attr]
    err, _ = b.terminal('m1')
    assert err['kind'] == 'agent' and err['type'] == wire_type
    assert peak_mb <= limit
    # The run's error frame first, then the process recycles itself (Node restarts it).
    assert b.wait() == 5
    assert b'hit the memory limit' in b''.join(b.raw_lines)  # forwarded as a log frame


def test_fault_fixtures_that_break_the_stream(spawn: Spawn) -> None:
    b = _ready(spawn, {'faults': FAULTS}, maxFrameBytes=4096)
    b.send(run_frame('g1', 'faults', 'garbage'))
    bad = b.recv_any()
    while isinstance(bad, dict):
        bad = b.recv_any()
    assert isinstance(bad, BaseException)
    assert any(line.startswith(b'\x00\xffthis is not json') for line in b.raw_lines)
    b.send(run_frame('o1', 'faults', 'oversized'))
    result, _ = b.terminal('g1')
    assert result['output'] == '[faults] garbage survived (re: garbage)'
    assert b.terminal('o1')[0]['t'] == 'result'
    assert any(len(line) > 4096 for line in b.raw_lines)

    b.send(run_frame('tr', 'faults', 'truncated'))
    assert b.wait() == 19
    assert b.raw_lines[-1] == b'{"t":"result","id":"'


def test_crash_fixtures_exit_with_their_codes(spawn: Spawn) -> None:
    stream, attr = spawn(), spawn()
    assert stream.handshake({'faults': FAULTS})['t'] == 'ready'
    assert attr.handshake({'c': 'test/fixtures/agents/faults.py:crash_in_tool'})['t'] == 'ready'
    stream.send(run_frame('k2', 'faults', 'crash_mid_stream', stream=True))
    attr.send(run_frame('k3', 'c', 'any prompt at all'))  # the attribute crashes whatever the prompt
    assert attr.wait() == 17
    assert stream.wait() == 18
    deltas = [f for f in stream.rest() if f['t'] == 'event' and f['event']['kind'] == 'text_delta']
    assert len(deltas) >= 2


_INTERMEDIATE = '''
import os, subprocess, sys
env = dict(os.environ, SYNAPSE_PARENT_PID=str(os.getpid()))
p = subprocess.Popen([sys.executable, '-m', 'synapse_bridge'], stdin=int(sys.argv[1]), stdout=int(sys.argv[2]),
                     stderr=subprocess.DEVNULL, env=env, pass_fds=(int(sys.argv[1]), int(sys.argv[2])))
print(p.pid, flush=True)
os._exit(0)  # die without reaping or closing anything: the bridge is now an orphan
'''


def test_bridge_dies_with_its_parent_even_if_stdin_stays_open() -> None:
    import select
    import subprocess
    import sys

    stdin_r, stdin_w = os.pipe()  # we keep the write end: no stdin EOF for the bridge
    out_r, out_w = os.pipe()
    parent = subprocess.Popen([sys.executable, '-c', _INTERMEDIATE, str(stdin_r), str(out_w)], stdout=subprocess.PIPE, pass_fds=(stdin_r, out_w))
    try:
        os.close(stdin_r)
        os.close(out_w)
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        try:
            pidfd = os.pidfd_open(pid)  # works for a process that is not our child
        except ProcessLookupError:
            pidfd = None  # already gone and reaped
        assert parent.wait(timeout=20) == 0
        if pidfd is not None:
            try:
                ready, _, _ = select.select([pidfd], [], [], 20)  # readable once the process exited
                if not ready:
                    os.kill(pid, 9)  # do not leak it, then fail
                assert ready, 'orphaned bridge is still alive'
            finally:
                os.close(pidfd)
    finally:
        os.close(stdin_w)
        os.close(out_r)
        if parent.stdout is not None:
            parent.stdout.close()


def test_control_channel_rejects_anything_but_ping(tmp_path: Path) -> None:
    b = Bridge(control=True)
    try:
        assert b.recv()['t'] == 'hello'
        b.send_control_raw(b'{"t":"shutdown"}\n')
        err, _ = b.recv_until(lambda f: f['t'] == 'error')
        assert err['id'] is None and err['kind'] == 'protocol' and 'control channel' in err['message']
        assert b.wait() == 3
    finally:
        b.close()


def test_control_channel_end_exits_even_while_the_loop_is_blocked(tmp_path: Path) -> None:
    release = tmp_path / 'release'  # never touched: the loop stays blocked until the process exits
    b = Bridge(control=True)
    try:
        assert b.handshake({'faults': FAULTS})['t'] == 'ready'
        b.send(run_frame('b1', 'faults', f'block_loop {release}'))
        b.recv_until(lambda f: f['t'] == 'log' and f['msg'].startswith('blocking the loop'))
        b.send({'t': 'ping', 'seq': 7})
        pong, _ = b.recv_until(lambda f: f['t'] == 'pong')
        assert pong['seq'] == 7 and pong['inFlight'] == 1
        assert b'"pong"' not in b''.join(b.raw_lines), 'pongs travel on the control channel only'
        b._ping.close()  # the parent side of the control channel is gone
        assert b.wait() == 0
    finally:
        b.close()


def test_a_batched_result_is_not_held_behind_a_run_that_blocks_the_loop(tmp_path: Path) -> None:
    """Frames of runs finishing while others are in flight are batched until the next loop
    iteration; when user code blocks the loop first, the control thread writes them on the
    next ping instead of holding them until the loop runs again."""
    release = tmp_path / 'release'
    b = Bridge(control=True)
    try:
        assert b.handshake({'blocker': 'test/fixtures/agents/loop_blocker.py:handler'})['t'] == 'ready'
        # One write: both runs start in the same loop iteration, `fast` first; its result is
        # batched (another run is in flight) just before `block` stalls the loop.
        b.send_raw(encode_frame(run_frame('f1', 'blocker', 'fast')) + encode_frame(run_frame('b1', 'blocker', f'block {release}')))
        got: dict[str, Any] | None = None
        deadline = time.monotonic() + 10
        seq = 0
        while got is None and time.monotonic() < deadline:
            seq += 1
            b.send({'t': 'ping', 'seq': seq})  # a heartbeat every 0.1 s (waits are on the frame queue)
            beat_ends = time.monotonic() + 0.1
            while got is None and (left := beat_ends - time.monotonic()) > 0:
                try:
                    frame = b.recv_any(timeout=left)
                except queue.Empty:
                    break
                assert isinstance(frame, dict), frame
                if frame.get('id') == 'f1':
                    got = frame
        assert got is not None and got['t'] == 'result' and got['output'] == 'done fast'
        assert not release.exists()  # the loop is still blocked: the control thread wrote it
        release.touch()
        result, _ = b.terminal('b1')
        assert result['t'] == 'result' and result['output'] == f'done block {release}'
    finally:
        release.touch()
        b.close()


def test_offline_guard_env_reaches_the_runtime_process() -> None:
    """``SYNAPSE_ALLOW_MODEL_REQUESTS=0`` sets pydantic-ai's ``ALLOW_MODEL_REQUESTS = False`` in
    the ``python -m synapse_bridge`` process (the test suites run every worker with it)."""
    remote = 'test/fixtures/agents/remote_model.py:agent'
    for env, expected in (({'SYNAPSE_ALLOW_MODEL_REQUESTS': '0'}, 'Model requests are not allowed'), ({'SYNAPSE_ALLOW_MODEL_REQUESTS': '1'}, 'would have called the provider')):
        b = Bridge(env=env)
        try:
            assert b.handshake({'remote': remote})['t'] == 'ready'
            b.send(run_frame('r1', 'remote', 'hi'))
            err, _ = b.terminal('r1')
            assert err['t'] == 'error' and expected in err['message'], err
        finally:
            b.close()


def test_init_with_another_protocol_version_is_a_violation() -> None:
    b = Bridge()
    try:
        assert b.recv()['t'] == 'hello'
        b.send({'t': 'init', 'v': 2, 'agents': [], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1 << 20})
        err, _ = b.recv_until(lambda f: f['t'] == 'error')
        assert err['kind'] == 'protocol' and 'v' in err['message'] and 'protocol version' in err['message'], err
        assert b.wait() == 3
    finally:
        b.close()


def test_frame_batching_can_be_turned_off(tmp_path: Path) -> None:
    """``SYNAPSE_FRAME_BATCH=0``: a finished run's result is written at once, so it arrives even
    while another run keeps the loop blocked and no ping is sent."""
    release = tmp_path / 'release'
    b = Bridge(env={'SYNAPSE_FRAME_BATCH': '0'}, control=True)
    try:
        assert b.handshake({'blocker': 'test/fixtures/agents/loop_blocker.py:handler'})['t'] == 'ready'
        b.send_raw(encode_frame(run_frame('f1', 'blocker', 'fast')) + encode_frame(run_frame('b1', 'blocker', f'block {release}')))
        result, _ = b.terminal('f1')
        assert result['output'] == 'done fast' and not release.exists()
        release.touch()
        assert b.terminal('b1')[0]['output'] == f'done block {release}'
    finally:
        release.touch()
        b.close()
