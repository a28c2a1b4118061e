"""An agent with no model of its own, as a library would ship it: the model is chosen by whoever runs it.

Spawn it with ``model: 'test'`` (pydantic-ai's ``TestModel``) or with a reference to a model
factory such as :func:`echo_model` (``model: 'examples/agents/modelless.py:echo_model'``); a
call may override either (``sendMessage(id, input, { model: 'test' })``).
"""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

agent = Agent(instructions='Answer briefly.', name='modelless')


def _echo(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompts = [str(p.content) for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)]
    return ModelResponse(parts=[TextPart(f'[echo] {prompts[-1] if prompts else ""} (prompts so far: {len(prompts)})')])


def echo_model() -> FunctionModel:
    """A zero-arg model factory: an offline ``FunctionModel`` that echoes the latest prompt."""
    return FunctionModel(_echo, model_name='echo')
