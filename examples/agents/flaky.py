"""A deliberately unreliable agent for the demo (offline ``FunctionModel``, real pydantic-ai).

- A prompt starting with ``crash`` makes the ``inspect`` tool kill the process (``os._exit``),
  as a segfaulting native extension or an OOM kill would.
- A prompt starting with ``hang`` makes the tool wait forever (until cancelled).
- If the file named by env ``FLAKY_BROKEN_MARKER`` exists, importing this module fails, so
  every restart fails: a crash loop until the file is removed.
- Anything else: ``[flaky] ok (re: <prompt>) history=N``.
"""

from __future__ import annotations

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

_marker = os.environ.get('FLAKY_BROKEN_MARKER')
if _marker and os.path.exists(_marker):
    raise RuntimeError(f'flaky: broken on purpose while {_marker} exists')


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompts = [str(p.content) for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)]
    prompt = prompts[-1] if prompts else ''
    last = messages[-1]
    if isinstance(last, ModelRequest) and any(isinstance(p, ToolReturnPart) for p in last.parts):
        return ModelResponse(parts=[TextPart(f'[flaky] ok (re: {prompt}) history={len(prompts) - 1}')])
    return ModelResponse(parts=[ToolCallPart('inspect', {'what': prompt.split(' ', 1)[0]})])


agent = Agent(FunctionModel(_respond), name='flaky')


@agent.tool_plain
async def inspect(what: str) -> str:
    """Inspects something; misbehaves on demand."""
    if what == 'crash':
        os._exit(17)
    if what == 'hang':
        await asyncio.Event().wait()
    return f'{what}: fine'
