"""Deps factory and lifespan (issue #12): ref resolution, building deps (sync, async, context
manager: exited on success, error and cancel), factory errors as kind ``deps``, lifespan enter /
exit, the ``init`` schema, and the same over a real runtime (start-up failure, graceful exit)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from synapse_bridge import DepsContext
from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._deps import apply_hooks, lifespan_manager, with_factory_deps
from synapse_bridge._lifespan import Lifespans
from synapse_bridge._runner import execute_run
from synapse_bridge._schema import FEATURES, validate_from_node
from synapse_bridge.exceptions import DepsFactoryError, InvalidOptionError, ProtocolError, error_frame

from conftest import REPO, run_frame

EX = 'examples/agents/bank_lifespan.py'
HOOKS = {'deps': f'{EX}:deps', 'lifespan': f'{EX}:lifespan'}


def _load(spec: dict[str, Any] | None = None, ref: str = f'{EX}:agent') -> LoadedAgent:
    full = {'name': 'bank', 'ref': ref, **(spec or {})}
    return apply_hooks(load_agents([full], str(REPO))['bank'], full, str(REPO))


def _frame(prompt: str, deps: Any = None, **kw: Any) -> dict[str, Any]:
    frame = run_frame('r1', 'bank', prompt)
    options: dict[str, Any] = {} if deps is None else {'deps': deps}
    if 'metadata' in kw:
        options['metadata'] = kw.pop('metadata')
    if options:
        frame['options'] = options
    frame.update(kw)
    return frame


async def _entered(loaded: LoadedAgent) -> tuple[LoadedAgent, Lifespans]:
    spans = Lifespans([loaded])
    resources = await spans.enter(contextvars.copy_context())
    return LoadedAgent(**{**loaded.__dict__, 'resources': resources['bank']}), spans


# ── refs ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ('spec', 'option'),
    [
        ({'deps': f'{EX}:no_such_factory'}, 'deps'),
        ({'deps': 'examples/agents/missing.py:deps'}, 'deps'),
        ({'deps': 'no_such_pkg_xyz.mod:deps'}, 'deps'),
        ({'deps': f'{EX}:CUSTOMERS'}, 'deps'),  # not callable
        ({'lifespan': f'{EX}:nope'}, 'lifespan'),
        ({'lifespan': f'{EX}:CUSTOMERS'}, 'lifespan'),
    ],
)
def test_refs_that_do_not_resolve_are_invalid_options_naming_the_hook(spec: dict[str, Any], option: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        _load(spec)
    assert info.value.option == option
    assert spec[option] in str(info.value)


def test_hooks_on_a_plain_handler_are_invalid_options() -> None:
    with pytest.raises(InvalidOptionError) as info:
        _load({'deps': f'{EX}:deps'}, ref='examples/agents/chat_handler.py:handler')
    assert info.value.option == 'deps'


def test_an_agent_without_hooks_is_unchanged() -> None:
    loaded = load_agents([{'name': 'bank', 'ref': f'{EX}:agent'}], str(REPO))['bank']
    assert apply_hooks(loaded, {'name': 'bank', 'ref': f'{EX}:agent'}, str(REPO)) is loaded


def test_features_and_init_schema() -> None:
    assert 'deps_factory' in FEATURES
    base = {'t': 'init', 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1024}
    validate_from_node({**base, 'agents': [{'name': 'a', 'ref': 'm:a', **HOOKS}]})
    for hook in ('deps', 'lifespan'):
        with pytest.raises(ProtocolError, match=f'agents\\[0\\].{hook}'):
            validate_from_node({**base, 'agents': [{'name': 'a', 'ref': 'm:a', hook: 5}]})


# ── lifespan forms ───────────────────────────────────────────────────────────


async def test_lifespan_forms_instance_zero_arg_and_agent_arg() -> None:
    seen: list[Any] = []

    @asynccontextmanager
    async def zero() -> Any:
        yield 'zero'

    @asynccontextmanager
    async def with_agent(agent: Any) -> Any:
        seen.append(agent)
        yield 'agent'

    loaded = _load()
    for obj, expected in ((zero(), 'zero'), (zero, 'zero'), (with_agent, 'agent')):
        manager = lifespan_manager(LoadedAgent(**{**loaded.__dict__, 'lifespan': obj}))
        async with manager as value:
            assert value == expected
    assert seen == [loaded.agent]
    with pytest.raises(InvalidOptionError, match='not an async context manager') as info:
        lifespan_manager(LoadedAgent(**{**loaded.__dict__, 'lifespan': lambda: 42}))
    assert info.value.option == 'lifespan'


async def test_lifespan_enter_exit_and_exit_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def span() -> Any:
        events.append('enter')
        yield 'res'
        events.append('exit')
        raise OSError('close failed')

    loaded = LoadedAgent(**{**_load().__dict__, 'lifespan': span})
    spans = Lifespans([loaded])
    assert spans.pending
    assert await spans.enter(contextvars.copy_context()) == {'bank': 'res'}
    assert not spans.pending
    with caplog.at_level(logging.ERROR, logger='synapse_bridge'):
        await spans.aclose()
    assert events == ['enter', 'exit']
    assert 'close failed' in caplog.text
    await spans.aclose()  # idempotent


async def test_a_lifespan_that_raises_on_enter_propagates_and_exits_the_entered_ones() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def ok() -> Any:
        events.append('ok enter')
        yield 1
        events.append('ok exit')

    @asynccontextmanager
    async def bad() -> Any:
        raise ConnectionError('database unreachable')
        yield  # pragma: no cover

    base = _load()
    agents = [LoadedAgent(**{**base.__dict__, 'name': 'a', 'lifespan': ok}), LoadedAgent(**{**base.__dict__, 'name': 'b', 'lifespan': bad})]
    spans = Lifespans(agents)
    with pytest.raises(ConnectionError, match='unreachable'):
        await spans.enter(contextvars.copy_context())
    assert events == ['ok enter', 'ok exit']
    await spans.aclose()


async def test_a_lifespan_sets_context_seen_by_runs_and_exits_in_it() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar('var', default='unset')

    @asynccontextmanager
    async def span() -> Any:
        token = var.set('from lifespan')
        yield None
        var.reset(token)  # raises if exited in another context

    context = contextvars.copy_context()
    spans = Lifespans([LoadedAgent(**{**_load().__dict__, 'lifespan': span})])
    await spans.enter(context)
    assert context.copy().run(var.get) == 'from lifespan'
    await spans.aclose()
    assert context.run(var.get) == 'unset'


# ── deps factory ─────────────────────────────────────────────────────────────


async def test_factory_builds_deps_from_raw_json_and_the_lifespan_pool() -> None:
    loaded, spans = await _entered(_load(HOOKS))
    try:
        result = await execute_run(loaded, _frame('balance?', {'customer_id': '456'}, metadata={'tenant': 'acme'}, conversationId='c1'), lambda f: None, [])
        assert result['output'] == '[bank] customer 456 (Ada) balance $2500.50 agent=bank tenant=acme'
        stats = await execute_run(loaded, _frame('stats', {'customer_id': 1}), lambda f: None, [])
        assert stats['output'].startswith('[bank] pool open=True opens=1 sessions=1 ')  # only its own session
    finally:
        await spans.aclose()
    assert loaded.resources.open is False


async def test_factory_gets_raw_json_not_type_adapter_validated_and_the_context() -> None:
    seen: list[tuple[Any, DepsContext]] = []

    def factory(call: Any, ctx: DepsContext) -> Any:
        seen.append((call, ctx))
        raise KeyError('customer_id')

    loaded = LoadedAgent(**{**_load(HOOKS).__dict__, 'deps_factory': factory, 'resources': 'pool'})
    with pytest.raises(DepsFactoryError) as info:
        await execute_run(loaded, _frame('x', {'customer_id': 'not-an-int', 'extra': [1]}, metadata={'k': 1}, conversationId='c9'), lambda f: None, [])
    (call, ctx), = seen
    assert call == {'customer_id': 'not-an-int', 'extra': [1]}  # raw: no deps_type validation
    assert ctx == DepsContext(resources='pool', agent_name='bank', conversation_id='c9', metadata={'k': 1}, run_id='r1')
    with pytest.raises(AttributeError):
        ctx.agent_name = 'other'  # type: ignore[misc]
    frame = error_frame(info.value, 'r1')
    assert (frame['kind'], frame['type'], frame['retryable']) == ('deps', 'KeyError', False)
    assert 'not-an-int' not in frame['message']


async def test_factory_without_call_deps_gets_none_and_async_factories_are_awaited() -> None:
    seen: list[Any] = []

    async def factory(call: Any, ctx: DepsContext) -> Any:
        seen.append(call)
        return None

    loaded = LoadedAgent(**{**_load(HOOKS).__dict__, 'deps_factory': factory, 'resources': None})
    with pytest.raises(Exception):  # noqa: B017 - the tool reads ctx.deps.db of None deps
        await execute_run(loaded, _frame('balance'), lambda f: None, [])
    assert seen == [None]


async def test_factory_raising_is_a_deps_error() -> None:
    loaded, spans = await _entered(_load(HOOKS))
    try:
        with pytest.raises(DepsFactoryError, match="deps factory 'examples/agents/bank_lifespan.py:deps' raised LookupError"):
            await execute_run(loaded, _frame('x', {'fail': True}), lambda f: None, [])
    finally:
        await spans.aclose()


@pytest.mark.parametrize('outcome', ['ok', 'error', 'cancel'])
async def test_a_context_manager_from_the_factory_is_exited_after_the_run(outcome: str) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def deps_cm() -> Any:
        events.append('enter')
        try:
            yield 'deps'
        finally:
            events.append('exit')

    started = asyncio.Event()

    async def run(deps: Any) -> str:
        assert deps == 'deps'
        started.set()
        if outcome == 'error':
            raise RuntimeError('run failed')
        if outcome == 'cancel':
            await asyncio.Event().wait()
        return 'done'

    loaded = LoadedAgent(**{**_load(HOOKS).__dict__, 'deps_factory': lambda call, ctx: deps_cm()})
    task = asyncio.ensure_future(with_factory_deps(loaded, _frame('x'), None, run))
    await started.wait()
    if outcome == 'cancel':
        task.cancel()
    if outcome == 'ok':
        assert await task == 'done'
    else:
        with pytest.raises(asyncio.CancelledError if outcome == 'cancel' else RuntimeError):
            await task
    assert events == ['enter', 'exit']


async def test_an_exit_error_of_the_deps_manager_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    @asynccontextmanager
    async def deps_cm() -> Any:
        yield 'deps'
        raise OSError('secret-in-message')

    async def run(deps: Any) -> str:
        return 'done'

    loaded = LoadedAgent(**{**_load(HOOKS).__dict__, 'deps_factory': lambda call, ctx: deps_cm()})
    with caplog.at_level(logging.WARNING, logger='synapse_bridge'):
        assert await with_factory_deps(loaded, _frame('x'), None, run) == 'done'
    assert 'OSError' in caplog.text and 'secret-in-message' not in caplog.text


async def test_delegation_shares_usage_with_the_sub_agent() -> None:
    loaded, spans = await _entered(_load(HOOKS))
    try:
        result = await execute_run(loaded, _frame('delegate: what is APR?', {'customer_id': 123}), lambda f: None, [])
    finally:
        await spans.aclose()
    assert result['output'] == '[specialist] what is APR?'
    assert result['usage']['requests'] == 3  # 2 of the bank agent + 1 of the specialist


# ── over a real runtime ──────────────────────────────────────────────────────


def _handshake(bridge: Any, hooks: dict[str, Any]) -> dict[str, Any]:
    """``hello`` → ``init`` of the bank agent with ``hooks`` → the ``ready`` or ``error`` frame."""
    assert bridge.recv()['t'] == 'hello'
    agents = [{'name': 'bank', 'ref': f'{EX}:agent', **hooks}]
    bridge.send({'t': 'init', 'agents': agents, 'tools': [], 'concurrency': 4, 'maxFrameBytes': 1 << 20, 'cwd': str(REPO)})
    return bridge.recv_until(lambda f: f['t'] in ('ready', 'error'))[0]


def test_runtime_enters_the_lifespan_before_ready_and_exits_it_on_shutdown(spawn: Any, tmp_path: Path) -> None:
    log = tmp_path / 'lifespan.log'
    bridge = spawn(env={'BANK_LIFESPAN_LOG': str(log)})
    ready = _handshake(bridge, HOOKS)
    assert ready == {'t': 'ready', 'agents': ['bank']}
    assert log.read_text() == f'open {bridge.pid} 1\n'  # entered before ready
    bridge.send({**_frame('balance?', {'customer_id': 123}), 'id': 'r1'})
    result, _ = bridge.terminal('r1')
    assert result['output'].startswith('[bank] customer 123 (John)')
    bridge.send({'t': 'run', 'id': 'r2', 'agent': 'bank', 'prompt': 'x', 'history': [], 'timeoutMs': None, 'stream': False, 'options': {'deps': {'fail': True}}})
    error, _ = bridge.terminal('r2')
    assert (error['kind'], error['type']) == ('deps', 'LookupError')
    bridge.send({'t': 'shutdown'})
    assert bridge.recv_until(lambda f: f['t'] == 'bye')
    assert bridge.wait() == 0
    assert log.read_text() == f'open {bridge.pid} 1\nclose {bridge.pid} 1\n'


def test_runtime_exits_the_lifespan_on_stdin_eof(spawn: Any, tmp_path: Path) -> None:
    log = tmp_path / 'lifespan.log'
    bridge = spawn(env={'BANK_LIFESPAN_LOG': str(log)})
    assert _handshake(bridge, HOOKS)['t'] == 'ready'
    bridge.close_stdin()
    assert bridge.wait() == 0
    assert log.read_text().endswith(f'close {bridge.pid} 1\n')


def test_a_lifespan_that_raises_is_a_startup_failure(spawn: Any) -> None:
    bridge = spawn(env={'BANK_LIFESPAN_FAIL': '1'})
    error = _handshake(bridge, HOOKS)
    assert (error['t'], error['id'], error['kind'], error['type']) == ('error', None, 'startup', 'ConnectionError')
    assert 'database unreachable' in error['message']
    assert bridge.wait() == 2


def test_an_unresolvable_factory_ref_fails_init_as_an_invalid_option(spawn: Any) -> None:
    bridge = spawn()
    error = _handshake(bridge, {'deps': f'{EX}:nope'})
    assert (error['kind'], error['option']) == ('invalid_option', 'deps')
    assert bridge.wait() == 2
