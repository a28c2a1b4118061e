"""The runtime: an asyncio loop serving protocol v1 frames, one task per ``run``.

Threads and who does what, in the default mode (Node opened the heartbeat control channel,
env ``SYNAPSE_CONTROL_FDS``; see ``_control``):

* **loop** — reads stdin itself (``loop.add_reader`` on the non-blocking fd: one wake-up per
  read, no thread hand-off), splits and validates frames with the same size-before-buffering
  splitter, and handles them: ``init`` (load agents → ``ready``), ``run`` tasks (a history sent
  ahead in ``history_chunk`` frames is reassembled first: ``_history``), ``cancel``,
  ``tool_result``, ``shutdown``; a ``ping`` that arrives on stdin is answered inline. A ticker
  stamps the time every :data:`TICK_S` for the ``pong``'s ``loopLagMs``. A protocol violation
  writes ``error {id: null, kind: "protocol"}`` and exits 3. On stdin EOF it cancels everything
  and a grace thread exits 0 after at most :data:`EOF_GRACE_S` regardless. A run's event and
  terminal frames are batched per loop iteration while other runs are in flight (``FrameBatch``:
  one ``os.write`` for the results one read of stdin produced); any other frame flushes the
  batch and is written at once.
* **control thread** — answers ``ping`` from the control fd with ``pong`` on the control
  write fd, so a busy or blocked loop cannot starve the heartbeat. The end of the control fd
  (the parent is gone) is handled like stdin EOF, from the thread, so a blocked loop still exits.
  When the loop lags by more than :data:`STALLED_LOOP_S`, a ``pong`` also writes the frames the
  blocked loop has batched.
* **watchdog thread** — see ``_watchdog``.

Without a control channel (a peer that only opened stdio 0–2), a **reader thread** reads stdin
instead, answers ``ping`` itself and posts the other frames of each read to the loop with one
``call_soon_threadsafe``; violations and EOF are handled on that thread (protocol v1 as before).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gc
import inspect
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import Any, NoReturn

from pydantic_ai.toolsets import AbstractToolset

from ._agents import LoadedAgent, load_agents
from ._control import ControlChannel, GcNotices
from ._framing import DEFAULT_MAX_FRAME_BYTES, FrameBatch, FrameWriter, LineSplitter, decode_line, read_chunk
from ._deps import apply_hooks
from ._history import CANCELLED, HistoryAssembler
from ._lifespan import Lifespans
from ._limits import apply_memory_limit, caused_by_memory_error, rss_bytes
from ._logging import run_id_var
from ._options import SLOTS_KEY, ModelResolver, agent_run_kwargs
from ._retry import RUN_DEADLINE
from ._runner import execute_run
from ._schema import validate_from_node
from ._tracing import continue_trace
from ._slots import SlotClient
from ._tools import ToolBridge
from .exceptions import (
    BridgeError,
    FrameTooLargeError,
    HistoryTooLargeError,
    InvalidOptionError,
    OverloadedError,
    ProtocolError,
    UnknownAgentError,
    error_frame,
)

__all__ = ['EOF_GRACE_S', 'EXIT_MEMORY', 'EXIT_PROTOCOL', 'EXIT_STARTUP', 'SHUTDOWN_GRACE_S', 'TICK_S', 'Runtime']

EXIT_STARTUP = 2
EXIT_PROTOCOL = 3
EXIT_MEMORY = 5
"""Exit code after a run hit ``MemoryError`` under ``memoryLimitMb``: the process recycles itself
(its state after a failed allocation is suspect, and uvloop does not recover at all), and Node
reports the exit as ``SYN_ERR_MEMORY_LIMIT`` and restarts the worker."""
TICK_S = 0.05
STALLED_LOOP_S = 4 * TICK_S
"""Loop lag above which a ``pong`` also writes the batched frames the stalled loop holds."""
SHUTDOWN_GRACE_S = 5.0
"""How long ``shutdown`` waits for cancelled runs to unwind before writing ``bye`` anyway."""
EOF_GRACE_S = 2.0
"""How long stdin EOF waits for the loop to wind down before the reader thread hard-exits."""
_READ_CHUNK = 64 * 1024
_AGENT_ONLY_OPTIONS = ('model', 'modelSettings', 'usageLimits', 'retry')
"""The ``init`` agent fields ``agent_run_kwargs`` reads: a plain handler refuses every one (invalid_option)."""
_log = logging.getLogger('synapse_bridge')


def hard_exit(code: int) -> NoReturn:
    """Flushes stdio and leaves now (no atexit, no waiting on worker threads)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a broken stderr must not keep us alive
            pass
    os._exit(code)


