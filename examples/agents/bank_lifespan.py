"""Bank support with a DB pool opened by a lifespan and deps built per call by a factory (offline).

Modelled on pydantic-ai's ``bank_support`` example, served the way a real app would: the DB pool is
opened once per worker process by ``lifespan`` and each run's ``SupportDependencies`` are built by
the ``deps`` factory from the call's ``{customer_id}`` and that pool::

    await system.spawnAgent({
      id: 'bank',
      agent: 'examples/agents/bank_lifespan.py:agent',
      deps: 'examples/agents/bank_lifespan.py:deps',
      lifespan: 'examples/agents/bank_lifespan.py:lifespan',
    });
    await system.sendMessage('bank', { prompt: 'What is my balance?' }, { deps: { customer_id: 123 } });
    // → '[bank] customer 123 (John) balance $100.00 agent=bank tenant=None'

A scripted ``FunctionModel`` stands in for the LLM, choosing a tool from the prompt:

* anything else → ``balance`` (reads ``ctx.deps``), answered as above;
* ``stats`` → the pool's counters (``open``, ``sessions``: runs whose deps are entered now);
* ``delegate: <question>`` → ``ask_specialist``, which runs the ``specialist`` sub-agent with
  ``usage=ctx.usage`` (one shared usage: the result counts the parent's and the sub-agent's requests);
* ``boom`` → a tool that raises; ``crash`` → a tool that kills the process (``os._exit(17)``)
  while the pool is open; ``hang`` → a tool that waits forever (tests kill the worker under it).

Per-call deps ``{"fail": true}`` make the factory raise. With env ``BANK_LIFESPAN_LOG`` set to a
file path, the lifespan appends ``open <pid> <n>`` / ``close <pid> <n>`` (graceful exit) lines to it (``n``: opens
of this process's pool), so tests can see it entered and exited.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from synapse_bridge import DepsContext

CUSTOMERS = {123: ('John', 100.0), 456: ('Ada', 2500.5), 789: ('Grace', 0.0)}


@dataclass
class Pool:
    """A DB-like pool: a flag, counters, and per-run sessions."""

    open: bool = False
    opens: int = 0
    sessions: int = 0
    rows: dict[int, tuple[str, float]] = field(default_factory=lambda: dict(CUSTOMERS))

    def customer(self, customer_id: int) -> tuple[str, float]:
        if not self.open:
            raise RuntimeError('pool is closed')
        return self.rows.get(customer_id, ('unknown', 0.0))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Pool]:
        """One run's use of the pool: counted while the run's deps are entered."""
        self.sessions += 1
        try:
            yield self
        finally:
            self.sessions -= 1


@dataclass
class SupportDependencies:
    """A run's deps: the call's customer and the worker's pool."""

    customer_id: int
    db: Pool
    agent_name: str
    tenant: str | None


def _log(line: str) -> None:
    path = os.environ.get('BANK_LIFESPAN_LOG')
    if path:
        with open(path, 'a', encoding='utf-8') as f:
            f.write(f'{line}\n')


@asynccontextmanager
async def lifespan(agent: Agent[SupportDependencies, str]) -> AsyncIterator[Pool]:
    """Opens the pool once per worker process (after the agent loads); closes it at shutdown."""
    if os.environ.get('BANK_LIFESPAN_FAIL'):
        raise ConnectionError('database unreachable')
    pool = Pool(open=True, opens=1)
    _log(f'open {os.getpid()} {pool.opens}')
    try:
        yield pool
        _log(f'close {os.getpid()} {pool.opens}')  # a graceful exit only (not a cancelled task)
    finally:
        pool.open = False


@asynccontextmanager
async def _run_deps(call: dict[str, object], ctx: DepsContext) -> AsyncIterator[SupportDependencies]:
    pool: Pool = ctx.resources
    async with pool.session():
        metadata = ctx.metadata if isinstance(ctx.metadata, dict) else {}
        tenant = metadata.get('tenant')
        yield SupportDependencies(int(call['customer_id']), pool, ctx.agent_name, tenant if isinstance(tenant, str) else None)  # type: ignore[arg-type]


def deps(call: dict[str, object] | None, ctx: DepsContext) -> object:
    """The deps factory: ``{customer_id}`` of the call (raw JSON) + the lifespan's pool. Returns an
    async context manager, so the run holds a pool session until it ends."""
    if not isinstance(call, dict) or call.get('fail'):
        raise LookupError('no customer in these deps')
    return _run_deps(call, ctx)


def _prompt(messages: list[ModelMessage]) -> str:
    return next((str(p.content) for m in reversed(messages) if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)), '')


def _model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    last = messages[-1]
    returns = [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
    if returns:
        return ModelResponse(parts=[TextPart(str(returns[0].content))])
    prompt = _prompt(messages)
    if prompt.startswith('delegate:'):
        return ModelResponse(parts=[ToolCallPart('ask_specialist', {'question': prompt.removeprefix('delegate:').strip()})])
    tool = prompt if prompt in ('stats', 'boom', 'crash', 'hang') else 'balance'
    return ModelResponse(parts=[ToolCallPart(tool, {})])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    """The same script, streamed (``streamMessage``)."""
    for part in _model(messages, info).parts:
        if isinstance(part, TextPart):
            yield part.content
        elif isinstance(part, ToolCallPart):
            yield {0: DeltaToolCall(name=part.tool_name, json_args=json.dumps(part.args), tool_call_id=part.tool_call_id)}


agent = Agent(FunctionModel(_model, stream_function=_stream), deps_type=SupportDependencies, name='bank')
specialist = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart(f'[specialist] {_prompt(messages)}')])), name='specialist')


@agent.tool
async def balance(ctx: RunContext[SupportDependencies]) -> str:
    """The customer's balance, from the run's own deps."""
    await asyncio.sleep(0)  # yield, so concurrent runs interleave here
    name, amount = ctx.deps.db.customer(ctx.deps.customer_id)
    await asyncio.sleep(0)
    return f'[bank] customer {ctx.deps.customer_id} ({name}) balance ${amount:.2f} agent={ctx.deps.agent_name} tenant={ctx.deps.tenant}'


@agent.tool
async def stats(ctx: RunContext[SupportDependencies]) -> str:
    """The pool's counters (this run's own session included)."""
    db = ctx.deps.db
    return f'[bank] pool open={db.open} opens={db.opens} sessions={db.sessions} pid={os.getpid()}'


@agent.tool
async def ask_specialist(ctx: RunContext[SupportDependencies], question: str) -> str:
    """Delegates to the specialist sub-agent; its usage is counted in this run's."""
    result = await specialist.run(question, usage=ctx.usage)
    return result.output


@agent.tool
async def boom(ctx: RunContext[SupportDependencies]) -> str:
    """Fails (the run's deps session is still exited)."""
    raise RuntimeError('ledger offline')


@agent.tool
async def crash(ctx: RunContext[SupportDependencies]) -> str:
    """Kills the worker mid-run, with the pool open."""
    os._exit(17)


@agent.tool
async def hang(ctx: RunContext[SupportDependencies]) -> str:
    """Waits until cancelled or killed."""
    await asyncio.Event().wait()
    return 'never'
