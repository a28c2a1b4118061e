"""An agent whose model calls ``get_weather`` — a tool NOT defined in Python.

Node provides ``get_weather`` through ``init.tools``; the runtime turns it into a pydantic-ai
tool that round-trips ``tool_call``/``tool_result``. The answer quotes the tool's result::

    [weather] {"city": "Paris", "tempC": 21} (re: weather in Paris?)

If Node's tool throws, the model sees the error (as a retry prompt) and answers
``[weather] unavailable: <error> (re: ...)``. Offline ``FunctionModel``; no network.
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
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel


def _next_step(messages: list[ModelMessage]) -> tuple[str, dict[str, object]] | str:
    prompt, start = '', 0
    for i, msg in enumerate(messages):
        if isinstance(msg, ModelRequest):
            for part in msg.parts:
                if isinstance(part, UserPromptPart):
                    prompt, start = str(part.content), i
    for msg in messages[start:]:
        if isinstance(msg, ModelRequest):
            for part in msg.parts:
                if part.part_kind not in ('tool-return', 'retry-prompt') or part.tool_name != 'get_weather':
                    continue
                # A tool failure (Node's tool threw → ModelRetry) comes back as a retried/failed
                # return (or, in older pydantic-ai, a RetryPromptPart) carrying the error text.
                failed = isinstance(part, RetryPromptPart) or (
                    isinstance(part, ToolReturnPart) and part.outcome != 'success'
                )
                if failed:
                    error = part.content if isinstance(part.content, str) else json.dumps(part.content)
                    return f'[weather] unavailable: {error} (re: {prompt})'
                return f'[weather] {json.dumps(part.content)} (re: {prompt})'
    match = re.search(r'in ([A-Z][a-zA-Z]+)', prompt)
    return 'get_weather', {'city': match.group(1) if match else 'Paris'}


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
    yield {0: DeltaToolCall(name=step[0], json_args=json.dumps(step[1]), tool_call_id=f'weather_{len(messages)}')}


agent = Agent(FunctionModel(_respond, stream_function=_stream), name='ts_tools')
