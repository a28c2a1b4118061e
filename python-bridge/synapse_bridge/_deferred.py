"""Human in the loop: pydantic-ai deferred tools across the wire (feature ``deferred_tools``).

A run ends *deferred* when its output is pydantic-ai's ``DeferredToolRequests``: a tool declared
with ``requires_approval=True`` (or raising ``ApprovalRequired``) waits for a person's approval,
an external tool (``ExternalToolset``, or a tool raising ``CallDeferred``) waits for a result
computed outside the agent. pydantic-ai only ends a run that way when the agent's ``output_type``
includes ``DeferredToolRequests``; otherwise it raises ``UserError`` ("A deferred tool call was
present, but `DeferredToolRequests` is not among output types") and the run fails. The bridge
does not add it per run: a run-level ``output_type`` is refused for an agent with output
validators and would replace the agent's own output spec, so the agent must declare it
(``docs/agents.md``, "Human in the loop").

Wire shapes (``docs/protocol.md``):

* ``result.deferred = {approvals: [{toolCallId, tool, args, metadata?}], calls: [...]}`` with
  ``output: null`` and ``outputType: 'DeferredToolRequests'``. The run's messages end with the
  model response whose calls are pending (plus, when that response also called ordinary tools,
  the request carrying their returns); they are committed like any turn's.
* ``run.toolResults = {approvals?: {id: answer}, calls?: {id: value}}``, an approval answer being
  ``true`` | ``false`` | ``{denied: message}`` | ``{approved: true, overrideArgs?: {...}}`` and a
  call's value any JSON (the tool's return). It becomes ``deferred_tool_results=`` of
  ``agent.iter``; ``run.prompt`` may then be ``null`` (no new user prompt).
"""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import ModelRequest, ModelResponse
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
from pydantic_core import to_jsonable_python

from .exceptions import InvalidArgumentError

__all__ = ['OUTPUT_TYPE', 'check_answers', 'deferred_wire', 'is_deferred', 'pending_call_ids', 'tool_results']

OUTPUT_TYPE = 'DeferredToolRequests'
"""``result.outputType`` of a run that ended in deferred tool requests."""


def is_deferred(output: Any) -> bool:
    """Whether a run's output is pydantic-ai's ``DeferredToolRequests``."""
    return isinstance(output, DeferredToolRequests)


def _call_wire(part: Any, metadata: dict[str, dict[str, Any]]) -> dict[str, Any]:
    try:
        args: Any = part.args_as_dict()
    except Exception:  # args the model produced are not valid JSON: forward them raw
        args = part.args
    entry: dict[str, Any] = {'toolCallId': part.tool_call_id, 'tool': part.tool_name, 'args': to_jsonable_python(args)}
    meta = metadata.get(part.tool_call_id)
    if meta:
        entry['metadata'] = to_jsonable_python(meta, fallback=repr)
    return entry


def deferred_wire(requests: DeferredToolRequests) -> dict[str, list[dict[str, Any]]]:
    """The ``result.deferred`` of a run whose output is ``requests``."""
    meta = requests.metadata
    return {
        'approvals': [_call_wire(p, meta) for p in requests.approvals],
        'calls': [_call_wire(p, meta) for p in requests.calls],
    }


def _bad(message: str, loc: list[str | int], msg: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, [{'type': 'value_error', 'loc': loc, 'msg': msg}])


def _approval(tool_call_id: str, answer: Any) -> bool | ToolApproved | ToolDenied:
    if answer is True or answer is False:
        return bool(answer)
    if isinstance(answer, dict):
        keys = set(answer)
        if keys == {'denied'} and isinstance(answer['denied'], str):
            return ToolDenied(answer['denied'])
        if answer.get('approved') is True and keys <= {'approved', 'overrideArgs'}:
            override = answer.get('overrideArgs')
            if override is None or isinstance(override, dict):
                return ToolApproved(override_args=override)
    raise _bad(
        f'toolResults.approvals[{tool_call_id!r}] must be true, false, {{"denied": message}} or '
        '{"approved": true, "overrideArgs"?: {...}}',
        ['approvals', tool_call_id],
        'invalid approval answer',
    )


def tool_results(value: Any) -> DeferredToolResults:
    """``run.toolResults`` as pydantic-ai ``DeferredToolResults``.

    Raises:
        InvalidArgumentError: a malformed answer (never echoing call values: they may be private).
    """
    if not isinstance(value, dict) or not set(value) <= {'approvals', 'calls'}:
        raise _bad('toolResults must be an object with only "approvals" and "calls"', [], 'invalid toolResults')
    approvals_in = value.get('approvals') or {}
    calls_in = value.get('calls') or {}
    if not isinstance(approvals_in, dict) or not isinstance(calls_in, dict):
        raise _bad('toolResults.approvals and toolResults.calls must be objects keyed by toolCallId', [], 'not an object')
    if not approvals_in and not calls_in:
        raise _bad('toolResults must answer at least one pending tool call', [], 'empty toolResults')
    both = sorted(set(approvals_in) & set(calls_in))
    if both:
        raise _bad(f'toolCallId {both[0]!r} is answered in both toolResults.approvals and toolResults.calls', [both[0]], 'answered twice')
    approvals = {k: _approval(k, a) for k, a in approvals_in.items()}
    return DeferredToolResults(approvals=approvals, calls=dict(calls_in))


def pending_call_ids(history: list[Any]) -> list[str]:
    """The tool call ids of the history's last model response that no later request answers
    (the calls a run ended deferred on), in call order; ``[]`` when nothing is pending."""
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if isinstance(message, ModelResponse):
            answered = {
                getattr(p, 'tool_call_id', None)
                for later in history[index + 1 :]
                if isinstance(later, ModelRequest)
                for p in later.parts
                if p.part_kind in ('tool-return', 'retry-prompt')
            }
            return [c.tool_call_id for c in message.tool_calls if c.tool_call_id not in answered]
    return []


def check_answers(history: list[Any], results: DeferredToolResults) -> None:
    """Raises :class:`InvalidArgumentError` unless ``results`` answers exactly the pending calls
    of ``history`` (Node checks this first; this guards a peer that did not)."""
    pending = pending_call_ids(history)
    given = set(results.approvals) | set(results.calls)
    unknown = sorted(given - set(pending))
    missing = [i for i in pending if i not in given]
    if not pending:
        raise _bad('toolResults were given, but the conversation has no pending tool calls', [], 'nothing pending')
    if unknown or missing:
        what = f'unknown toolCallId(s) {", ".join(unknown)}' if unknown else f'no answer for {", ".join(missing)}'
        raise _bad(f'toolResults must answer every pending tool call ({", ".join(pending)}): {what}', [], 'pending mismatch')
