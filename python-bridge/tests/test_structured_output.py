"""Structured output (issue #12): ``run.options.output`` as a ``StructuredDict`` output type, bad
schemas as ``invalid_option``, partial ``output`` events of streamed structured runs, and the same
over a real runtime process."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.models.test import TestModel

from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._runner import execute_run
from synapse_bridge._schema import FEATURES, validate_from_node, validate_from_python
from synapse_bridge._structured import MAX_REPORTED_ERRORS, _structural_errors, output_type_of, streams_output
from synapse_bridge.exceptions import InvalidOptionError, ProtocolError, classify

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
    unnamed = Agent(TestModel())  # as pydantic-ai's flight_booking: no name
    unnamed.output_validator(_keep)
    with pytest.raises(InvalidOptionError, match='^Invalid options.output: the agent has output validators'):
        output_type_of(unnamed, {'schema': CITY})


# ── the object is validated against the schema (an output retry when it is not) ─────


def _city_model(answers: list[dict[str, Any]]) -> FunctionModel:
    """A model that answers the output tool with ``answers`` in turn (the last one repeated),
    streamed in 7-character deltas too; it records what the retry prompts told it."""
    told: list[str] = []

    def next_args(messages: list[Any], info: AgentInfo) -> tuple[str, dict[str, Any]]:
        told.extend(str(p.content) for p in messages[-1].parts if getattr(p, 'outcome', None) == 'retried' or p.part_kind == 'retry-prompt')
        calls = sum(1 for m in messages if isinstance(m, ModelResponse))
        return info.output_tools[0].name, answers[min(calls, len(answers) - 1)]

    def fn(messages: list[Any], info: AgentInfo) -> ModelResponse:
        name, args = next_args(messages, info)
        return ModelResponse(parts=[ToolCallPart(name, args)])

    async def stream_fn(messages: list[Any], info: AgentInfo) -> Any:
        name, args = next_args(messages, info)
        text = json.dumps(args)
        for i in range(0, len(text), 7):
            yield {0: DeltaToolCall(name=name if i == 0 else None, json_args=text[i : i + 7])}

    model = FunctionModel(fn, stream_function=stream_fn)
    model.told = told  # type: ignore[attr-defined]
    return model


def _agent_of(model: FunctionModel, **kw: Any) -> LoadedAgent:
    return LoadedAgent(name='a', ref='x', agent=Agent(model, **kw))


async def _run_loaded(loaded: LoadedAgent, options: dict[str, Any], stream: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    frame = {**run_frame('r', 'a', 'a city', stream=stream), 'options': options}
    events: list[dict[str, Any]] = []
    result = await execute_run(loaded, frame, events.append, [])
    validate_from_python(result)
    return result, [e['event'] for e in events]


@pytest.mark.parametrize('stream', [False, True])
async def test_an_output_violating_the_schema_is_retried_with_jsonschemas_message(stream: bool) -> None:
    model = _city_model([{'city': 'Lima', 'population': 'many'}, {'city': 'Lima', 'population': 10_000_000}])
    result, events = await _run_loaded(_agent_of(model, retries=1), {'output': {'schema': CITY, 'name': 'City'}}, stream)
    assert (result['output'], result['outputType']) == ({'city': 'Lima', 'population': 10_000_000}, 'City')
    retried = [p for m in result['messages'] for p in m['parts'] if p.get('outcome') == 'retried']
    assert len(retried) == 1 and retried[0]['tool_name'] == 'final_result'
    assert "at $.population: 'many' is not of type 'integer'" in retried[0]['content'][0]['msg']
    assert len(model.told) == 1 and 'does not match the JSON Schema' in model.told[0]  # type: ignore[attr-defined]
    if stream:  # only outputs that satisfy the schema are streamed; the last is the result
        partials = [e['output'] for e in events if e['kind'] == 'output']
        assert partials and partials[-1] == result['output']
        assert all(isinstance(p.get('population'), int) for p in partials)


@pytest.mark.parametrize('stream', [False, True])
async def test_an_output_that_never_matches_exhausts_the_output_retries(stream: bool) -> None:
    model = _city_model([{'city': 'Lima'}])
    with pytest.raises(UnexpectedModelBehavior, match='output retries') as info:
        await _run_loaded(_agent_of(model, retries=2), {'output': {'schema': CITY}}, stream)
    assert classify(info.value) == ('unexpected_model_behavior', True)  # as any exhausted output retry: SYN_ERR_AGENT_FAILED
    assert len(model.told) == 2 and all("at $: 'population' is a required property" in t for t in model.told)  # type: ignore[attr-defined]


async def test_a_streamed_run_of_an_agents_own_model_output_retries_too() -> None:
    """Not only ``options.output``: pydantic-ai's ``stream_output`` raises on an invalid final
    output, and the run must still take the graph's output retry."""

    class City(BaseModel):
        city: str
        population: int

    model = _city_model([{'city': 'Lima', 'population': 'many'}, {'city': 'Lima', 'population': 3}])
    result, events = await _run_loaded(_agent_of(model, output_type=City, retries=1), {}, stream=True)
    assert (result['output'], result['outputType']) == ({'city': 'Lima', 'population': 3}, 'City')
    assert [e['output'] for e in events if e['kind'] == 'output'][-1] == result['output']


