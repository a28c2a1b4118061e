"""A pydantic-ai agent whose ``FunctionModel`` answers at once: one real agent turn with no
model latency, for the "agent turn vs in-process ``agent.run``" row of bench/bridge.ts."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart('ok')])


agent = Agent(FunctionModel(_answer), name='bench-noop')
