"""The zygote: a fork server for workers (``python -m synapse_bridge --zygote``).

It imports pydantic-ai (and the submodules agent modules commonly import, the openai model
module when its extra is installed, and the model pricing data every ``Model`` loads), the
bridge itself and the modules named in env ``SYNAPSE_PRELOAD``, freezes the GC, and then forks workers on request. It holds **no user code and no secrets**:
it starts no thread and no event loop, and an agent's env never passes through it — each
child fetches its env and cwd from Node over its own socket after the fork, so a sibling
forked later cannot find another agent's secret even in freed zygote memory.

Zygote protocol (NDJSON, Node → zygote on stdin, zygote → Node on stdout):

* ``{"t": "zygote_ready", "pid", "python", "bridge"}`` once preloaded; a failure to preload is
  ``{"t": "zygote_error", "message"}`` then exit 2.
* ``{"t": "fork", "id", "socket"}`` → ``{"t": "forked", "id", "pid"}`` or
  ``{"t": "fork_failed", "id", "message"}``.
* ``{"t": "exited", "pid", "code", "signal"}`` for every child it reaps (``code`` is the exit
  status or ``None``, ``signal`` the signal number or ``None``).

The zygote exits 0 on stdin EOF (Node is gone). Its children do not: each is its own session
(``setsid``), has no parent-death signal (its parent is the zygote, whose crash must not take
workers down), and leaves when *its* protocol socket ends — exactly like a spawned worker on
stdin EOF — or when the watchdog finds the Node pid gone.

The child (see :func:`_become_worker`): ``setsid``; connects four Unix sockets to Node's
``socket`` path, each announced by one line ``{"id", "role", "pid"}`` (roles ``in`` → fd 0,
``out`` → fd 1, ``err`` → fd 2, ``ctl`` → fds 3 and 4); reads one setup line
``{"env", "cwd"}`` from ``in``; closes every other fd, replaces ``os.environ``, chdirs, re-seeds
``random`` and runs the normal worker main (which replaces the root logging handlers).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ['OPTIONAL_PRELOAD', 'PYDANTIC_AI_VERSION', 'ROLES', 'serve']

ROLES = ('in', 'out', 'err', 'ctl')
"""The sockets a forked child connects, in order: protocol in (fd 0), protocol out (fd 1),
stderr (fd 2), heartbeat control (fds 3 and 4). Protocol in and out are separate sockets
because the runtime makes fd 0 non-blocking, and a shared socket would make fd 1 non-blocking too."""

_MAX_LINE = 16 * 1024 * 1024
"""Largest request or setup line (an env is well under it)."""


PYDANTIC_AI_VERSION: str | None = None
"""``pydantic-ai-slim``'s version, read once at preload (a metadata lookup costs ~2 ms): a forked
worker's ``hello`` announces it without paying for the lookup again."""

OPTIONAL_PRELOAD = ('pydantic_ai.models.openai',)
"""Library modules imported at preload when their extra is installed (an ``ImportError`` is
skipped). ``openai`` alone takes ~0.4 s to import: an agent on an OpenAI(-compatible) model
starts that much faster from the zygote. ``openai`` reads ``OPENAI_API_TYPE``,
``OPENAI_API_VERSION``, ``AZURE_OPENAI_ENDPOINT`` and ``OPENAI_LOG`` at import, so Node puts an
agent's values of those in the zygote's env and key (``zygote.ts``, ``IMPORT_TIME_ENV``)."""


def _preload() -> None:
    """Imports what every worker needs before its user code: the worker main's own imports, the
    pydantic-ai modules agent modules commonly import, and the model pricing data every pydantic-ai
    ``Model`` loads when it is constructed. Library code only: never a user's module."""
    global PYDANTIC_AI_VERSION
    import pydantic_ai  # noqa: F401
    import pydantic_ai.messages
    import pydantic_ai.models
    import pydantic_ai.models.function
    import pydantic_ai.models.test
    import pydantic_ai.toolsets
    import pydantic_graph  # noqa: F401

    from . import _control, _framing, _logging, _runtime, _schema, _watchdog, exceptions, testing  # noqa: F401

    try:
        import uvloop  # noqa: F401  (imported only: no loop is created here)
    except ImportError:
        pass
    for optional in OPTIONAL_PRELOAD:
        try:
            __import__(optional)
        except ImportError:
            pass
    _preload_pricing_data()
    from importlib.metadata import version

    PYDANTIC_AI_VERSION = version('pydantic-ai-slim')
    for extra in os.environ.get('SYNAPSE_PRELOAD', '').split(','):
        if extra.strip():
            __import__(extra.strip())


def _preload_pricing_data() -> None:
    """Every pydantic-ai ``Model`` loads genai-prices' bundled data snapshot in its constructor
    (``preload_pricing_data``): ~20 ms and ~3 MiB of objects per worker when an agent module
    builds its model, shared copy-on-write when the zygote loaded it once. Best effort: a
    pydantic-ai without it just pays at the agent's import, as a spawned worker does."""
    try:
        from pydantic_ai._genai_prices import preload_pricing_data as load
    except ImportError:
        return
    load()


