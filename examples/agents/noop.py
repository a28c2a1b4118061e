"""The smallest possible worker: a plain async handler that echoes its prompt.

Used for bridge round-trip benchmarks (no pydantic-ai run, ``messages: []``, zero usage).
"""

from __future__ import annotations


async def handler(prompt: str) -> str:
    """Returns ``prompt`` unchanged."""
    return prompt
