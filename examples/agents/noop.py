"""The smallest possible worker: a plain async handler that echoes its prompt.

Used for bridge round-trip benchmarks (no pydantic-ai run, zero usage; its turn comes back as the
two messages Synapse synthesises for a handler: the prompt and the text, see docs/agents.md).
"""

from __future__ import annotations


async def handler(prompt: str) -> str:
    """Returns ``prompt`` unchanged."""
    return prompt
