"""A structured union output, modelled on pydantic-ai's ``flight_booking`` example (offline: a
``FunctionModel`` that answers through pydantic-ai's output tools, as a real model would).

``output_type=FlightDetails | NoFlightFound``: the result's ``output`` is the JSON of the member
produced and ``outputType`` names it (``'FlightDetails'`` or ``'NoFlightFound'``). A prompt
naming a known route finds a flight; any other finds none.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

_FLIGHTS = {('SFO', 'ANC'): 'AK456', ('LHR', 'CDG'): 'BA304'}


class FlightDetails(BaseModel):
    """The flight found."""

    flight_number: str
    origin: str
    destination: str


class NoFlightFound(BaseModel):
    """No flight matches."""

    reason: str


def _search(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompt = next(str(p.content) for m in reversed(messages) if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart))
    words = prompt.upper().split()
    route = (words[0], words[-1]) if len(words) >= 2 else ('', '')
    tools = {t.name: t for t in info.output_tools}
    if route in _FLIGHTS:
        name = next(n for n in tools if 'FlightDetails' in n)
        args = {'flight_number': _FLIGHTS[route], 'origin': route[0], 'destination': route[1]}
    else:
        name = next(n for n in tools if 'NoFlightFound' in n)
        args = {'reason': f'no flight from {route[0] or "?"} to {route[1] or "?"}'}
    return ModelResponse(parts=[ToolCallPart(name, args)])


async def _search_streamed(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
    """The same answer, streamed (``streamMessage``): the output tool call's JSON in two deltas."""
    call = _search(messages, info).parts[0]
    assert isinstance(call, ToolCallPart)
    args = json.dumps(call.args)
    yield {0: DeltaToolCall(name=call.tool_name, json_args=args[: len(args) // 2])}
    yield {0: DeltaToolCall(json_args=args[len(args) // 2 :])}


agent = Agent(FunctionModel(_search, stream_function=_search_streamed), output_type=FlightDetails | NoFlightFound, name='flights')
