"""Multimodal prompts, offline: an agent and a plain ``RunInput`` handler that report what they received.

``agent`` runs on a ``FunctionModel`` that looks at every user prompt in the messages pydantic-ai
gives it (the history's and the new one) and answers with the content kinds it found, as
pydantic-ai's classes: ``ImageUrl``, ``BinaryImage`` / ``BinaryContent``, ``DocumentUrl``, … So a
test can tell that an image arrived as an image, not as text, and that an image of an earlier turn
comes back from the history as one.

``describe`` is a plain handler written as ``handler(input: RunInput)``: it sees the prompt (the
same content objects), the call's deps and metadata, the conversation id and the history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import BinaryContent, FileUrl, ModelMessage, ModelRequest, ModelResponse, TextPart, UserContent, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from synapse_bridge import RunInput


def content_kinds(content: str | Sequence[UserContent]) -> list[str]:
    """``'str:<text>'``, ``'<Class>:<url>'`` or ``'<Class>:<media type>:<n> bytes'`` per part."""
    if isinstance(content, str):
        return [f'str:{content}']
    out: list[str] = []
    for part in content:
        if isinstance(part, str):
            out.append(f'str:{part}')
        elif isinstance(part, FileUrl):
            out.append(f'{type(part).__name__}:{part.url}')
        elif isinstance(part, BinaryContent):
            out.append(f'{type(part).__name__}:{part.media_type}:{len(part.data)} bytes')
        else:
            out.append(type(part).__name__)
    return out


def _report(messages: list[ModelMessage]) -> str:
    prompts = [content_kinds(p.content) for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)]
    return ' | '.join(', '.join(kinds) for kinds in prompts)


def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(_report(messages))])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    for piece in _report(messages).split(' | '):
        yield piece + ' ; '


agent = Agent(FunctionModel(_answer, stream_function=_stream, model_name='vision'), name='vision')


async def describe(input: RunInput) -> dict[str, Any]:
    """A ``RunInput`` handler: its answer (stored as JSON text) lists what it was given."""
    return {
        'prompt': content_kinds(input.prompt or ''),
        'deps': input.deps,
        'metadata': input.metadata,
        'conversationId': input.conversation_id,
        'historyMessages': len(input.history),
    }


def plain(prompt: str | Sequence[UserContent]) -> str:
    """A ``handler(prompt)``: a multimodal prompt reaches it as pydantic-ai's content objects too."""
    return ', '.join(content_kinds(prompt))
