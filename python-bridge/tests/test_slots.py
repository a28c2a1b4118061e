"""Model request slots (``_slots``, feature ``model_slots``): each model request of a real
pydantic-ai agent run (a ``FunctionModel``) waits for Node's ``model_slot_grant`` and reports its
tokens on ``model_slot_release`` — also when it failed or was cancelled — and under the retry policy
every attempt asks again. Node's limiter itself is tested from Node (test/unit/agent/rate-limit.test.ts,
test/integration/agents/rate-limit.test.ts)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai import exceptions as pai
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from synapse_bridge._logging import run_id_var
from synapse_bridge._retry import RetryPolicy
from synapse_bridge._slots import SlotClient, estimate_tokens


class _Node:
    """Stands in for Node's side of the pipe: records frames; grants at once unless ``hold``."""

    def __init__(self, hold: bool = False) -> None:
        self.frames: list[dict[str, Any]] = []
        self.hold = hold
        self.client = SlotClient(self.send)

    def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        if frame['t'] == 'model_slot' and not self.hold:
            asyncio.get_running_loop().call_soon(self.client.resolve, {'t': 'model_slot_grant', 'id': frame['id'], 'callId': frame['callId']})

    def kinds(self) -> list[str]:
        return [f['t'] for f in self.frames]


def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart('done')], usage=RequestUsage(input_tokens=30, output_tokens=12))


async def _run(agent: Agent[None, str], model: Any, run_id: str = 'r1') -> str:
    token = run_id_var.set(run_id)
    try:
        return (await agent.run('go', model=model)).output
    finally:
        run_id_var.reset(token)


async def test_each_request_waits_for_its_grant_and_releases_with_the_tokens_used() -> None:
    node = _Node()
    agent = Agent(FunctionModel(_answer))
    assert await _run(agent, node.client.wrap(agent.model)) == 'done'  # type: ignore[arg-type]
    assert node.frames == [
        {'t': 'model_slot', 'id': 'r1', 'callId': 'm1', 'estTokens': 1},
        {'t': 'model_slot_release', 'id': 'r1', 'callId': 'm1', 'tokens': 42},
    ]
    assert node.client.pending == 0


async def test_a_streamed_request_holds_its_slot_until_the_stream_closes() -> None:
    node = _Node()

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> Any:
        yield 'do'
        assert node.kinds() == ['model_slot']  # still held while deltas flow
        yield 'ne'

    agent = Agent(FunctionModel(stream_function=stream))
    token = run_id_var.set('r1')
    try:
        async with agent.run_stream('go', model=node.client.wrap(agent.model)) as run:  # type: ignore[arg-type]
            assert await run.get_output() == 'done'
    finally:
        run_id_var.reset(token)
    assert node.kinds() == ['model_slot', 'model_slot_release']


async def test_a_cancelled_wait_still_sends_the_release() -> None:
    node = _Node(hold=True)  # Node never grants
    agent = Agent(FunctionModel(_answer))
    task = asyncio.ensure_future(_run(agent, node.client.wrap(agent.model)))  # type: ignore[arg-type]
    while node.client.pending == 0:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert node.frames == [{'t': 'model_slot', 'id': 'r1', 'callId': 'm1', 'estTokens': 1}, {'t': 'model_slot_release', 'id': 'r1', 'callId': 'm1'}]
    assert node.client.pending == 0


async def test_under_the_retry_policy_every_attempt_asks_for_its_own_slot() -> None:
    node = _Node()
    failures = [pai.ModelHTTPError(503, 'm')]

    def flaky(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if failures:
            raise failures.pop()
        return _answer(messages, info)

    agent = Agent(FunctionModel(flaky))
    policy = RetryPolicy(attempts=2, min_delay_ms=0, max_delay_ms=0)
    assert await _run(agent, policy.wrap(node.client.wrap(agent.model))) == 'done'  # type: ignore[arg-type]
    assert node.frames == [
        {'t': 'model_slot', 'id': 'r1', 'callId': 'm1', 'estTokens': 1},
        {'t': 'model_slot_release', 'id': 'r1', 'callId': 'm1'},  # the failed attempt gave its slot back (no usage)
        {'t': 'model_slot', 'id': 'r1', 'callId': 'm2', 'estTokens': 1},
        {'t': 'model_slot_release', 'id': 'r1', 'callId': 'm2', 'tokens': 42},
    ]


def test_a_late_or_unknown_grant_is_ignored_and_wrap_reuses_one_wrapper() -> None:
    client = SlotClient(lambda f: None)
    assert client.resolve({'t': 'model_slot_grant', 'id': 'r9', 'callId': 'm9'}) is False
    model = FunctionModel(_answer)
    assert client.wrap(model) is client.wrap(model)
    assert client.wrap(client.wrap(model)) is client.wrap(model)


async def test_each_slot_asks_with_the_requests_token_estimate_including_max_tokens() -> None:
    # The estimate (estTokens) is what Node debits from tokensPerMinute before the response's usage
    # is known: the prompt, the instructions and the tool definitions, ~4 chars a token, plus max_tokens.
    node = _Node()
    agent = Agent(FunctionModel(_answer), instructions='x' * 40)

    @agent.tool_plain
    def lookup(q: str) -> str:
        """Looks q up."""
        return q

    token = run_id_var.set('r1')
    try:
        await agent.run('y' * 400, model=node.client.wrap(agent.model), model_settings={'max_tokens': 1000})  # type: ignore[arg-type]
    finally:
        run_id_var.reset(token)
    [ask] = [f for f in node.frames if f['t'] == 'model_slot']
    tool = len('lookup') + len('Looks q up.') + 200  # and its JSON schema: under 200 characters
    assert 1000 + (400 + 40 + len('lookup')) // 4 < ask['estTokens'] <= 1000 + (400 + 40 + tool) // 4


def test_the_estimate_counts_text_instructions_tool_calls_and_returns() -> None:
    history = [
        ModelRequest(parts=[UserPromptPart(['a' * 40, 'b' * 40])], instructions='c' * 20),
        ModelResponse(parts=[ToolCallPart('t', {'q': 'd' * 30}), TextPart('e' * 16)]),
        ModelRequest(parts=[ToolReturnPart('t', {'v': 'f' * 30})]),
    ]
    # prompt 80 + instructions 20 + call 't' + '{"q":"ddd…"}' (1 + 38) + text 16 + return '{"v": "fff…"}' 39 = 194 chars
    assert estimate_tokens(history, None, None) == math.ceil(194 / 4)
    assert estimate_tokens(history, {'max_tokens': 8}, None) == math.ceil(194 / 4) + 8
    assert estimate_tokens([], None, None) == 0
