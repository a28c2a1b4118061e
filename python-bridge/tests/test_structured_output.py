"""Structured output (issue #12): ``run.options.output`` as a ``StructuredDict`` output type, bad
schemas as ``invalid_option``, partial ``output`` events of streamed structured runs, and the same
over a real runtime process."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._runner import execute_run
from synapse_bridge._schema import FEATURES, validate_from_node, validate_from_python
from synapse_bridge._structured import _structural_errors, output_type_of, streams_output
from synapse_bridge.exceptions import InvalidOptionError, ProtocolError

from conftest import REPO, Bridge, run_frame

MODELLESS = 'examples/agents/modelless.py:agent'
WHALES = 'examples/agents/whales.py:agent'
CITY = {
    'type': 'object',
    'properties': {'city': {'type': 'string'}, 'population': {'type': 'integer'}},
    'required': ['city', 'population'],
}


def _load(ref: str) -> LoadedAgent:
    return load_agents([{'name': 'a', 'ref': ref}], str(REPO))['a']


async def _run(ref: str, prompt: str, options: dict[str, Any] | None = None, stream: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    frame = run_frame('r', 'a', prompt, stream=stream)
    if options is not None:
        frame['options'] = options
    events: list[dict[str, Any]] = []
    result = await execute_run(_load(ref), frame, events.append, [])
    for e in events:
        validate_from_python(e)
    validate_from_python(result)
    return result, [e['event'] for e in events]


# ── options.output ───────────────────────────────────────────────────────────


@pytest.mark.parametrize('stream', [False, True])
async def test_a_schema_output_is_the_object_named_after_the_schema(stream: bool) -> None:
    result, events = await _run(MODELLESS, 'a city', {'model': 'test', 'output': {'schema': CITY, 'name': 'City'}}, stream)
    assert result['output'] == {'city': 'a', 'population': 0}  # TestModel fills the schema
    assert result['outputType'] == 'City'
    tool_calls = [p for m in result['messages'] for p in m['parts'] if p['part_kind'] == 'tool-call']
    assert [c['tool_name'] for c in tool_calls] == ['final_result']
    if stream:  # a structured run streams partial outputs, never text deltas
        assert [e['kind'] for e in events] and {e['kind'] for e in events} == {'output'}
        assert events[-1]['output'] == result['output']


async def test_the_name_defaults_to_the_schema_title_then_dict() -> None:
    titled, _ = await _run(MODELLESS, 'x', {'model': 'test', 'output': {'schema': {**CITY, 'title': 'Town'}}})
    untitled, _ = await _run(MODELLESS, 'x', {'model': 'test', 'output': {'schema': CITY, 'description': 'A city.'}})
    assert (titled['outputType'], untitled['outputType']) == ('Town', 'dict')


def test_built_types_are_cached_per_schema() -> None:
    agent = _load(MODELLESS).agent
    assert agent is not None
    a = output_type_of(agent, {'schema': CITY, 'name': 'City'})
    assert output_type_of(agent, {'name': 'City', 'schema': dict(reversed(list(CITY.items())))}) is a
    assert output_type_of(agent, {'schema': CITY}) is not a


@pytest.mark.parametrize(
    ('schema', 'says'),
    [
        ({'type': 'string'}, 'Schema must be an object'),  # pydantic-ai's own StructuredDict check
        ({'type': 'object', 'properties': {'a': {'type': 'bogus'}}}, 'schema.properties.a.type'),
        ({'type': 'object', 'required': 'a'}, 'schema.required'),
        ({'type': 'object', 'properties': []}, 'schema.properties'),
        ({'type': 'object', 'properties': {'a': {'anyOf': []}}}, 'schema.properties.a.anyOf'),
        (
            {'type': 'object', 'properties': {'n': {'$ref': '#/$defs/N'}}, '$defs': {'N': {'type': 'object', 'properties': {'next': {'$ref': '#/$defs/N'}}}}},
            'recursive',
        ),
        ([1], 'schema must be a JSON Schema object'),
    ],
)
async def test_a_bad_schema_is_an_invalid_option_naming_options_output(schema: Any, says: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        await _run(MODELLESS, 'x', {'model': 'test', 'output': {'schema': schema}})
    assert info.value.option == 'options.output'
    assert says in str(info.value)


def test_structural_check_accepts_common_schemas() -> None:
    nested = {
        'type': 'object',
        'properties': {
            'tags': {'type': 'array', 'items': {'type': 'string'}},
            'kind': {'enum': ['a', 'b']},
            'maybe': {'type': ['string', 'null']},
            'extra': {'type': 'object', 'additionalProperties': {'type': 'number'}},
            'any': True,
        },
        'required': ['tags'],
    }
    assert _structural_errors(nested, 'schema') is None


async def test_an_agent_with_output_validators_refuses_a_per_run_output() -> None:
    agent = Agent(TestModel(), name='validated')

    @agent.output_validator
    def _keep(value: str) -> str:
        return value

    with pytest.raises(InvalidOptionError, match='output validators') as info:
        output_type_of(agent, {'schema': CITY})
    assert info.value.option == 'options.output'


# ── partial outputs ──────────────────────────────────────────────────────────


async def test_a_list_output_streams_growing_partials_ending_in_the_result() -> None:
    result, events = await _run(WHALES, 'whales', stream=True)
    assert result['outputType'] == 'list' and len(result['output']) == 4
    partials = [e['output'] for e in events if e['kind'] == 'output']
    assert len(partials) >= 2 and partials == [p for i, p in enumerate(partials) if i == 0 or p != partials[i - 1]]
    assert [len(p) for p in partials] == sorted(len(p) for p in partials)  # the list only grows
    assert partials[-1] == result['output']
    assert not [e for e in events if e['kind'] == 'text_delta']


async def test_unstreamed_structured_runs_and_text_runs_emit_no_partial_outputs() -> None:
    _, unstreamed = await _run(WHALES, 'whales')
    _, text = await _run('examples/agents/support.py:agent', 'where is order 42?', stream=True)
    assert unstreamed == []
    assert {e['kind'] for e in text} >= {'text_delta'} and 'output' not in {e['kind'] for e in text}


def test_which_agents_stream_partial_outputs() -> None:
    refs = [WHALES, 'examples/agents/flights.py:agent', 'examples/agents/support.py:agent', 'examples/agents/approval.py:agent']
    agents = [_load(ref).agent for ref in refs]
    assert [streams_output(a) for a in agents if a is not None] == [True, True, False, False]


# ── wire ─────────────────────────────────────────────────────────────────────


def test_the_feature_is_announced_and_the_frames_validate() -> None:
    assert 'structured_output' in FEATURES
    run = {**run_frame('r', 'a', 'x'), 'options': {'output': {'schema': CITY, 'name': 'City'}}}
    validate_from_node(run)
    for bad in ({'schema': []}, 'City', {}):
        with pytest.raises(ProtocolError, match='options.output'):
            validate_from_node({**run, 'options': {'output': bad}})
    validate_from_python({'t': 'event', 'id': 'r', 'event': {'kind': 'output', 'output': [{'name': 'x'}]}})
    with pytest.raises(ProtocolError, match='event.output'):
        validate_from_python({'t': 'event', 'id': 'r', 'event': {'kind': 'output'}})


def test_over_a_real_runtime(spawn: Any) -> None:
    b: Bridge = spawn()
    assert b.handshake({'m': MODELLESS, 'w': WHALES}) == {'t': 'ready', 'agents': ['m', 'w']}
    b.send({**run_frame('bad', 'm', 'x'), 'options': {'model': 'test', 'output': {'schema': {'type': 'object', 'required': 7}}}})
    err, _ = b.terminal('bad')
    assert (err['t'], err['kind'], err['option']) == ('error', 'invalid_option', 'options.output')
    b.send({**run_frame('ok', 'm', 'x'), 'options': {'model': 'test', 'output': {'schema': CITY, 'name': 'City'}}})
    ok, _ = b.terminal('ok')  # the worker goes on after a bad schema
    assert (ok['t'], ok['outputType'], ok['output']) == ('result', 'City', {'city': 'a', 'population': 0})
    b.send(run_frame('w', 'w', 'whales', stream=True))
    done, before = b.terminal('w')
    partials = [f['event']['output'] for f in before if f['t'] == 'event' and f['event']['kind'] == 'output']
    assert len(partials) >= 2 and partials[-1] == done['output']
