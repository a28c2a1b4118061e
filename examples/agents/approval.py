"""Human in the loop: a tool that needs a person's approval and an external tool (offline).

Modelled on pydantic-ai's deferred-tools docs. ``refund`` is declared ``requires_approval=True``:
the model's call does not run; the turn ends with ``result.deferred.approvals``. ``courier_quote``
comes from an ``ExternalToolset``: its result is produced outside the agent (by the Node app);
the turn ends with ``result.deferred.calls``. The agent declares ``DeferredToolRequests`` among its
output types, which pydantic-ai requires for a run to end deferred::

    const first = await system.sendMessage('support', { prompt: 'refund 42 30' });
    // first.deferred → { approvals: [{ toolCallId, tool: 'refund', args: { order_id: 42, amount: 30 } }], calls: [] }
    const done = await system.sendMessage('support', { toolResults: { approvals: { [id]: true } } }, { conversationId: first.conversationId });
    // done.output → 'refund: refunded $30.00 on order 42'

A scripted ``FunctionModel`` stands in for the LLM, choosing from the prompt:

* ``refund <order> <amount>`` → ``refund`` (approval);
* ``quote <order>`` → ``courier_quote`` (external);
* ``both <order> <amount>`` → ``order_status`` (an ordinary tool, runs now), ``refund`` and
  ``courier_quote`` in one response;
* anything else → a text answer ``echo: <prompt>``.

Once the last request carries tool results (returns or denials), it answers with them as text:
``<tool>: <content>`` joined by ``; ``, in call order.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.tools import DeferredToolRequests, ToolDefinition
from pydantic_ai.toolsets import ExternalToolset

courier = ExternalToolset(
    [
        ToolDefinition(
            name='courier_quote',
            description='Ask the courier (outside the agent) for a return-shipping quote.',
            parameters_json_schema={'type': 'object', 'properties': {'order_id': {'type': 'integer'}}, 'required': ['order_id']},
        )
    ]
)


def _answer(results: list[ToolReturnPart]) -> str:
    return '; '.join(f'{r.tool_name}: {r.content}' for r in results)


def _script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # Tool results since the last response (a deferred turn's resume may follow a request that
    # already carries the returns of the ordinary tools called beside the deferred ones).
    tail: list[ToolReturnPart] = []
    for m in reversed(messages):
        if isinstance(m, ModelResponse):
            break
        tail[:0] = [p for p in m.parts if isinstance(p, ToolReturnPart)]
    if tail:
        return ModelResponse(parts=[TextPart(_answer(tail))])
    last = messages[-1]
    prompt = next((str(p.content) for p in last.parts if isinstance(p, UserPromptPart)), '') if isinstance(last, ModelRequest) else ''
    if m := re.fullmatch(r'refund (\d+) (\d+)', prompt):
        return ModelResponse(parts=[ToolCallPart('refund', {'order_id': int(m[1]), 'amount': int(m[2])})])
    if m := re.fullmatch(r'quote (\d+)', prompt):
        return ModelResponse(parts=[ToolCallPart('courier_quote', {'order_id': int(m[1])})])
    if m := re.fullmatch(r'both (\d+) (\d+)', prompt):
        order, amount = int(m[1]), int(m[2])
        return ModelResponse(
            parts=[
                ToolCallPart('order_status', {'order_id': order}),
                ToolCallPart('refund', {'order_id': order, 'amount': amount}),
                ToolCallPart('courier_quote', {'order_id': order}),
            ]
        )
    return ModelResponse(parts=[TextPart(f'echo: {prompt}')])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    """The same script, streamed (``streamMessage``)."""
    for i, part in enumerate(_script(messages, info).parts):
        if isinstance(part, TextPart):
            yield part.content
        elif isinstance(part, ToolCallPart):
            yield {i: DeltaToolCall(name=part.tool_name, json_args=json.dumps(part.args), tool_call_id=part.tool_call_id)}


agent = Agent(
    FunctionModel(_script, stream_function=_stream, model_name='approval-script'),
    name='support',
    output_type=[str, DeferredToolRequests],
    toolsets=[courier],
    instructions='Support desk: refunds need a person to approve them.',
)


@agent.tool_plain
def order_status(order_id: int) -> str:
    """The order's shipping status."""
    return f'order {order_id} delivered'


@agent.tool_plain(requires_approval=True)
def refund(order_id: int, amount: int) -> str:
    """Refund ``amount`` dollars on an order (a person approves it first)."""
    return f'refunded ${amount:.2f} on order {order_id}'


plain_agent = Agent(FunctionModel(_script, model_name='approval-script'), name='plain', toolsets=[courier])
"""The same tools without ``DeferredToolRequests`` among its output types: a turn that calls the
external ``courier_quote`` (prompt ``quote <order>``) fails (pydantic-ai's ``UserError``), which is why ``agent`` declares it."""

