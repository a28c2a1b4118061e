"""A CPU-bound bench agent (offline ``FunctionModel``): each model step burns a fixed amount of
pure-Python CPU (8 000 SHA-256 rounds, about 10–20 ms on a 2020s x86 core), so throughput is limited by the Python process and a
second worker on a second core should nearly double it.
"""

from __future__ import annotations

import hashlib

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

ROUNDS = 8_000


def _burn(seed: str) -> str:
    digest = seed.encode()
    for _ in range(ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:12]


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(f'[cpu] {_burn(str(len(messages)))}')])


agent = Agent(FunctionModel(_respond), name='cpu')
