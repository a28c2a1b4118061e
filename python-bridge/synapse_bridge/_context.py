"""``DepsContext``: what a spawn-level ``deps`` factory gets besides the call's deps JSON.

Kept free of pydantic-ai imports so ``synapse_bridge`` can export it (importing the package must
not import pydantic-ai; see ``__init__``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ['DepsContext']


@dataclass(frozen=True, slots=True)
class DepsContext:
    """Read-only facts about the run a deps factory builds deps for.

    A factory is ``factory(call_deps_json, ctx: DepsContext) -> deps`` (see ``docs/agents.md``,
    "deps factory")::

        async def deps(call: dict, ctx: DepsContext) -> SupportDependencies:
            return SupportDependencies(customer_id=call['customer_id'], db=ctx.resources)
    """

    resources: Any
    """What the agent's ``lifespan`` yielded in this worker process, or ``None`` without one."""
    agent_name: str
    """The agent id (``spawnAgent({ id })``)."""
    conversation_id: str | None
    """The conversation of the turn, or ``None`` for a call outside one."""
    metadata: Any
    """The call's ``metadata`` option (JSON), or ``None``. Shared with the run: do not mutate it."""
    run_id: str
    """The run (request) id, as in logs and :func:`synapse_bridge.current_run_id`."""
