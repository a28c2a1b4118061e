"""Offline bench agents for bench/distributed.ts, each with a streaming ``FunctionModel`` (a
host runs every remote turn as a stream, even a front's ``sendMessage``):

- ``agent``: answers at once — no model latency, so a turn measures Synapse's own overhead
  (local turn vs remote turn);
- ``slow``: waits ``SYN_BENCH_MODEL_MS`` milliseconds (default 50; asyncio sleep, no CPU)
  before answering — a stand-in for a remote model call, so a host's capacity is set by its
  ``concurrency`` and not by this machine's CPU (the "1 vs 2 hosts" rows).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

DELAY_S = float(os.environ.get('SYN_BENCH_MODEL_MS', '50')) / 1000


def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart('ok')])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    yield 'ok'


async def _slow_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    await asyncio.sleep(DELAY_S)
    return ModelResponse(parts=[TextPart('ok')])


async def _slow_stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    await asyncio.sleep(DELAY_S)
    yield 'ok'


agent = Agent(FunctionModel(_answer, stream_function=_stream), name='bench-hop')
slow = Agent(FunctionModel(_slow_answer, stream_function=_slow_stream), name='bench-hop-slow')