class Runtime:
    """Serves one Node peer. Create, then ``await serve()``; returns the exit code."""

    def __init__(self, writer: FrameWriter, stdin_fd: int = 0, control: tuple[int, int] | None = None) -> None:
        """``control`` = ``(read_fd, write_fd)`` of the heartbeat control channel, or ``None``
        to read stdin on a thread that also answers pings (see the module docstring)."""
        self.writer = writer
        self._stdin_fd = stdin_fd
        self._control = control
        self._splitter = LineSplitter(DEFAULT_MAX_FRAME_BYTES)
        self._init_seen = False
        self._agents: dict[str, LoadedAgent] = {}
        self._run_context: contextvars.Context = contextvars.copy_context()
        self._tools: ToolBridge | None = None
        self._slots = SlotClient(self.send)
        self._toolsets: list[AbstractToolset[Any]] = []
        self._models = ModelResolver(None)
        self._lifespans = Lifespans([])
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._histories = HistoryAssembler()  # chunked histories of runs still to come (_history)
        self._free_slots = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._max_accepted = 0
        self._closing = False
        self._last_tick = time.monotonic()
        self._exited = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[int] | None = None
        self._batch: FrameBatch | None = None
        self._memory_capped = False
        """``init`` applied a ``memoryLimitMb`` (RLIMIT_AS); see :attr:`memory_capped`."""
        self._memory_hit = False
        """A run failed with a MemoryError, itself or in its exception chain (see _run_task)."""
        self._control_channel: ControlChannel | None = None
        self._gc_notices: GcNotices | None = None

    # ── loop side ──────────────────────────────────────────────────────────────

    async def serve(self) -> int:
        """Runs until ``shutdown`` (0), stdin EOF (0) or a start-up failure (2)."""
        self._loop = asyncio.get_running_loop()
        self._done = self._loop.create_future()
        if os.environ.get('SYNAPSE_FRAME_BATCH', '1') != '0':  # '0': every frame written at once
            self._batch = FrameBatch(self.writer, self._loop.call_soon, threading.get_ident())
        ticker = asyncio.create_task(self._tick(), name='synapse-ticker')
        if self._control is None:
            threading.Thread(target=self._read_forever, name='synapse-reader', daemon=True).start()
        else:
            read_fd, write_fd = self._control
            control_writer = FrameWriter(write_fd, on_broken_pipe=self.writer.on_broken_pipe)
            self._control_channel = ControlChannel(read_fd, control_writer, self._pong, self._violation, self._on_eof).start()
            os.set_blocking(self._stdin_fd, False)
            self._loop.add_reader(self._stdin_fd, self._on_readable)
        try:
            return await self._done
        finally:
            if self._control is not None:
                self._loop.remove_reader(self._stdin_fd)
            ticker.cancel()
            if self._gc_notices is not None:
                self._gc_notices.uninstall()
            if self._batch is not None:
                self._batch.flush()
            self._exited.set()

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(TICK_S)

    def close(self) -> None:
        """Cancels every run and ends :meth:`serve` with exit code 0, without ``bye``.

        Idempotent; call it on the loop thread (the reader thread posts it on stdin EOF).
        """
        if self._loop is not None and not self._closing:
            self._loop.create_task(self._wind_down(send_bye=False))

    def send(self, frame: dict[str, Any]) -> None:
        """Writes one frame now, after any batched run frames (thread-safe)."""
        if self._batch is not None:
            self._batch.flush()
        self.writer.write(frame)

    def _send_batched(self, frame: dict[str, Any], others: int) -> None:
        """Sends a run's event or terminal frame: queued for this loop iteration's write (see
        FrameBatch) while ``others`` runs besides its own are in flight and may finish in the
        same iteration; written at once (after anything queued) when it is the only one, so a
        lone request pays no extra loop iteration."""
        if self._batch is None or others <= 0:
            self.send(frame)
        else:
            self._batch.add(frame)

    def _finish(self, code: int) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(code)

    def _dispatch_all(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            self._dispatch(frame)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        t = frame['t']
        if t == 'init':
            self._on_init(frame)
        elif t == 'run':
            self._on_run(frame)
        elif t == 'history_chunk':
            self._on_history_chunk(frame)
        elif t == 'cancel':
            if not self._histories.cancel(frame['id']):  # a history still arriving is discarded
                self._cancel_run(frame['id'])  # unknown or finished ids are ignored (protocol.md)
        elif t == 'tool_result':
            if self._tools is not None:
                self._tools.resolve(frame)
        elif t == 'model_slot_grant':
            self._slots.resolve(frame)
        elif t == 'shutdown':
            asyncio.ensure_future(self._wind_down(send_bye=True))

    def _on_init(self, frame: dict[str, Any]) -> None:
        try:
            self.writer.max_frame_bytes = int(frame['maxFrameBytes'])
            limit = frame.get('memoryLimitMb')
            if limit:
                apply_memory_limit(int(limit))
                self._memory_capped = True
            self._agents = load_agents(frame['agents'], frame.get('cwd'))
            # Runs start from a copy of the context the user's modules were imported in, so a
            # module-level ``agent.override(model=…)`` (pydantic-ai's own test idiom, a
            # ContextVar) is seen by every run, as it would be in-process.
            self._run_context = contextvars.copy_context()
            self._models = ModelResolver(frame.get('cwd'))
            self._apply_agent_options(frame['agents'])
            self._apply_hooks(frame['agents'], frame.get('cwd'))
            self._tools = ToolBridge(self.send, frame['tools'])
            self._toolsets = [self._tools.toolset] if self._tools.toolset is not None else []
            if frame.get('gcNotices') is True and self._control_channel is not None:
                # Node extends the heartbeat deadline while a full collection holds the GIL (_control).
                self._gc_notices = GcNotices(self._control_channel.try_send).install()
            if 'gcThresholds' in frame:  # python.gcThresholds: rarer full collections with many runs in flight
                gc.set_threshold(*(int(n) for n in frame['gcThresholds']))
        except BaseException as exc:  # anything the user's module raises is a start-up failure
            # A bad spawn option (unknown model) keeps its own kind: Node reports SYN_ERR_INVALID_OPTION.
            kind = None if isinstance(exc, InvalidOptionError) else 'startup'
            self.send(error_frame(exc, None, kind=kind, retryable=False))
            hard_exit(EXIT_STARTUP)
        concurrency = int(frame['concurrency'])
        self._free_slots = concurrency
        self._max_accepted = concurrency + max(concurrency, 64)
        if 'maxHistoryBytes' in frame:
            self._histories.max_bytes = int(frame['maxHistoryBytes'])
        self._histories.max_pending = self._max_accepted
        if self._lifespans.pending:  # entered (async) before `ready`; no run can arrive before it
            assert self._loop is not None
            self._loop.create_task(self._enter_lifespans())
            return
        self.send({'t': 'ready', 'agents': list(self._agents)})

    def _apply_hooks(self, specs: list[dict[str, Any]], cwd: str | None) -> None:
        """Resolves each agent's ``deps`` factory and ``lifespan`` refs (``_deps``)."""
        for spec in specs:
            self._agents[spec['name']] = apply_hooks(self._agents[spec['name']], spec, cwd)
        self._lifespans = Lifespans(list(self._agents.values()))

    async def _enter_lifespans(self) -> None:
        """Enters the lifespans, then answers ``ready``; one that raises is a start-up failure."""
        try:
            resources = await self._lifespans.enter(self._run_context)
        except asyncio.CancelledError:
            return  # shutdown or EOF while entering: _wind_down exits what was entered
        except BaseException as exc:
            kind = None if isinstance(exc, InvalidOptionError) else 'startup'
            self.send(error_frame(exc, None, kind=kind, retryable=False, message=f'lifespan failed on enter: {type(exc).__name__}: {exc}'))
            hard_exit(EXIT_STARTUP)
        if self._closing:
            return
        for name, value in resources.items():
            self._agents[name] = dataclasses.replace(self._agents[name], resources=value)
        self.send({'t': 'ready', 'agents': list(self._agents)})

    def _apply_agent_options(self, specs: list[dict[str, Any]]) -> None:
        """Checks each agent's spawn-level run options and keeps their ``agent.iter`` keywords."""
        for spec in specs:
            kwargs = agent_run_kwargs(spec, self._models)
            loaded = self._agents[spec['name']]
            if spec.get('modelSlots') is True:
                if loaded.agent is None:  # a plain handler makes no model requests: a limit would silently never apply
                    raise InvalidOptionError(
                        f'{spec["ref"]!r} is a plain handler: rateLimit (like model, modelSettings, usageLimits and retry) applies to pydantic-ai agents only',
                        'rateLimit',
                    )
                kwargs[SLOTS_KEY] = self._slots
            if not kwargs:
                continue
            if loaded.agent is None:  # it makes no model requests: nothing these options could act on
                option = next(k for k in _AGENT_ONLY_OPTIONS if k in spec)
                raise InvalidOptionError(
                    f'{spec["ref"]!r} is a plain handler: {option} (like model, modelSettings, usageLimits and retry) applies to pydantic-ai agents only',
                    option,
                )
            self._agents[spec['name']] = dataclasses.replace(loaded, run_kwargs=kwargs)

    def _on_history_chunk(self, frame: dict[str, Any]) -> None:
        run_id = frame['id']
        if run_id in self._runs:
            self._violation(ProtocolError(f'history_chunk for run {run_id!r}, which is already in flight'))
        if self._closing:
            return  # shutting down: its run will be answered cancelled, its history is not needed
        try:
            self._histories.add(run_id, frame['data'])
        except ProtocolError as exc:
            self._violation(exc)

    def _on_run(self, frame: dict[str, Any]) -> None:
        run_id = frame['id']
        if run_id in self._runs:
            self._violation(ProtocolError(f'run id {run_id!r} is already in flight'))
        if 'historyChunks' in frame and not self._take_history(frame):
            return
        loaded = self._agents.get(frame['agent'])
        if loaded is None:
            self._send_terminal(error_frame(UnknownAgentError(f'no agent named {frame["agent"]!r} in this process'), run_id))
        elif self._closing:
            exc = asyncio.CancelledError('runtime is shutting down')
            self._send_terminal(error_frame(exc, run_id, kind='cancelled', message='runtime is shutting down'))
        elif len(self._runs) >= self._max_accepted:
            exc2 = OverloadedError(f'{len(self._runs)} runs already accepted (max {self._max_accepted})')
            self._send_terminal(error_frame(exc2, run_id))
        else:
            # Unnamed and without a done callback: both showed in the per-run profile. The task
            # removes itself from _runs; a task cancelled before it started is answered by
            # _cancel_run.
            assert self._loop is not None
            self._runs[run_id] = self._loop.create_task(self._run_task(frame, loaded), context=self._run_context.copy())

    def _take_history(self, frame: dict[str, Any]) -> bool:
        """Puts the reassembled chunked history into ``frame``; False (the run answered) if it
        was cancelled while arriving or is too large. A bad reassembly is a violation (exit 3)."""
        run_id = frame['id']
        if self._closing:
            return True  # the partial histories are gone (shutdown); _on_run answers it cancelled
        try:
            history = self._histories.take(run_id, int(frame['historyChunks']))
        except HistoryTooLargeError as exc:
            self._send_terminal(error_frame(exc, run_id))
            return False
        except ProtocolError as exc:
            self._violation(exc)
        if history == CANCELLED:
            exc2 = asyncio.CancelledError('run cancelled while its history arrived')
            self._send_terminal(error_frame(exc2, run_id, kind='cancelled', retryable=False, message='run cancelled'))
            return False
        frame['history'] = history
        return True

    def _cancel_run(self, run_id: str) -> None:
        task = self._runs.get(run_id)
        if task is None:
            return
        task.cancel()
        # A task cancelled before its first step (its `cancel` read in the same batch as its
        # `run`) never enters _run_task, so nothing else will answer: answer here, once.
        if inspect.getcoroutinestate(task.get_coro()) == inspect.CORO_CREATED:  # type: ignore[arg-type]
            del self._runs[run_id]
            exc = asyncio.CancelledError('run cancelled before it started')
            self._send_terminal(error_frame(exc, run_id, kind='cancelled', retryable=False, message='run cancelled'))

    async def _run_task(self, frame: dict[str, Any], loaded: LoadedAgent) -> None:
        run_id = frame['id']
        run_id_var.set(run_id)  # this task's own context: tools and logs inherit it
        if 'options' in frame:
            continue_trace(frame)  # the Node turn span's trace context (OpenTelemetry), when sent
        try:
            terminal = await self._execute(frame, loaded)
        except asyncio.CancelledError as exc:
            self._runs.pop(run_id, None)
            self._send_terminal(error_frame(exc, run_id, kind='cancelled', retryable=False, message='run cancelled'))
            raise
        except MemoryError:
            # Building or sending the answer failed for want of memory: the process recycles
            # itself all the same (Node fails the run with SYN_ERR_MEMORY_LIMIT at the exit).
            if self._memory_capped:
                self._recycle_after_memory_error(run_id)
            raise
        self._runs.pop(run_id, None)
        try:
            self._send_terminal(terminal)
        finally:
            if self._memory_capped and self._memory_hit:
                self._recycle_after_memory_error(run_id)

    @property
    def memory_capped(self) -> bool:
        """True once ``init`` applied a ``memoryLimitMb``: a MemoryError then recycles the process."""
        return self._memory_capped

    def _recycle_after_memory_error(self, run_id: str) -> NoReturn:
        """Exits :data:`EXIT_MEMORY` once the run's error frame is written (see there). The
        log line and the flush are best effort: they allocate too, and whatever they raise,
        the process exits with that code (a second MemoryError here once left it running)."""
        try:
            _log.error('run %s hit the memory limit (MemoryError): exiting to be replaced', run_id)
            if self._batch is not None:
                self._batch.flush()
        finally:
            hard_exit(EXIT_MEMORY)

    async def _execute(self, frame: dict[str, Any], loaded: LoadedAgent) -> dict[str, Any]:
        timeout_ms = frame['timeoutMs']
        deadline = None if timeout_ms is None else asyncio.timeout(timeout_ms / 1000)
        if deadline is not None:  # for the retry policy (_retry): a backoff never sleeps past it
            RUN_DEADLINE.set(asyncio.get_running_loop().time() + timeout_ms / 1000)
        try:
            if deadline is None:  # the common case: no timeout context to enter and leave
                return await self._execute_in_slot(frame, loaded)
            async with deadline:  # the deadline covers the wait for a slot too
                return await self._execute_in_slot(frame, loaded)
        except TimeoutError as exc:
            if deadline is not None and deadline.expired():
                return error_frame(exc, frame['id'], kind='timeout', retryable=True, message=f'run exceeded its deadline of {timeout_ms} ms')
            return error_frame(exc, frame['id'])
        except Exception as exc:
            if caused_by_memory_error(exc):  # itself, or wrapped (cause, context, group)
                self._memory_hit = True
            return error_frame(exc, frame['id'])

    async def _execute_in_slot(self, frame: dict[str, Any], loaded: LoadedAgent) -> dict[str, Any]:
        # A counter and a FIFO of futures instead of asyncio.Semaphore: no coroutine or context
        # manager per run while a slot is free (the common case).
        if self._free_slots > 0 and not self._slot_waiters:
            self._free_slots -= 1
        else:
            await self._wait_for_slot()
        try:
            return await execute_run(loaded, frame, self._emit, self._toolsets, self._models)
        finally:
            self._release_slot()

    async def _wait_for_slot(self) -> None:
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed a slot in the same iteration we were cancelled
            else:
                self._slot_waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        """Hands the slot to the longest waiter, or returns it to the pool."""
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free_slots += 1

    def _emit(self, frame: dict[str, Any]) -> None:
        try:
            self._send_batched(frame, len(self._runs) - 1)
        except FrameTooLargeError as exc:  # a progress event may be dropped; the result still comes
            _log.warning('dropped an event of run %s: %s', frame.get('id'), exc)

    def _send_terminal(self, frame: dict[str, Any]) -> None:
        """Sends a run's one terminal frame; if it cannot be encoded, sends an error instead."""
        try:
            self._send_batched(frame, len(self._runs))  # its own run is no longer in _runs
        except (FrameTooLargeError, TypeError, ValueError) as exc:
            kind = 'agent' if isinstance(exc, BridgeError) else None
            error = error_frame(exc, frame['id'], kind=kind, retryable=False, message=f'cannot send {frame["t"]}: {exc}')
            self._send_batched(error, len(self._runs))

    async def _wind_down(self, *, send_bye: bool) -> None:
        if self._closing:
            return
        self._closing = True
        self._histories.clear()
        tasks = list(self._runs.values())
        for run_id in list(self._runs):
            self._cancel_run(run_id)
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        await self._lifespans.aclose()  # after the runs: they may still use the resources
        if send_bye:
            self.send({'t': 'bye'})
        self._finish(0)

    def _on_readable(self) -> None:
        """Loop-side stdin reader (control-channel mode): one read, then its frames in order."""
        try:
            chunk = read_chunk(self._stdin_fd, _READ_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            assert self._loop is not None
            self._loop.remove_reader(self._stdin_fd)
            if self._splitter.at_eof():
                _log.warning('stdin closed inside a frame (%d bytes)', self._splitter.at_eof())
            self.close()
            threading.Thread(target=self._exit_after_grace, name='synapse-eof', daemon=True).start()
            return
        for frame in self._frames_of(chunk):
            self._dispatch(frame)

    def _frames_of(self, chunk: bytes) -> list[dict[str, Any]]:
        """The frames ``chunk`` completes, validated and admitted (``ping`` answered here).
        A protocol violation exits 3 at once: frames before the bad one are dropped with it."""
        batch: list[dict[str, Any]] = []
        try:
            for line in self._splitter.feed(chunk):
                frame = self._admit(validate_from_node(decode_line(line)))
                if frame is not None:
                    batch.append(frame)
        except ProtocolError as exc:
            self._violation(exc)
        return batch

    def _exit_after_grace(self) -> None:
        if not self._exited.wait(EOF_GRACE_S):
            hard_exit(0)

    # ── reader thread ──────────────────────────────────────────────────────────

    def _post(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop already closed: we are exiting anyway
            pass

    def _violation(self, exc: ProtocolError) -> NoReturn:
        try:
            self.send(error_frame(exc, None, kind='protocol', retryable=False))
        finally:
            hard_exit(EXIT_PROTOCOL)

    def _read_forever(self) -> None:
        while True:
            chunk = read_chunk(self._stdin_fd, _READ_CHUNK)
            if not chunk:
                self._on_eof()
                return
            batch = self._frames_of(chunk)
            if batch:
                self._post(self._dispatch_all, batch)

    def _admit(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Reader-thread handling of one valid frame: answers ``ping`` (returns ``None``),
        enforces the sequencing rules, and returns any other frame for the loop."""
        t = frame['t']
        if t == 'ping':
            self.send(self._pong(int(frame['seq'])))
            return None
        if t == 'init':
            if self._init_seen:
                raise ProtocolError('a second init frame')
            self._init_seen = True
            self._splitter.max_frame_bytes = int(frame['maxFrameBytes'])
        elif t in ('run', 'history_chunk', 'cancel', 'tool_result', 'model_slot_grant') and not self._init_seen:
            raise ProtocolError(f'{t!r} frame before init')
        return frame

    def _pong(self, seq: int) -> dict[str, Any]:
        """The ``pong`` for ``seq`` (thread-safe: reads only a timestamp and a dict size).

        When the loop is stalled (user code blocking it), frames already batched by finished runs
        are written from here rather than held until the loop runs again (see FrameBatch).
        """
        lag = max(0.0, time.monotonic() - self._last_tick)
        if lag > STALLED_LOOP_S and self._batch is not None:
            self._batch.flush(blocking=False)
        return {
            't': 'pong',
            'seq': seq,
            'loopLagMs': round(lag * 1000, 3),
            'rssBytes': rss_bytes(),
            'inFlight': len(self._runs),
        }

    def _on_eof(self) -> None:
        if self._splitter.at_eof():
            _log.warning('stdin closed inside a frame (%d bytes)', self._splitter.at_eof())
        self._post(self.close)
        if not self._exited.wait(EOF_GRACE_S):
            hard_exit(0)
