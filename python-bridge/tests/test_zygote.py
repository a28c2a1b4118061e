"""The zygote (``python -m synapse_bridge --zygote``) driven the way Node drives it: fork
requests on its stdin, four Unix socket connections per child, a setup line, then protocol v1.

Real processes throughout; every pid is waited for with a pidfd (no sleeps)."""

from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, RECV_TIMEOUT_S, run_frame

PROBE = 'test/fixtures/agents/zygote_probe.py:agent'
PRELOAD_DIR = str(REPO / 'test' / 'fixtures' / 'zygote_preload')


def wait_gone(pid: int, timeout: float = RECV_TIMEOUT_S) -> bool:
    """True once ``pid`` terminated (zombie included), via a pidfd; False at the timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


class Child:
    """One forked worker seen from Node's side: its four sockets, by role."""

    def __init__(self, pid: int, socks: dict[str, socket.socket]) -> None:
        self.pid = pid
        self.socks = socks
        self._buf = b''
        for s in socks.values():
            s.settimeout(RECV_TIMEOUT_S)

    def send(self, frame: dict[str, Any]) -> None:
        self.socks['in'].sendall((json.dumps(frame) + '\n').encode())

    def recv(self) -> dict[str, Any]:
        while b'\n' not in self._buf:
            chunk = self.socks['out'].recv(65536)
            assert chunk, 'protocol socket closed'
            self._buf += chunk
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def turn(self, run_id: str, prompt: str) -> dict[str, Any]:
        self.send(run_frame(run_id, 'probe', prompt))
        while True:
            frame = self.recv()
            if frame['t'] in ('result', 'error') and frame.get('id') == run_id:
                assert frame['t'] == 'result', frame
                return json.loads(frame['output'])

    def close(self) -> None:
        for s in self.socks.values():
            s.close()


class Zygote:
    """A zygote subprocess plus the listening socket its children connect to."""

    def __init__(self, tmp: Path, env_extra: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_')}
        env.update(PYTHONUNBUFFERED='1', SYNAPSE_ALLOW_MODEL_REQUESTS='0', SYNAPSE_PARENT_PID=str(os.getpid()), **(env_extra or {}))
        self.base_env = env
        self.proc = subprocess.Popen([sys.executable, '-m', 'synapse_bridge', '--zygote'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=env)
        self.path = str(tmp / 'z.sock')
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(16)
        self.server.settimeout(RECV_TIMEOUT_S)
        self.children: list[Child] = []
        ready = self.read()
        assert ready['t'] == 'zygote_ready' and ready['pid'] == self.proc.pid, ready

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], RECV_TIMEOUT_S)
        assert ready, 'zygote silent'
        return json.loads(self.proc.stdout.readline())

    def request(self, frame: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(frame) + '\n').encode())
        self.proc.stdin.flush()

    def fork(self, env: dict[str, str] | None = None, cwd: Path = REPO) -> Child:
        rid = uuid.uuid4().hex
        self.request({'t': 'fork', 'id': rid, 'socket': self.path})
        socks: dict[str, socket.socket] = {}
        pids = set()
        for _ in range(4):
            conn, _ = self.server.accept()
            hello = b''
            while not hello.endswith(b'\n'):
                hello += conn.recv(1)
            h = json.loads(hello)
            assert h['id'] == rid
            socks[h['role']] = conn
            pids.add(h['pid'])
        assert sorted(socks) == ['ctl', 'err', 'in', 'out'] and len(pids) == 1
        forked = self.read()
        assert forked == {'t': 'forked', 'id': rid, 'pid': next(iter(pids))}
        child_env = {**self.base_env, 'SYNAPSE_CONTROL_FDS': '3,4', **(env or {})}
        socks['in'].sendall((json.dumps({'env': child_env, 'cwd': str(cwd)}) + '\n').encode())
        child = Child(forked['pid'], socks)
        self.children.append(child)
        hello = child.recv()
        assert hello['t'] == 'hello' and hello['pid'] == child.pid
        assert hello['pydanticAi'] == version('pydantic-ai-slim')  # read by the zygote at preload
        child.send({'t': 'init', 'agents': [{'name': 'probe', 'ref': PROBE}], 'tools': [], 'concurrency': 2, 'maxFrameBytes': 1 << 20, 'cwd': str(cwd)})
        assert child.recv() == {'t': 'ready', 'agents': ['probe']}
        return child

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for child in self.children:
            child.close()
            if not wait_gone(child.pid, 5):
                os.killpg(child.pid, signal.SIGKILL)
                raise AssertionError(f'forked worker {child.pid} outlived its sockets')
        self.server.close()


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    z = Zygote(tmp_path)
    try:
        yield z
    finally:
        z.close()


def test_children_see_only_their_own_env_and_own_session(zygote: Zygote) -> None:
    a = zygote.fork({'ZYGOTE_SECRET': 'only-for-a'})
    b = zygote.fork()
    seen_a, seen_b = a.turn('a1', 'ZYGOTE_SECRET'), b.turn('b1', 'ZYGOTE_SECRET')
    assert seen_a['value'] == 'only-for-a'
    assert seen_b['value'] is None
    for child, seen in ((a, seen_a), (b, seen_b)):
        assert seen['pid'] == child.pid and seen['pgid'] == child.pid  # own group (setsid)
        assert seen['ppid'] == zygote.proc.pid
        assert seen['cwd'] == str(REPO)
        assert seen['handlers'] == ['FrameLogHandler']  # the worker's own forwarder, nothing inherited
    assert seen_a['random'] != seen_b['random']  # re-seeded: siblings do not share a stream


