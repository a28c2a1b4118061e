"""A list output streamed as partial outputs, modelled on pydantic-ai's ``stream_whales`` example
(offline: a ``FunctionModel`` that answers through pydantic-ai's output tool, as a real model would).

``output_type=list[Whale]``: ``sendMessage`` resolves with the whole list; ``streamMessage`` yields
``{ kind: 'output', output }`` items as the list grows (debounced partial outputs: the
``Whale`` rows so far, the last one possibly incomplete), then the result. The streamed answer
arrives in several deltas, each after a pause standing in for a real model's token latency (longer
than Synapse's 0.1 s debounce, so each delta shows as its own partial output).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from typing_extensions import NotRequired, TypedDict


class Whale(TypedDict):
    """One species (``NotRequired`` fields let a partial row validate while it streams)."""

    name: str
    length: NotRequired[float]
    ocean: NotRequired[str]


WHALES: list[Whale] = [
    {'name': 'Blue whale', 'length': 29.9, 'ocean': 'all'},
    {'name': 'Fin whale', 'length': 25.9, 'ocean': 'all'},
    {'name': 'Sperm whale', 'length': 20.7, 'ocean': 'all'},
    {'name': 'Bowhead whale', 'length': 18.3, 'ocean': 'Arctic'},
]

DELTA_PAUSE_S = 0.25
"""Pause before each streamed delta (a stand-in for model latency; see the module docstring)."""


def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {'response': WHALES})])


async def _answer_streamed(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
    """The same answer as the output tool call's JSON, one whale per delta."""
    name = info.output_tools[0].name
    rows = [json.dumps(w) for w in WHALES]
    chunks = ['{"response": [' + rows[0]] + [', ' + r for r in rows[1:]] + [']}']
    for i, chunk in enumerate(chunks):
        await asyncio.sleep(DELTA_PAUSE_S)
        yield {0: DeltaToolCall(name=name if i == 0 else None, json_args=chunk)}


agent = Agent(FunctionModel(_answer, stream_function=_answer_streamed), output_type=list[Whale], name='whales')