def _write(frame: dict[str, Any]) -> None:
    data = (json.dumps(frame, separators=(',', ':')) + '\n').encode()
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def serve(run_worker: Callable[[], NoReturn]) -> NoReturn:
    """Preloads, then serves fork requests until stdin ends. ``run_worker`` is the worker main,
    called in each child once its fds and env are in place; it never returns."""
    from ._watchdog import set_parent_death_signal

    set_parent_death_signal()  # the zygote dies with Node (cleared by fork: not inherited by workers)
    gc.disable()  # no collection while importing: the frozen heap below stays untouched in children
    try:
        _preload()
        import synapse_bridge

        bridge = synapse_bridge.__version__
    except BaseException as exc:  # noqa: BLE001  (reported to Node, then exit)
        _write({'t': 'zygote_error', 'message': f'{type(exc).__name__}: {exc}'})
        os._exit(2)
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so the wakeup fd is written
    signal.set_wakeup_fd(wake_w)
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, 'stdin')
    sel.register(wake_r, selectors.EVENT_READ, 'sigchld')
    _write({'t': 'zygote_ready', 'pid': os.getpid(), 'python': platform.python_version(), 'bridge': bridge})
    buf = b''
    while True:
        for key, _ in sel.select():
            if key.data == 'sigchld':
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                _reap()
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                _reap()
                os._exit(0)  # Node is gone; the children live on until their own sockets end
            buf += chunk
            if len(buf) > _MAX_LINE and b'\n' not in buf:
                sys.stderr.write('synapse zygote: request line too long\n')
                os._exit(3)
            *lines, buf = buf.split(b'\n')
            for line in lines:
                if line.strip():
                    _handle(line, sel, wake_r, wake_w, run_worker)


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if os.WIFSIGNALED(status):
            _write({'t': 'exited', 'pid': pid, 'code': None, 'signal': os.WTERMSIG(status)})
        elif os.WIFEXITED(status):
            _write({'t': 'exited', 'pid': pid, 'code': os.WEXITSTATUS(status), 'signal': None})


def _handle(line: bytes, sel: selectors.BaseSelector, wake_r: int, wake_w: int, run_worker: Callable[[], NoReturn]) -> None:
    try:
        request = json.loads(line)
        if request.get('t') != 'fork' or not isinstance(request.get('id'), str) or not isinstance(request.get('socket'), str):
            raise ValueError('expected {"t": "fork", "id": str, "socket": str}')
    except ValueError as exc:
        sys.stderr.write(f'synapse zygote: bad request: {exc}\n')
        os._exit(3)
    rid, path = request['id'], request['socket']
    if threading.active_count() != 1:
        # Something imported at preload started a thread: forking now could deadlock the child.
        _write({'t': 'fork_failed', 'id': rid, 'message': f'the zygote runs {threading.active_count()} threads'})
        return
    try:
        pid = os.fork()
    except OSError as exc:
        _write({'t': 'fork_failed', 'id': rid, 'message': f'fork: {exc}'})
        return
    if pid == 0:
        try:
            sel.close()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
            _become_worker(rid, path)
            run_worker()
        except BaseException as exc:  # noqa: BLE001  (the child must never return into the zygote loop)
            try:
                os.write(2, f'synapse zygote child: {type(exc).__name__}: {exc}\n'.encode())
            finally:
                os._exit(2)
        os._exit(2)
    _write({'t': 'forked', 'id': rid, 'pid': pid})


def _become_worker(rid: str, path: str) -> None:
    """In the child: own session, Node's sockets on fds 0–4, the agent's env and cwd."""
    os.setsid()  # own session and process group, like a worker spawned with `detached: true`
    pid = os.getpid()
    socks: dict[str, socket.socket] = {}
    for role in ROLES:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall((json.dumps({'id': rid, 'role': role, 'pid': pid}) + '\n').encode())
        socks[role] = s
    setup = _read_line(socks['in'])
    env, cwd = setup.get('env'), setup.get('cwd')
    if not isinstance(env, dict) or not (cwd is None or isinstance(cwd, str)):
        raise ValueError('bad setup line')
    fds = {role: s.detach() for role, s in socks.items()}
    for fd, role in ((0, 'in'), (1, 'out'), (2, 'err'), (3, 'ctl'), (4, 'ctl')):
        os.dup2(fds[role], fd)
    os.closerange(5, os.sysconf('SC_OPEN_MAX') if hasattr(os, 'sysconf') else 65536)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    if cwd is not None:
        os.chdir(cwd)
    # `python -m` puts the start directory first on sys.path: make it this worker's cwd.
    if sys.path:
        sys.path[0] = os.getcwd()
    import random

    random.seed()  # also done by random's own at-fork hook; explicit so no sibling shares a stream
    # Root logging handlers set up at preload are replaced by the worker main's forwarder
    # (install_log_forwarding); handlers on other loggers would be inherited with their fds closed:
    # modules named in SYNAPSE_PRELOAD should not configure logging at import.
    gc.enable()


def _read_line(s: socket.socket) -> dict[str, Any]:
    """The setup line. Node sends nothing after it until the worker speaks (``hello``), so
    the line is the whole of what arrives and can be read in chunks."""
    buf = bytearray()
    while not buf.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError('Node closed the socket before the setup line')
        buf += chunk
        if len(buf) > _MAX_LINE:
            raise ValueError('setup line too long')
    if buf.count(b'\n') != 1:
        raise ValueError('bytes after the setup line')
    value = json.loads(buf)
    if not isinstance(value, dict):
        raise ValueError('setup line is not an object')
    return value
