"""Customer-support example agent (offline: a scripted ``FunctionModel``, no network).

Multi-step: the model first calls ``lookup_order``, then (if the prompt asks for a refund)
``refund``, then answers. The answer echoes the user's prompt and reports how many earlier
user prompts the history holds, e.g.::

    [support] order 42 is shipped (re: where is order 42?) history=0

so tests can check there is no cross-talk between concurrent runs and that history survives
worker restarts. Streaming (``stream_function``) yields the answer word by word.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

ORDERS = {'42': 'shipped', '7': 'processing', '13': 'delivered'}


def _turn(messages: list[ModelMessage]) -> tuple[str, int, dict[str, object]]:
    """(current prompt, number of earlier prompts, tool results of this turn by tool name)."""
    prompts: list[tuple[int, str]] = []
    for i, msg in enumerate(messages):
        if isinstance(msg, ModelRequest):
            prompts += [(i, str(p.content)) for p in msg.parts if isinstance(p, UserPromptPart)]
    start, prompt = prompts[-1] if prompts else (0, '')
    results: dict[str, object] = {}
    for msg in messages[start:]:
        if isinstance(msg, ModelRequest):
            results.update({p.tool_name: p.content for p in msg.parts if isinstance(p, ToolReturnPart)})
    return prompt, max(len(prompts) - 1, 0), results


def _next_step(messages: list[ModelMessage]) -> tuple[str, dict[str, object]] | str:
    """Either a tool call ``(name, args)`` or the final answer text."""
    prompt, earlier, results = _turn(messages)
    match = re.search(r'\d+', prompt)
    order_id = match.group(0) if match else '42'
    if 'lookup_order' not in results:
        return 'lookup_order', {'order_id': order_id}
    if 'refund' in prompt.lower() and 'refund' not in results:
        return 'refund', {'order_id': order_id}
    found = results['lookup_order']
    status = found.get('status', 'unknown') if isinstance(found, dict) else 'unknown'
    refund = f', {results["refund"]}' if 'refund' in results else ''
    return f'[support] order {order_id} is {status}{refund} (re: {prompt}) history={earlier}'


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    step = _next_step(messages)
    if isinstance(step, str):
        return ModelResponse(parts=[TextPart(step)])
    return ModelResponse(parts=[ToolCallPart(step[0], step[1])])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    step = _next_step(messages)
    if isinstance(step, str):
        for word in re.findall(r'\S+\s*', step):
            yield word
        return
    call_id = f'support_{step[0]}_{len(messages)}'
    yield {0: DeltaToolCall(name=step[0], json_args=json.dumps(step[1]), tool_call_id=call_id)}


agent = Agent(FunctionModel(_respond, stream_function=_stream), name='support')


@agent.tool_plain
def lookup_order(order_id: str) -> dict[str, str]:
    """Looks up an order's status by id."""
    return {'order_id': order_id, 'status': ORDERS.get(order_id, 'not found')}


@agent.tool_plain
def refund(order_id: str) -> str:
    """Refunds an order."""
    return f'refund issued for order {order_id}'
