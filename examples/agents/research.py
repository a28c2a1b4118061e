"""Research example agent (offline ``FunctionModel``): searches notes, then answers.

The answer echoes the prompt and counts earlier user prompts in the history, e.g.::

    [research] 2 notes on "actors" (re: tell me about actors) history=1
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

NOTES = [
    'actors process one message at a time',
    'supervisors restart failed actors',
    'actors communicate by message passing',
    'pydantic-ai agents call tools',
]


def _next_step(messages: list[ModelMessage]) -> tuple[str, dict[str, object]] | str:
    prompts: list[tuple[int, str]] = []
    for i, msg in enumerate(messages):
        if isinstance(msg, ModelRequest):
            prompts += [(i, str(p.content)) for p in msg.parts if isinstance(p, UserPromptPart)]
    start, prompt = prompts[-1] if prompts else (0, '')
    found: object = None
    for msg in messages[start:]:
        if isinstance(msg, ModelRequest):
            for part in msg.parts:
                if isinstance(part, ToolReturnPart) and part.tool_name == 'search_notes':
                    found = part.content
    words = re.findall(r'[a-z][a-z-]+', prompt.lower())
    query = words[-1] if words else 'actors'
    if found is None:
        return 'search_notes', {'query': query}
    count = len(found) if isinstance(found, list) else 0
    return f'[research] {count} notes on "{query}" (re: {prompt}) history={len(prompts) - 1}'


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
    yield {0: DeltaToolCall(name=step[0], json_args=json.dumps(step[1]), tool_call_id=f'research_{len(messages)}')}


agent = Agent(FunctionModel(_respond, stream_function=_stream), name='research')


@agent.tool_plain
def search_notes(query: str) -> list[str]:
    """Returns the notes that mention ``query``."""
    return [note for note in NOTES if query.rstrip('s') in note]
