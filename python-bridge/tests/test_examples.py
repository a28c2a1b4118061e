"""The example and fixture agents, run in process through the runner (FunctionModel only)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, ModelMessagesTypeAdapter, Tool
from pydantic_ai.models.test import TestModel
from pydantic_ai.toolsets import FunctionToolset

from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._runner import execute_run, jsonable_output

from conftest import REPO, run_frame


def _load(ref: str) -> LoadedAgent:
    return load_agents([{'name': 'a', 'ref': ref}], str(REPO))['a']


async def _run(loaded: LoadedAgent, prompt: str, history: list[Any] | None = None, stream: bool = False, toolsets: list[Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    result = await execute_run(loaded, run_frame('r', 'a', prompt, history=history, stream=stream), events.append, toolsets or [])
    return result, events


@pytest.mark.parametrize('stream', [False, True])
async def test_support_is_multi_step_echoes_and_counts_history(stream: bool) -> None:
    support = _load('examples/agents/support.py:agent')
    first, events = await _run(support, 'where is order 42?', stream=stream)
    assert first['output'] == '[support] order 42 is shipped (re: where is order 42?) history=0'
    assert [e['event']['kind'] for e in events if e['event']['kind'] != 'text_delta'] == ['tool_call', 'tool_result']
    assert (len([e for e in events if e['event']['kind'] == 'text_delta']) > 3) is stream
    history = first['messages']
    second, _ = await _run(support, 'please refund order 7', history=history, stream=stream)
    assert second['output'] == '[support] order 7 is processing, refund issued for order 7 (re: please refund order 7) history=1'
    third, _ = await _run(support, 'thanks, order 13?', history=history + second['messages'])
    assert third['output'].endswith('(re: thanks, order 13?) history=2')
    assert ModelMessagesTypeAdapter.validate_python(history + second['messages'] + third['messages'])


async def test_conversation_id_is_passed_to_pydantic_ai() -> None:
    counter = _load('test/fixtures/agents/counter.py:agent')
    frame = {**run_frame('r', 'a', 'hi'), 'conversationId': 'conv-1', 'turnId': 't-1'}
    result = await execute_run(counter, frame, lambda f: None, [])
    assert {m['conversation_id'] for m in result['messages']} == {'conv-1'}


async def test_research_agent() -> None:
    research = _load('examples/agents/research.py:agent')
    first, events = await _run(research, 'tell me about actors', stream=True)
    assert first['output'] == '[research] 3 notes on "actors" (re: tell me about actors) history=0'
    assert events[0]['event'] == {'kind': 'tool_call', 'tool': 'search_notes', 'args': {'query': 'actors'}, 'toolCallId': events[0]['event']['toolCallId']}
    second, _ = await _run(research, 'and supervisors', history=first['messages'])
    assert second['output'] == '[research] 1 notes on "supervisors" (re: and supervisors) history=1'


async def test_ts_tools_agent_with_a_stand_in_toolset() -> None:
    async def get_weather(**args: Any) -> dict[str, Any]:
        return {'city': args['city'], 'tempC': 20}

    toolset = FunctionToolset([Tool.from_schema(get_weather, 'get_weather', 'w', {'type': 'object', 'properties': {'city': {'type': 'string'}}})])
    agent = _load('examples/agents/ts_tools.py:agent')
    result, _ = await _run(agent, 'weather in Rome?', toolsets=[toolset])
    assert result['output'] == '[weather] {"city": "Rome", "tempC": 20} (re: weather in Rome?)'


async def test_counter_counts_turns_including_the_current_one() -> None:
    counter = _load('test/fixtures/agents/counter.py:agent')
    history: list[Any] = []
    for n in range(1, 4):
        result, _ = await _run(counter, f'turn {n}', history=history, stream=n == 2)
        assert result['output'] == f'turns={n}'
        history += result['messages']


async def test_handlers_sync_async_and_streaming(tmp_path: Any) -> None:
    (tmp_path / 'h.py').write_text(
        'def sync_two(prompt, history):\n    return {"prompt": prompt, "turns": len(history)}\n'
        'async def gen(prompt):\n    for w in prompt.split():\n        yield w + " "\n'
    )
    loaded = load_agents([{'name': 's', 'ref': 'h.py:sync_two'}, {'name': 'g', 'ref': 'h.py:gen'}], str(tmp_path))
    result, _ = await _run(loaded['s'], 'hi', history=[{}, {}])
    assert result['output'] == {'prompt': 'hi', 'turns': 2}
    assert [m['kind'] for m in result['messages']] == ['request', 'response']  # a committable turn (#12)
    result, events = await _run(loaded['g'], 'a b c', stream=True)
    assert result['output'] == 'a b c ' and [e['event']['delta'] for e in events] == ['a ', 'b ', 'c ']
    noop = _load('examples/agents/noop.py:handler')
    assert (await _run(noop, 'ping'))[0]['output'] == 'ping'


async def test_structured_output_and_tool_errors_are_tagged() -> None:
    class City(BaseModel):
        name: str
        population: int

    structured = Agent(TestModel(), output_type=City)
    loaded = LoadedAgent(name='c', ref='x', agent=structured)
    result, _ = await _run(loaded, 'a city')
    assert set(result['output']) == {'name', 'population'}

    broken = Agent(TestModel(call_tools=['explode']))

    @broken.tool_plain
    def explode() -> str:
        raise KeyError('no such key')

    from synapse_bridge import ToolError

    with pytest.raises(ToolError) as info:
        await _run(LoadedAgent(name='b', ref='x', agent=broken), 'go')
    assert info.value.tool == 'explode' and isinstance(info.value.original, KeyError)


async def test_tool_errors_are_tagged_from_async_and_parallel_tools_but_not_control_flow() -> None:
    """Tool failures are recognised after the fact (no per-run capability): an async tool, one of
    two tools called in parallel, and a sync tool all surface as ``ToolError``; ``ModelRetry``
    exhaustion is pydantic-ai's own ``UnexpectedModelBehavior``, and a model error is not a tool's."""
    import asyncio

    from pydantic_ai import ModelRetry
    from pydantic_ai.exceptions import UnexpectedModelBehavior
    from pydantic_ai.messages import ModelResponse
    from pydantic_ai.models.function import FunctionModel

    from synapse_bridge import ToolError

    parallel = Agent(TestModel(call_tools=['slow_ok', 'boom']))

    @parallel.tool_plain
    async def slow_ok() -> str:
        await asyncio.sleep(0.01)
        return 'fine'

    @parallel.tool_plain
    async def boom() -> str:
        raise ValueError('async tool failed')

    with pytest.raises(ToolError) as info:
        await _run(LoadedAgent(name='p', ref='x', agent=parallel), 'go')
    assert info.value.tool == 'boom' and isinstance(info.value.original, ValueError)

    retrying = Agent(TestModel(call_tools=['always_retry']), retries=1)

    @retrying.tool_plain
    def always_retry() -> str:
        raise ModelRetry('try again')

    with pytest.raises(UnexpectedModelBehavior):
        await _run(LoadedAgent(name='r', ref='x', agent=retrying), 'go')

    def model_fails(messages: Any, info: Any) -> ModelResponse:
        raise KeyError('model side')

    with pytest.raises(KeyError):
        await _run(LoadedAgent(name='m', ref='x', agent=Agent(FunctionModel(model_fails))), 'go')


def test_jsonable_output() -> None:
    class M(BaseModel):
        x: int

    assert jsonable_output('s') == 's'
    assert jsonable_output(M(x=1)) == {'x': 1}
    assert jsonable_output([M(x=2), {'a': (1, 2)}]) == [{'x': 2}, {'a': [1, 2]}]
