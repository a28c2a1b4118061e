"""Executing one ``run``: a pydantic-ai agent or a plain handler, producing the ``result`` frame.

The agent is driven with ``agent.iter`` node by node. Tool-call nodes are always streamed so
``tool_call``/``tool_result`` events reach Node; model-request nodes are streamed only when the
run asked for ``stream: true`` (so an agent whose model cannot stream still runs un-streamed),
and their text becomes ``text_delta`` events — or, for a run whose output type is not plain text,
debounced partial outputs become ``output`` events (``_structured``). Cancellation is never caught here: the
``CancelledError`` of ``task.cancel()`` propagates through pydantic-ai (which cancels in-flight
model streams and async tools) up to the runtime.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel
from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai import tool_manager as _tool_manager
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    UserPromptPart,
)
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import RunUsage
from pydantic_core import to_jsonable_python
from pydantic_graph import End

from ._agents import LoadedAgent
from ._deps import with_factory_deps
from ._deferred import OUTPUT_TYPE as _DEFERRED, check_answers, deferred_wire, is_deferred, tool_results
from ._options import ModelResolver, run_kwargs
from ._prompt import dump_user_prompt, user_prompt
from ._provider import require_finish_reason
from ._run_input import RunInput
from ._structured import stream_partial_outputs, streams_output, structured_output_name
from .exceptions import BridgeError, ToolError

__all__ = ['Emit', 'execute_run', 'jsonable_output', 'output_type_name']

Emit = Callable[[dict[str, Any]], None]

_ZERO_USAGE = {'requests': 0, 'inputTokens': 0, 'outputTokens': 0, 'totalTokens': 0, 'toolCalls': 0}


class _ToolErrorsAsToolKind(AbstractCapability[Any]):
    """Tags an exception escaping a tool (not a retry/deferral signal) as a ``tool`` failure.

    Only used with a pydantic-ai whose ``ToolManager`` lacks ``_raw_execute`` (see
    :func:`_tool_error`): any capability passed to a run costs 0.2–0.5 ms of every turn.
    """

    async def on_tool_execute_error(
        self, ctx: Any, *, call: Any, tool_def: Any, args: Any, error: Exception
    ) -> Any:
        if isinstance(error, BridgeError):
            raise error
        raise ToolError(call.tool_name, error) from error


# Where pydantic-ai calls a tool (``ToolManager._raw_execute``, "execute a validated tool call
# without hooks"). An exception whose traceback passes through it came out of a tool.
_RAW_EXECUTE = getattr(getattr(_tool_manager, 'ToolManager', None), '_raw_execute', None)
_RAW_EXECUTE_CODE = getattr(_RAW_EXECUTE, '__code__', None)
_RUN_CAPABILITIES: list[AbstractCapability[Any]] = [] if _RAW_EXECUTE_CODE is not None else [_ToolErrorsAsToolKind()]


def _tool_error(exc: Exception) -> ToolError | None:
    """The ``ToolError`` for ``exc`` if it escaped a tool's own code, else ``None``.

    Done after the fact from the traceback instead of with an ``on_tool_execute_error``
    capability, which would tax every run. Exceptions of pydantic-ai itself (``ModelRetry``,
    ``ToolFailed``, deferrals, retry exhaustion) and of the bridge are not tool failures.
    """
    if _RAW_EXECUTE_CODE is None or isinstance(exc, BridgeError) or type(exc).__module__.startswith('pydantic_ai'):
        return None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is _RAW_EXECUTE_CODE:
            name = tb.tb_frame.f_locals.get('name')
            return ToolError(name if isinstance(name, str) else '?', exc)
        tb = tb.tb_next
    return None


def jsonable_output(value: Any) -> Any:
    """The wire form of an output: a ``str`` as is, a pydantic model as
    ``model_dump(mode="json")``, anything else through pydantic's ``to_jsonable_python``."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode='json')
    return to_jsonable_python(value)


def output_type_name(value: Any) -> str:
    """The ``outputType`` of a result: the output's class name (``'str'`` for text, the model
    class of a structured output — the member of a union output that was produced, e.g.
    ``NoFlightFound`` — ``'list'``, ``'dict'``, ``'NoneType'``, …)."""
    return 'str' if isinstance(value, str) else type(value).__name__


def _usage(usage: RunUsage) -> dict[str, int]:
    return {
        'requests': usage.requests,
        'inputTokens': usage.input_tokens,
        'outputTokens': usage.output_tokens,
        'totalTokens': usage.total_tokens,
        'toolCalls': usage.tool_calls,
    }


def _tool_args(part: Any) -> Any:
    try:
        return part.args_as_dict()
    except Exception:  # args the model produced are not valid JSON: forward them raw
        return part.args