async def test_a_streamed_run_whose_output_validator_asks_for_a_retry_retries() -> None:
    """pydantic-ai's flight_booking shape, streamed: the output validator's ``ModelRetry`` on the
    final output of the first response is the model's retry, not the run's failure."""

    class City(BaseModel):
        city: str
        population: int

    model = _city_model([{'city': 'Lima', 'population': 3}, {'city': 'Lima', 'population': 10}])
    loaded = _agent_of(model, output_type=City, retries=1)
    assert loaded.agent is not None

    @loaded.agent.output_validator
    def _big_enough(ctx: Any, out: City) -> City:
        if not ctx.partial_output and out.population < 5:
            raise ModelRetry('population must be at least 5')
        return out

    result, _ = await _run_loaded(loaded, {}, stream=True)
    assert result['output'] == {'city': 'Lima', 'population': 10}
    assert model.told == ['population must be at least 5']  # type: ignore[attr-defined]


def test_the_retry_message_lists_a_bounded_number_of_violations() -> None:
    agent = _load(MODELLESS).agent
    assert agent is not None
    wide = {'type': 'object', 'properties': {f'p{i}': {'type': 'integer'} for i in range(20)}}
    output_type = output_type_of(agent, {'schema': wide})
    with pytest.raises(ValidationError) as info:
        TypeAdapter(output_type).validate_python({f'p{i}': 'x' * 1000 for i in range(20)})
    msg = info.value.errors()[0]['msg']
    assert msg.count('at $.p') == MAX_REPORTED_ERRORS and f'and {20 - MAX_REPORTED_ERRORS} more' in msg
    assert len(msg) < 400 * MAX_REPORTED_ERRORS
    assert TypeAdapter(output_type).json_schema() == {**wide, 'type': 'object'}  # what the model sees is the schema itself


@pytest.mark.parametrize(
    ('schema', 'says'),
    [
        ({'type': 'object', 'minProperties': -1}, 'schema.minProperties: -1 is less than the minimum of 0'),
        ({'type': 'object', 'properties': {'a': {'minLength': 'x'}}}, "schema.properties.a.minLength: 'x' is not of type 'integer'"),
    ],
)
def test_the_meta_schema_check_is_jsonschemas(schema: dict[str, Any], says: str) -> None:
    agent = _load(MODELLESS).agent
    assert agent is not None
    assert _structural_errors(schema, 'schema') is None  # what only the meta-schema catches
    with pytest.raises(InvalidOptionError, match=re.escape(says)):
        output_type_of(agent, {'schema': schema})


def test_the_draft_named_by_dollar_schema_is_used() -> None:
    agent = _load(MODELLESS).agent
    assert agent is not None
    draft4 = {'$schema': 'http://json-schema.org/draft-04/schema#', 'type': 'object', 'properties': {'n': {'type': 'number', 'minimum': 0, 'exclusiveMinimum': True}}}
    adapter = TypeAdapter(output_type_of(agent, {'schema': draft4}))
    assert adapter.validate_python({'n': 1}) == {'n': 1}
    with pytest.raises(ValidationError, match='less than or equal to the minimum'):
        adapter.validate_python({'n': 0})


def test_a_non_string_dollar_schema_is_an_invalid_option() -> None:
    agent = _load(MODELLESS).agent
    assert agent is not None
    with pytest.raises(InvalidOptionError, match=re.escape('schema.$schema must be a string')):
        output_type_of(agent, {'schema': {'$schema': 4, 'type': 'object'}})


def test_without_jsonschema_the_structural_check_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    import synapse_bridge._structured as structured

    agent = _load(MODELLESS).agent
    assert agent is not None
    monkeypatch.setattr(structured, '_jsonschema', lambda: None)
    structured._build.cache_clear()
    try:
        with pytest.raises(InvalidOptionError, match=re.escape('schema.required must be an array of strings')):
            output_type_of(agent, {'schema': {'type': 'object', 'required': 'a'}})
        lenient = TypeAdapter(output_type_of(agent, {'schema': CITY}))
        assert lenient.validate_python({'city': 1}) == {'city': 1}  # only "is a JSON object" is checked then
    finally:
        structured._build.cache_clear()


# ── a per-run output keeps the agent's DeferredToolRequests ─────────────────


@pytest.mark.parametrize('stream', [False, True])
async def test_a_per_run_output_keeps_the_agents_deferred_tools(stream: bool) -> None:
    loaded = _load('examples/agents/approval.py:agent')
    frame = {**run_frame('r', 'a', 'refund 42 30', stream=stream), 'options': {'output': {'schema': CITY, 'name': 'City'}}}
    result = await execute_run(loaded, frame, lambda _: None, [])
    validate_from_python(result)
    assert result['outputType'] == 'DeferredToolRequests'
    assert [(a['tool'], a['args']) for a in result['deferred']['approvals']] == [('refund', {'order_id': 42, 'amount': 30})]
    assert loaded.agent is not None and isinstance(output_type_of(loaded.agent, {'schema': CITY}), list)
    assert not isinstance(output_type_of(_load(MODELLESS).agent, {'schema': CITY}), list)  # type: ignore[arg-type]


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