def test_children_hold_none_of_the_zygote_fds(zygote: Zygote) -> None:
    child = zygote.fork()
    zygote_fds = {os.readlink(f'/proc/{zygote.proc.pid}/fd/{fd}') for fd in os.listdir(f'/proc/{zygote.proc.pid}/fd')}
    seen = child.turn('r1', 'PATH')
    links = seen['fds']
    assert {k: links[k].split(':')[0] for k in ('0', '1', '2', '3', '4')} == dict.fromkeys(('0', '1', '2', '3', '4'), 'socket')
    shared = {v for v in links.values() if v.startswith(('pipe:', 'socket:')) and v in zygote_fds}
    assert shared == set()


def test_reaped_child_is_reported_with_its_signal(zygote: Zygote) -> None:
    child = zygote.fork()
    os.kill(child.pid, signal.SIGKILL)
    assert zygote.read() == {'t': 'exited', 'pid': child.pid, 'code': None, 'signal': signal.SIGKILL}


def test_child_exits_when_its_protocol_socket_ends(zygote: Zygote) -> None:
    child = zygote.fork()
    child.socks['in'].shutdown(socket.SHUT_WR)
    assert zygote.read() == {'t': 'exited', 'pid': child.pid, 'code': 0, 'signal': None}


def test_zygote_death_leaves_running_children_alone(zygote: Zygote) -> None:
    child = zygote.fork()
    zygote.proc.kill()
    zygote.proc.wait()
    assert child.turn('after', 'PATH')['pid'] == child.pid
    child.close()  # EOF: the orphaned worker leaves by itself
    assert wait_gone(child.pid)


def test_zygote_exits_on_stdin_eof_and_children_live_on(zygote: Zygote) -> None:
    child = zygote.fork()
    assert zygote.proc.stdin is not None
    zygote.proc.stdin.close()
    assert zygote.proc.wait(RECV_TIMEOUT_S) == 0
    assert child.turn('after', 'PATH')['pid'] == child.pid


def test_bad_request_ends_the_zygote(zygote: Zygote) -> None:
    zygote.request({'t': 'nope'})
    assert zygote.proc.wait(RECV_TIMEOUT_S) == 3


def test_logging_handlers_set_up_at_preload_are_not_inherited(tmp_path: Path) -> None:
    z = Zygote(tmp_path, {'PYTHONPATH': PRELOAD_DIR, 'SYNAPSE_PRELOAD': 'zygote_logging'})
    try:
        assert z.fork().turn('r1', 'PATH')['handlers'] == ['FrameLogHandler']
    finally:
        z.close()


def test_a_zygote_with_a_thread_refuses_to_fork(tmp_path: Path) -> None:
    z = Zygote(tmp_path, {'PYTHONPATH': PRELOAD_DIR, 'SYNAPSE_PRELOAD': 'zygote_thread'})
    try:
        z.request({'t': 'fork', 'id': 'x', 'socket': z.path})
        assert z.read() == {'t': 'fork_failed', 'id': 'x', 'message': 'the zygote runs 2 threads'}
    finally:
        z.close()


def test_a_failing_preload_is_reported_and_the_zygote_exits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_')}
    env.update(PYTHONPATH=PRELOAD_DIR, SYNAPSE_PRELOAD='zygote_refuses')
    proc = subprocess.run([sys.executable, '-m', 'synapse_bridge', '--zygote'], stdin=subprocess.DEVNULL, capture_output=True, cwd=REPO, env=env, timeout=RECV_TIMEOUT_S)
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {'t': 'zygote_error', 'message': 'RuntimeError: this module refuses to load in a zygote'}


PRELOAD_CHECK = """
import sys, threading
from importlib.metadata import version
from synapse_bridge import _zygote
from genai_prices import data_snapshot
_zygote._preload()
assert threading.active_count() == 1, threading.enumerate()
assert data_snapshot._bundled_snapshot.cache_info().currsize == 1  # what every Model constructor loads
assert _zygote.PYDANTIC_AI_VERSION == version('pydantic-ai-slim')
loaded = [m for m in ('pydantic_ai.messages', 'pydantic_ai.toolsets', 'pydantic_graph', 'httpx', 'pydantic_ai.models.openai', 'openai') if m in sys.modules]
print(','.join(loaded))
"""


def test_preload_takes_what_agent_modules_and_models_need_and_starts_no_thread() -> None:
    """The library modules agent modules commonly import, the openai model module (installed in the
    dev venv) and genai-prices' snapshot are loaded in the zygote, so a child pays none of them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_')}
    proc = subprocess.run([sys.executable, '-c', PRELOAD_CHECK], capture_output=True, text=True, cwd=REPO, env=env, timeout=RECV_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    expected = ['pydantic_ai.messages', 'pydantic_ai.toolsets', 'pydantic_graph', 'httpx']
    if importlib.util.find_spec('openai') is not None:  # the openai extra (installed by setup in the dev venv)
        expected += ['pydantic_ai.models.openai', 'openai']
    assert proc.stdout.strip().split(',') == expected
