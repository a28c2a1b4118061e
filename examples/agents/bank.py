"""Bank-support example agent with per-call deps (offline: a scripted ``FunctionModel``, no network).

Modelled on pydantic-ai's ``bank_support`` example: ``deps_type`` is a dataclass carrying the
customer id of the call, the instructions and the ``account`` tool read it from ``ctx.deps``.
Node passes it per call::

    await system.sendMessage('bank', { prompt: 'What is my balance?' }, { deps: { customer_id: 123 } });

The model calls ``account`` once, then answers with what the run saw, e.g.::

    [bank] customer 123 (John) balance $100.00 (re: What is my balance?) instructions="The customer's id is 123." temperature=None metadata=None

so tests can check that each run sees only its own deps (no cross-talk between concurrent runs),
and that per-call ``instructions``, ``modelSettings`` and ``metadata`` reach the run.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

CUSTOMERS = {123: ('John', 100.0), 456: ('Ada', 2500.5), 789: ('Grace', 0.0)}


@dataclass
class SupportDeps:
    """Per-call deps: whose account this conversation is about."""

    customer_id: int
    tier: str = 'standard'


def _model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    last = messages[-1]
    prompt = next((str(p.content) for m in reversed(messages) if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)), '')
    returns = [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
    if not returns:
        return ModelResponse(parts=[ToolCallPart('account', {})])
    account = returns[0].content
    assert isinstance(account, dict)
    settings = info.model_settings or {}
    text = (
        f'[bank] customer {account["id"]} ({account["name"]}) balance ${account["balance"]:.2f} (re: {prompt}) '
        f'instructions={json.dumps(info.instructions)} temperature={settings.get("temperature")} '
        f'metadata={json.dumps(account["metadata"])}'
    )
    return ModelResponse(parts=[TextPart(text)])


agent = Agent(FunctionModel(_model), deps_type=SupportDeps, name='bank')


@agent.instructions
def _whose(ctx: RunContext[SupportDeps]) -> str:
    return f"The customer's id is {ctx.deps.customer_id}."


@agent.tool
async def account(ctx: RunContext[SupportDeps]) -> dict[str, object]:
    """The customer's name and balance (from ``ctx.deps``), and the run's metadata."""
    await asyncio.sleep(0)  # yield, so concurrent runs interleave here
    name, balance = CUSTOMERS.get(ctx.deps.customer_id, ('unknown', 0.0))
    return {'id': ctx.deps.customer_id, 'name': name, 'balance': balance, 'metadata': ctx.metadata}
