"""A general assistant on a real model, for running the demo against a real provider.

Uses any OpenAI-compatible endpoint: env ``OPENAI_API_KEY`` (required), ``OPENAI_BASE_URL``
(optional: a local vLLM/Ollama/LM Studio server works) and ``SYNAPSE_DEMO_MODEL`` (default
``gpt-4o-mini``). Needs the provider extra: ``.venv/bin/pip install 'pydantic-ai-slim[openai]'``.
Never run in CI (no keys, no network there); the demo only spawns it when the key is set.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

model = OpenAIChatModel(
    os.environ.get('SYNAPSE_DEMO_MODEL', 'gpt-4o-mini'),
    provider=OpenAIProvider(base_url=os.environ.get('OPENAI_BASE_URL'), api_key=os.environ['OPENAI_API_KEY']),
)
agent = Agent(model, instructions='You are a concise assistant. Answer in one or two sentences.', name='assistant')


@agent.tool_plain
def utc_now() -> str:
    """The current UTC time (ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec='seconds')
