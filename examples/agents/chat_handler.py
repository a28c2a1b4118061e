"""A plain handler (no pydantic-ai agent) that still holds a conversation.

``handler(prompt, history)`` gets the committed history in pydantic-ai's message JSON; Synapse
stores each turn as a user-prompt request plus a text response, so the history grows like an
agent's and the handler can count earlier turns.
"""

from __future__ import annotations

from typing import Any


async def handler(prompt: str, history: list[dict[str, Any]]) -> str:
    """Echoes ``prompt`` with the number of earlier user prompts in ``history``."""
    earlier = [p['content'] for m in history if m.get('kind') == 'request' for p in m['parts'] if p.get('part_kind') == 'user-prompt']
    return f'[chat] {prompt} (earlier: {", ".join(earlier) or "none"})'


def structured(prompt: str) -> dict[str, Any]:
    """A sync handler with a JSON output: stored as a JSON text response."""
    return {'echo': prompt, 'length': len(prompt)}
