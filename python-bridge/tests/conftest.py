"""Shared fixtures: no model requests, and a ``Bridge`` that speaks the protocol to a real
``python -m synapse_bridge`` subprocess (every frame it receives is schema-checked)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import models

from synapse_bridge import validate_from_python

models.ALLOW_MODEL_REQUESTS = False

BRIDGE_DIR = Path(__file__).resolve().parent.parent
REPO = BRIDGE_DIR.parent
EXAMPLES = REPO / 'examples' / 'agents'
FIXTURES = REPO / 'test' / 'fixtures' / 'agents'
RECV_TIMEOUT_S = 20.0


class Bridge:
    """A runtime subprocess plus helpers to send frames and await received ones."""

    def __init__(self, env: dict[str, str] | None = None, cwd: Path = REPO, control: bool = False) -> None:
        """``control``: open the heartbeat control channel (as Node does): ``ping`` frames given
        to :meth:`send` go to it, and its ``pong`` frames join the received frames."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_')}
        full_env['PYTHONUNBUFFERED'] = '1'
        full_env['SYNAPSE_ALLOW_MODEL_REQUESTS'] = '0'  # the offline guard, in the runtime process too
        full_env.update(env or {})
        self.control = control
        self._ping: Any = None
        self._pong: Any = None
        child_fds: tuple[int, ...] = ()
        if control:
            ping_r, ping_w = os.pipe()
            pong_r, pong_w = os.pipe()
            child_fds = (ping_r, pong_w)
            full_env['SYNAPSE_CONTROL_FDS'] = f'{ping_r},{pong_w}'
            self._ping = os.fdopen(ping_w, 'wb', buffering=0)
            self._pong = os.fdopen(pong_r, 'rb')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'synapse_bridge'],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=full_env,
            pass_fds=child_fds,
        )
        for fd in child_fds:
            os.close(fd)
        self.frames: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()
        self.raw_lines: list[bytes] = []
        self.control_lines: list[bytes] = []
        self.stderr = bytearray()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        if control:
            self._threads.append(threading.Thread(target=self._read_control, daemon=True))
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            try:
                self.frames.put(validate_from_python(json.loads(line)))
            except BaseException as exc:  # surfaced to the test by recv()
                self.frames.put(exc)
        self.frames.put(None)

    def _read_control(self) -> None:
        for line in self._pong:
            self.control_lines.append(line)
            try:
                frame = validate_from_python(json.loads(line))
                assert frame['t'] in ('pong', 'gc'), f'control channel carried {frame["t"]!r}'
                self.frames.put(frame)
            except BaseException as exc:  # surfaced to the test by recv()
                self.frames.put(exc)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr += line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, frame: dict[str, Any]) -> None:
        data = json.dumps(frame).encode() + b'\n'
        if self.control and frame.get('t') == 'ping':
            self._ping.write(data)
        else:
            self.send_raw(data)

    def send_control_raw(self, data: bytes) -> None:
        """Writes ``data`` verbatim to the control channel (``control=True`` only)."""
        self._ping.write(data)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def recv(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        """The next frame; fails on EOF, an invalid frame, or timeout."""
        item = self.frames.get(timeout=timeout)
        if item is None:
            self.frames.put(None)
            raise AssertionError(f'bridge stdout closed; stderr:\n{self.stderr.decode(errors="replace")}')
        if isinstance(item, BaseException):
            raise AssertionError(f'bridge sent an invalid frame: {item}') from item
        return item

    def recv_any(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any] | BaseException | None:
        """The next item as is: a frame, the error of an invalid line, or ``None`` at EOF."""
        item = self.frames.get(timeout=timeout)
        if item is None:
            self.frames.put(None)
        return item

    def recv_until(self, pred: Callable[[dict[str, Any]], bool], timeout: float = RECV_TIMEOUT_S) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Receives until ``pred`` matches; returns (match, frames before it)."""
        seen: list[dict[str, Any]] = []
        while True:
            frame = self.recv(timeout)
            if pred(frame):
                return frame, seen
            seen.append(frame)

    def terminal(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The run's ``result``/``error`` frame and the frames received before it."""
        return self.recv_until(lambda f: f['t'] in ('result', 'error') and f.get('id') == run_id)

    def rest(self, timeout: float = RECV_TIMEOUT_S) -> list[dict[str, Any]]:
        """Every frame until stdout closes."""
        out: list[dict[str, Any]] = []
        while True:
            item = self.frames.get(timeout=timeout)
            if item is None:
                self.frames.put(None)
                return out
            if isinstance(item, BaseException):
                raise AssertionError(f'bridge sent an invalid frame: {item}') from item
            out.append(item)

    def handshake(self, agents: dict[str, str], tools: list[dict[str, Any]] | None = None, **init: Any) -> dict[str, Any]:
        hello = self.recv()
        assert hello['t'] == 'hello', hello
        frame = {
            't': 'init',
            'agents': [{'name': n, 'ref': r} for n, r in agents.items()],
            'tools': tools or [],
            'concurrency': 4,
            'maxFrameBytes': 8 * 1024 * 1024,
            'cwd': str(REPO),
        }
        frame.update(init)
        self.send(frame)
        return self.recv_until(lambda f: f['t'] in ('ready', 'error'))[0]

    def wait(self, timeout: float = RECV_TIMEOUT_S) -> int:
        code = self.proc.wait(timeout=timeout)
        # The process is gone, but the stdout reader may not have appended its last bytes yet:
        # it ends at EOF, so join it before the test looks at raw_lines.
        self._threads[0].join(timeout=timeout)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=RECV_TIMEOUT_S)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr, self._ping, self._pong):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=RECV_TIMEOUT_S)


def run_frame(run_id: str, agent: str, prompt: str, *, history: list[Any] | None = None, stream: bool = False, timeout_ms: float | None = None) -> dict[str, Any]:
    return {'t': 'run', 'id': run_id, 'agent': agent, 'prompt': prompt, 'history': history or [], 'timeoutMs': timeout_ms, 'stream': stream}


@pytest.fixture(params=['reader-thread', 'control-channel'])
def spawn(request: pytest.FixtureRequest) -> Iterator[Callable[..., Bridge]]:
    """Spawns bridges; every one is killed and reaped after the test, and none may leak.

    Every test runs twice: without the heartbeat control channel (stdin read by a thread that
    answers pings) and with it (stdin read on the loop, pings on the control fds)."""
    bridges: list[Bridge] = []

    def make(**kwargs: Any) -> Bridge:
        kwargs.setdefault('control', request.param == 'control-channel')
        b = Bridge(**kwargs)
        bridges.append(b)
        return b

    yield make
    for b in bridges:
        b.close()
    for b in bridges:
        assert b.proc.returncode is not None
        with pytest.raises(ProcessLookupError):
            os.kill(b.pid, 0)
