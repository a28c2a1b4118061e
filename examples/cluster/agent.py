"""The cluster demo's agent (examples/cluster/host.ts serves it; test/distributed uses it too).

A streaming ``FunctionModel`` (offline, no API key): it answers ``[<host>] re: <prompt>:`` and
then ``words`` words, one every ``ms`` milliseconds, both read from the prompt
(``"hello words=20 ms=50"``; defaults 3 words, 10 ms). ``<host>`` is the env variable
``SYN_CLUSTER_HOST_ID`` of the serving host, so a caller sees which host ran its turn. With
``SYN_CLUSTER_RUN_LOG`` set, each run first appends its prompt (one line) to that file, so a test
can count how many times a turn actually executed.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

HOST = os.environ.get('SYN_CLUSTER_HOST_ID', 'host')
RUN_LOG = os.environ.get('SYN_CLUSTER_RUN_LOG')


def _log_run(prompt: str) -> None:
    if RUN_LOG:
        with open(RUN_LOG, 'a', encoding='utf-8') as f:
            f.write(prompt.replace('\n', ' ') + '\n')


def _prompt(messages: list[ModelMessage]) -> str:
    prompt = ''
    for msg in messages:
        if isinstance(msg, ModelRequest):
            for part in msg.parts:
                if isinstance(part, UserPromptPart):
                    prompt = str(part.content)
    return prompt


def _shape(prompt: str) -> tuple[int, float]:
    words = re.search(r'\bwords=(\d+)', prompt)
    ms = re.search(r'\bms=(\d+)', prompt)
    return min(int(words.group(1)) if words else 3, 1000), min(float(ms.group(1)) if ms else 10.0, 5000.0) / 1000


def _words(prompt: str) -> list[str]:
    n, _ = _shape(prompt)
    return [f'[{HOST}] re: {prompt}:'] + [f' w{i}' for i in range(n)]


async def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompt = _prompt(messages)
    _log_run(prompt)
    _, delay = _shape(prompt)
    await asyncio.sleep(delay * _shape(prompt)[0])
    return ModelResponse(parts=[TextPart(''.join(_words(prompt)))])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    prompt = _prompt(messages)
    _log_run(prompt)
    _, delay = _shape(prompt)
    for i, word in enumerate(_words(prompt)):
        if i > 0:
            await asyncio.sleep(delay)
        yield word


agent = Agent(FunctionModel(_answer, stream_function=_stream), name='cluster')