def _event(run_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {'t': 'event', 'id': run_id, 'event': event}


def _text_delta(ev: Any) -> str | None:
    if isinstance(ev, PartStartEvent) and isinstance(ev.part, TextPart):
        return ev.part.content or None
    if isinstance(ev, PartDeltaEvent) and isinstance(ev.delta, TextPartDelta):
        return ev.delta.content_delta or None
    return None


def _tool_event(ev: Any) -> dict[str, Any] | None:
    if isinstance(ev, FunctionToolCallEvent):
        p = ev.part
        return {'kind': 'tool_call', 'tool': p.tool_name, 'args': to_jsonable_python(_tool_args(p)), 'toolCallId': p.tool_call_id}
    if isinstance(ev, FunctionToolResultEvent):
        p = ev.part
        content = to_jsonable_python(getattr(p, 'content', None), fallback=repr)
        return {'kind': 'tool_result', 'tool': p.tool_name, 'toolCallId': p.tool_call_id, 'content': content}
    return None


async def _run_agent(
    loaded: LoadedAgent, frame: dict[str, Any], emit: Emit, toolsets: list[AbstractToolset[Any]], models: ModelResolver
) -> dict[str, Any]:
    agent = loaded.agent
    assert agent is not None
    options = frame.get('options')
    if loaded.deps_factory is not None:
        return await _run_with_factory(loaded, frame, emit, toolsets, models)
    # Only a run with options (its own or its agent's spawn-level ones) pays for them.
    kwargs = run_kwargs(agent, loaded.run_kwargs, options, models) if options or loaded.run_kwargs else None
    try:
        return await _drive_agent(agent, frame, emit, toolsets, kwargs)
    except Exception as exc:
        tool_error = _tool_error(exc)
        if tool_error is None:
            raise
        raise tool_error from exc


async def _run_with_factory(
    loaded: LoadedAgent, frame: dict[str, Any], emit: Emit, toolsets: list[AbstractToolset[Any]], models: ModelResolver
) -> dict[str, Any]:
    """A run of an agent with a spawn-level deps factory: the call's ``deps`` JSON goes to the
    factory raw (not through the ``TypeAdapter``); see ``_deps.with_factory_deps``."""
    agent = loaded.agent
    assert agent is not None
    options = frame.get('options') or {}
    raw = options.get('deps')
    rest = {k: v for k, v in options.items() if k != 'deps'} if 'deps' in options else options
    kwargs = run_kwargs(agent, loaded.run_kwargs, rest, models)

    async def run(deps: Any) -> dict[str, Any]:
        try:
            return await _drive_agent(agent, frame, emit, toolsets, {**kwargs, 'deps': deps})
        except Exception as exc:
            tool_error = _tool_error(exc)
            if tool_error is None:
                raise
            raise tool_error from exc

    return await with_factory_deps(loaded, frame, raw, run)


async def _drive_agent(
    agent: AbstractAgent[Any, Any],
    frame: dict[str, Any],
    emit: Emit,
    toolsets: list[AbstractToolset[Any]],
    kwargs: dict[str, Any] | None,
) -> dict[str, Any]:
    run_id, stream = frame['id'], frame['stream']
    history = ModelMessagesTypeAdapter.validate_python(frame['history']) if frame['history'] else None
    prompt = user_prompt(frame['prompt'])  # a multimodal prompt: pydantic-ai content objects (feature multimodal_prompt)
    extra: dict[str, Any] = {} if kwargs is None else kwargs
    if isinstance(frame.get('conversationId'), str):
        extra['conversation_id'] = frame['conversationId']
    if _RUN_CAPABILITIES:
        extra['capabilities'] = _RUN_CAPABILITIES
    if 'toolResults' in frame:  # a resume of a deferred turn (feature deferred_tools; see _deferred)
        results = tool_results(frame['toolResults'])
        check_answers(history or [], results)
        extra['deferred_tool_results'] = results
    run_output_type = extra.get('output_type')
    # A streamed run whose output is not plain text emits partial outputs instead of text deltas.
    partial = stream and (run_output_type is not None or streams_output(agent))
    async with agent.iter(prompt, message_history=history, toolsets=toolsets, **extra) as run:
        node: Any = run.next_node
        while not isinstance(node, End) and run.result is None:
            if partial and AbstractAgent.is_model_request_node(node):
                require_finish_reason(run.ctx.deps.model)
                async with node.stream(run.ctx) as agent_stream:
                    await stream_partial_outputs(agent_stream, lambda out: emit(_event(run_id, {'kind': 'output', 'output': out})), jsonable_output)
            elif stream and AbstractAgent.is_model_request_node(node):
                require_finish_reason(run.ctx.deps.model)  # a cut stream fails the turn (_provider)
                async with node.stream(run.ctx) as events:
                    async for ev in events:
                        if (delta := _text_delta(ev)) is not None:
                            emit(_event(run_id, {'kind': 'text_delta', 'delta': delta}))
            elif AbstractAgent.is_call_tools_node(node):
                async with node.stream(run.ctx) as events:
                    async for ev in events:
                        if (tool_ev := _tool_event(ev)) is not None:
                            emit(_event(run_id, tool_ev))
            node = await run.next(node)
    result = run.result
    if result is None:  # pragma: no cover - pydantic-ai guarantees a result once the graph ends
        raise RuntimeError('agent run ended without a result')
    messages = ModelMessagesTypeAdapter.dump_python(result.new_messages(), mode='json')
    if is_deferred(result.output):  # the turn waits for approvals / external results
        wire = deferred_wire(result.output)
        return {'t': 'result', 'id': run_id, 'output': None, 'outputType': _DEFERRED, 'deferred': wire, 'messages': messages, 'usage': _usage(result.usage)}
    return {
        't': 'result',
        'id': run_id,
        'output': jsonable_output(result.output),
        'outputType': output_type_name(result.output) if run_output_type is None or not isinstance(result.output, dict) else structured_output_name(run_output_type),
        'messages': messages,
        'usage': _usage(result.usage),
    }


def _handler_args(loaded: LoadedAgent, frame: dict[str, Any], prompt: Any) -> tuple[Any, ...]:
    """``(RunInput,)``, ``(prompt,)`` or ``(prompt, history)``, as the handler's signature asks."""
    if loaded.handler_takes_input:
        options = frame.get('options') or {}
        conversation_id = frame.get('conversationId')
        return (RunInput(prompt=prompt, deps=options.get('deps'), history=frame['history'], metadata=options.get('metadata'), conversation_id=conversation_id if isinstance(conversation_id, str) else None),)
    return (prompt,) if loaded.handler_arity == 1 else (prompt, frame['history'])


async def _run_handler(loaded: LoadedAgent, frame: dict[str, Any], emit: Emit) -> dict[str, Any]:
    prompt = user_prompt(frame['prompt'])  # before the handler runs: a bad part fails the turn, nothing ran
    args = _handler_args(loaded, frame, prompt)
    if loaded.handler_is_async:
        out = loaded.handler(*args)
    else:  # like pydantic-ai's sync tools: off the loop, so a slow handler does not stall it
        out = await asyncio.to_thread(loaded.handler, *args)
    if inspect.isawaitable(out):
        out = await out
    if inspect.isasyncgen(out):
        chunks: list[str] = []
        async for chunk in out:
            text = chunk if isinstance(chunk, str) else str(chunk)
            chunks.append(text)
            if frame['stream'] and text:
                emit(_event(frame['id'], {'kind': 'text_delta', 'delta': text}))
        out = ''.join(chunks)
    output = jsonable_output(out)
    return {
        't': 'result',
        'id': frame['id'],
        'output': output,
        'outputType': output_type_name(out),
        'messages': _handler_messages(prompt, output),
        'usage': dict(_ZERO_USAGE),
    }


@functools.cache
def _default_models() -> ModelResolver:
    return ModelResolver(None)


@functools.cache
def _handler_turn_template() -> tuple[dict[str, Any], dict[str, Any]]:
    """pydantic-ai's own JSON of a one-prompt request and a one-text response, dumped once: a
    handler's turn copies it with its own content and time (dumping per turn costs ~0.1 ms)."""
    turn = [ModelRequest(parts=[UserPromptPart(content='')]), ModelResponse(parts=[TextPart(content='')])]
    request, response = ModelMessagesTypeAdapter.dump_python(turn, mode='json')
    return request, response


def _handler_messages(prompt: Any, output: Any) -> list[Any]:
    """A handler's turn in pydantic-ai's message shape, so its conversation commits like an
    agent's: the user-prompt request (a multimodal prompt's content as pydantic-ai dumps it) and a
    text response (JSON text for a non-string output)."""
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    now = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    request, response = _handler_turn_template()
    return [
        {**request, 'parts': [{**request['parts'][0], 'content': dump_user_prompt(prompt), 'timestamp': now}], 'timestamp': now},
        {
            **response,
            'parts': [{**response['parts'][0], 'content': text}],
            'usage': {**response['usage'], 'details': {}},
            'timestamp': now,
        },
    ]


async def execute_run(
    loaded: LoadedAgent,
    frame: dict[str, Any],
    emit: Emit,
    toolsets: list[AbstractToolset[Any]],
    models: ModelResolver | None = None,
) -> dict[str, Any]:
    """Runs ``frame`` (a validated ``run``) on ``loaded``; returns the ``result`` frame.

    Events are passed to ``emit`` as they happen. Exceptions (including ``CancelledError``)
    propagate to the caller, which turns them into the ``error`` frame. ``models`` resolves the
    run's ``model`` options (default: a resolver of its own, relative to the process cwd). A plain
    handler ignores the run options, except that a ``handler(input: RunInput)`` sees the call's
    ``deps`` and ``metadata`` (``(prompt[, history])`` has no place for them).
    """
    if loaded.agent is not None:
        return await _run_agent(loaded, frame, emit, toolsets, models if models is not None else _default_models())
    if 'toolResults' in frame:  # a handler's turns never end deferred: nothing can be pending
        check_answers([], tool_results(frame['toolResults']))
    return await _run_handler(loaded, frame, emit)
