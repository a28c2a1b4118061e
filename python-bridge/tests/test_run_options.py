"""Run options (issue #12, first slice): model resolution, deps validation, usage limits, the
``run.options`` schema and its fast path, plain handler turns, and the same over a real runtime."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import UsageLimits

from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._options import ModelResolver, agent_run_kwargs, run_kwargs, usage_limits, validate_deps
from synapse_bridge._runner import _handler_messages, execute_run
from synapse_bridge._schema import FEATURES, validate_from_node
from synapse_bridge.exceptions import InvalidArgumentError, InvalidOptionError, ProtocolError

from conftest import REPO, Bridge, run_frame

BANK = 'examples/agents/bank.py:agent'
MODELLESS = 'examples/agents/modelless.py:agent'
ECHO_MODEL = 'examples/agents/modelless.py:echo_model'


def _load(ref: str) -> LoadedAgent:
    return load_agents([{'name': 'a', 'ref': ref}], str(REPO))['a']


def _frame(prompt: str, options: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    frame = run_frame('r', 'a', prompt, **kw)
    if options is not None:
        frame['options'] = options
    return frame


# ── models ───────────────────────────────────────────────────────────────────


def test_model_names_and_refs_resolve_once() -> None:
    models = ModelResolver(str(REPO))
    assert isinstance(models.resolve('test', 'model'), TestModel)
    echo = models.resolve(ECHO_MODEL, 'model')
    assert isinstance(echo, FunctionModel)
    assert models.resolve(ECHO_MODEL, 'model') is echo  # the factory is called once
    assert isinstance(models.resolve('pydantic_ai.models.test:TestModel', 'model'), TestModel)
    models.check('openai:gpt-4o-mini', 'model')  # a known provider: its client is built on first use


@pytest.mark.parametrize('name', ['no-such-model', 'nosuchprovider_pkg:thing', 'examples/agents/missing.py:model', 'examples/agents/modelless.py:nope'])
def test_unknown_models_are_invalid_options_naming_the_model(name: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        ModelResolver(str(REPO)).check(name, 'options.model')
    assert name in str(info.value)
    assert info.value.option == 'options.model'


def test_a_ref_to_something_that_is_not_a_model_is_an_invalid_option() -> None:
    with pytest.raises(InvalidOptionError, match='not a pydantic-ai Model'):
        ModelResolver(str(REPO)).resolve('examples/agents/modelless.py:agent', 'model')


# ── deps, limits, kwargs ─────────────────────────────────────────────────────


def test_deps_validate_into_the_dataclass_and_errors_leave_out_the_input() -> None:
    bank = _load(BANK).agent
    assert bank is not None
    deps = validate_deps(bank, {'customer_id': '123'})
    assert (type(deps).__name__, deps.customer_id, deps.tier) == ('SupportDeps', 123, 'standard')
    with pytest.raises(InvalidArgumentError) as info:
        validate_deps(bank, {'customer_id': 'secret-value', 'tier': 5})
    assert [(e['loc'], e['type']) for e in info.value.errors] == [(['customer_id'], 'int_parsing'), (['tier'], 'string_type')]
    assert 'secret-value' not in str(info.value) + repr(info.value.errors)
    assert all('input' not in e for e in info.value.errors)


def test_deps_for_an_agent_without_deps_type_pass_as_json() -> None:
    agent = _load(MODELLESS).agent
    assert agent is not None and agent.deps_type is object  # pydantic-ai's default: any deps
    assert validate_deps(agent, {'x': [1]}) == {'x': [1]}


def test_usage_limits_are_built_from_their_field_names() -> None:
    assert usage_limits({'request_limit': 2, 'total_tokens_limit': None}, 'usageLimits') == UsageLimits(request_limit=2)
    with pytest.raises(InvalidOptionError, match='requestLimit'):
        usage_limits({'requestLimit': 2}, 'options.usageLimits')  # Node converts camelCase; Python takes pydantic's names
    with pytest.raises(InvalidOptionError, match='request_limit'):
        usage_limits({'request_limit': 'many'}, 'usageLimits')


def test_call_options_go_over_the_agent_s() -> None:
    models = ModelResolver(str(REPO))
    agent = _load(MODELLESS).agent
    assert agent is not None
    base = agent_run_kwargs({'name': 'a', 'ref': MODELLESS, 'model': 'test', 'modelSettings': {'temperature': 0, 'seed': 1}}, models)
    assert base == {'model': 'test', 'model_settings': {'temperature': 0, 'seed': 1}}
    assert isinstance(run_kwargs(agent, base, None, models)['model'], TestModel)
    kw = run_kwargs(agent, base, {'model': ECHO_MODEL, 'modelSettings': {'temperature': 1}, 'instructions': 'x', 'metadata': {'k': 1}, 'deps': None}, models)
    assert isinstance(kw['model'], FunctionModel)
    assert kw['model_settings'] == {'temperature': 1, 'seed': 1}
    assert (kw['instructions'], kw['metadata'], kw['deps']) == ('x', {'k': 1}, None)
    assert base['model'] == 'test'  # the agent's own keywords are not mutated by a run


# ── runs ─────────────────────────────────────────────────────────────────────


async def test_concurrent_runs_each_see_their_own_deps() -> None:
    bank = _load(BANK)
    ids = [123, 456, 789] * 4
    results = await asyncio.gather(*(execute_run(bank, _frame(f'q{i}', {'deps': {'customer_id': c}}), lambda f: None, []) for i, c in enumerate(ids)))
    for i, (c, r) in enumerate(zip(ids, results)):
        assert r['output'].startswith(f'[bank] customer {c} ')
        assert f'(re: q{i})' in r['output']


async def test_plain_handler_turns_are_committable_pydantic_ai_messages() -> None:
    chat = _load('examples/agents/chat_handler.py:handler')
    first = await execute_run(chat, _frame('one'), lambda f: None, [])
    second = await execute_run(chat, _frame('two', history=first['messages']), lambda f: None, [])
    assert second['output'] == '[chat] two (earlier: one)'
    messages = ModelMessagesTypeAdapter.validate_python(first['messages'] + second['messages'])
    assert [m.kind for m in messages] == ['request', 'response', 'request', 'response']
    structured = await execute_run(_load('examples/agents/chat_handler.py:structured'), _frame('abc'), lambda f: None, [])
    assert structured['output'] == {'echo': 'abc', 'length': 3}
    assert structured['messages'][1]['parts'][0]['content'] == '{"echo": "abc", "length": 3}'


def test_handler_messages_match_pydantic_ai_s_own_dump() -> None:
    messages = _handler_messages('hé', 'there')
    assert ModelMessagesTypeAdapter.dump_python(ModelMessagesTypeAdapter.validate_python(messages), mode='json') == messages


# ── schema ───────────────────────────────────────────────────────────────────


def test_run_options_take_the_precise_checks_and_are_announced() -> None:
    assert 'run_options' in FEATURES
    ok = _frame('hi', {'model': 'test', 'deps': {'a': 1}})
    assert validate_from_node(ok) is ok
    with pytest.raises(ProtocolError, match="'options.model'"):
        validate_from_node(_frame('hi', {'model': 3}))
    with pytest.raises(ProtocolError, match="'agents\\[0\\].model'"):
        validate_from_node({'t': 'init', 'agents': [{'name': 'a', 'ref': 'm:a', 'model': 3}], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1024})


# ── end to end ───────────────────────────────────────────────────────────────


def test_runtime_bad_deps_and_models_answer_the_run_and_the_worker_goes_on(spawn: Any) -> None:
    b: Bridge = spawn()
    assert b.handshake({'bank': BANK, 'm': MODELLESS}) == {'t': 'ready', 'agents': ['bank', 'm']}
    b.send({**run_frame('r1', 'bank', 'hi'), 'options': {'deps': {'customer_id': 'nope'}}})
    err, _ = b.terminal('r1')
    assert (err['t'], err['kind'], err['type']) == ('error', 'invalid_argument', 'InvalidArgumentError')
    assert err['errors'][0]['loc'] == ['customer_id']
    b.send({**run_frame('r2', 'm', 'hi'), 'options': {'model': 'no-such-model'}})
    err, _ = b.terminal('r2')
    assert (err['kind'], err['option']) == ('invalid_option', 'options.model')
    b.send({**run_frame('r3', 'm', 'hi'), 'options': {'model': ECHO_MODEL}})
    ok, _ = b.terminal('r3')
    assert ok['output'] == '[echo] hi (prompts so far: 1)'


def test_runtime_unknown_spawn_model_is_an_invalid_option_start_up_failure(spawn: Any) -> None:
    b: Bridge = spawn()
    b.recv()  # hello
    b.send({'t': 'init', 'agents': [{'name': 'm', 'ref': MODELLESS, 'model': 'no-such-model'}], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1 << 20, 'cwd': str(REPO)})
    err = b.recv()
    assert (err['t'], err['id'], err['kind'], err['option']) == ('error', None, 'invalid_option', 'model')
    assert 'no-such-model' in err['message']
    assert b.wait() == 2


def test_runtime_spawn_options_on_a_plain_handler_are_an_invalid_option(spawn: Any) -> None:
    b: Bridge = spawn()
    b.recv()  # hello
    b.send({'t': 'init', 'agents': [{'name': 'h', 'ref': 'examples/agents/chat_handler.py:handler', 'model': 'test'}], 'tools': [], 'concurrency': 1, 'maxFrameBytes': 1 << 20, 'cwd': str(REPO)})
    err = b.recv()
    assert (err['kind'], err['option']) == ('invalid_option', 'model')
    assert 'plain handler' in err['message']
    assert b.wait() == 2
