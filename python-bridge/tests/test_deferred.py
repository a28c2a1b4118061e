"""Human in the loop (issue #12): a run that ends in ``DeferredToolRequests`` answers with
``result.deferred``; ``run.toolResults`` resumes it with ``deferred_tool_results``. Unit tests of
``_deferred`` and the schema, runs through ``execute_run``, and the same over a real runtime."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai.tools import ToolApproved, ToolDenied

from synapse_bridge._agents import LoadedAgent, load_agents
from synapse_bridge._deferred import OUTPUT_TYPE, check_answers, pending_call_ids, tool_results
from synapse_bridge._runner import execute_run
from synapse_bridge._schema import FEATURES, validate_from_node, validate_from_python
from synapse_bridge.exceptions import InvalidArgumentError, ProtocolError
from pydantic_ai import ModelMessagesTypeAdapter

from conftest import REPO, Bridge, run_frame

APPROVAL = 'examples/agents/approval.py:agent'
PLAIN = 'examples/agents/approval.py:plain_agent'


def _load(ref: str = APPROVAL) -> LoadedAgent:
    return load_agents([{'name': 'a', 'ref': ref}], str(REPO))['a']


async def _run(loaded: LoadedAgent, prompt: str | None, history: list[Any] | None = None, tool_results_: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {**run_frame('r', 'a', prompt or '', history=history), 'prompt': prompt}
    if tool_results_ is not None:
        frame['toolResults'] = tool_results_
    validate_from_node(frame)
    result = await execute_run(loaded, frame, lambda _f: None, [])
    validate_from_python(result)
    return result


# ── _deferred ────────────────────────────────────────────────────────────────


def test_tool_results_build_pydantic_ai_answers() -> None:
    r = tool_results(
        {'approvals': {'a': True, 'b': False, 'c': {'denied': 'no'}, 'd': {'approved': True, 'overrideArgs': {'x': 1}}}, 'calls': {'e': {'v': 1}}}
    )
    assert r.approvals['a'] is True and r.approvals['b'] is False
    assert r.approvals['c'] == ToolDenied('no')
    assert r.approvals['d'] == ToolApproved(override_args={'x': 1})
    assert r.calls == {'e': {'v': 1}}


@pytest.mark.parametrize(
    'bad',
    [
        {'approvals': {'a': 'yes'}},
        {'approvals': {'a': {'denied': 3}}},
        {'approvals': {'a': {'approved': True, 'overrideArgs': [1]}}},
        {'approvals': {'a': {'approved': False}}},
        {'approvals': {'a': True}, 'calls': {'a': 1}},
        {'approvals': [], 'calls': {}},
        {},
        {'other': {}},
        'x',
    ],
)
def test_malformed_tool_results_are_invalid_arguments(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        tool_results(bad)


def test_schema_run_tool_results_and_result_deferred() -> None:
    assert 'deferred_tools' in FEATURES
    frame = {**run_frame('r', 'a', 'x'), 'prompt': None, 'toolResults': {'approvals': {'c1': True}}}
    assert validate_from_node(frame) is frame
    with pytest.raises(ProtocolError, match="'prompt'"):
        validate_from_node({**run_frame('r', 'a', 'x'), 'prompt': None})  # null prompt only with toolResults
    with pytest.raises(ProtocolError, match="'toolResults.calls'"):
        validate_from_node({**run_frame('r', 'a', 'x'), 'toolResults': {'calls': []}})
    with pytest.raises(ProtocolError, match="'toolResults'"):
        validate_from_node({**run_frame('r', 'a', 'x'), 'toolResults': 3})
    usage = {'requests': 0, 'inputTokens': 0, 'outputTokens': 0, 'totalTokens': 0, 'toolCalls': 0}
    ok = {'t': 'result', 'id': 'r', 'output': None, 'messages': [], 'usage': usage, 'deferred': {'approvals': [{'toolCallId': 'c', 'tool': 't', 'args': {}}], 'calls': []}}
    assert validate_from_python(ok) is ok
    with pytest.raises(ProtocolError, match="'deferred.calls'"):
        validate_from_python({**ok, 'deferred': {'approvals': []}})
    with pytest.raises(ProtocolError, match="'deferred.approvals\\[0\\].toolCallId'"):
        validate_from_python({**ok, 'deferred': {'approvals': [{'tool': 't'}], 'calls': []}})


# ── runs ─────────────────────────────────────────────────────────────────────


async def test_approval_ends_deferred_then_approve_runs_the_tool() -> None:
    loaded = _load()
    first = await _run(loaded, 'refund 42 30')
    assert (first['output'], first['outputType']) == (None, OUTPUT_TYPE)
    [call] = first['deferred']['approvals']
    assert (call['tool'], call['args'], first['deferred']['calls']) == ('refund', {'order_id': 42, 'amount': 30}, [])
    history = first['messages']
    assert history[-1]['kind'] == 'response'  # the pending call is kept in the committed messages
    assert pending_call_ids(ModelMessagesTypeAdapter.validate_python(history)) == [call['toolCallId']]
    done = await _run(loaded, None, history, {'approvals': {call['toolCallId']: True}})
    assert (done['output'], done['outputType']) == ('refund: refunded $30.00 on order 42', 'str')
    assert 'deferred' not in done
    assert [m['kind'] for m in done['messages']] == ['request', 'response']  # no new user prompt


async def test_denial_override_and_external_values_reach_the_model() -> None:
    loaded = _load()
    first = await _run(loaded, 'both 7 10')
    [appr], [ext] = first['deferred']['approvals'], first['deferred']['calls']
    assert ext['tool'] == 'courier_quote'
    # The ordinary tool ran at once: its return closes the deferred turn's messages.
    assert [m['kind'] for m in first['messages']][-2:] == ['response', 'request']
    denied = await _run(loaded, None, first['messages'], {'approvals': {appr['toolCallId']: {'denied': 'over limit'}}, 'calls': {ext['toolCallId']: '$4'}})
    assert denied['output'] == 'order_status: order 7 delivered; refund: over limit; courier_quote: $4'
    override = await _run(loaded, None, first['messages'], {'approvals': {appr['toolCallId']: {'approved': True, 'overrideArgs': {'order_id': 7, 'amount': 5}}}, 'calls': {ext['toolCallId']: '$4'}})
    assert override['output'] == 'order_status: order 7 delivered; refund: refunded $5.00 on order 7; courier_quote: $4'


async def test_answers_must_match_the_pending_calls() -> None:
    loaded = _load()
    first = await _run(loaded, 'refund 1 2')
    call_id = first['deferred']['approvals'][0]['toolCallId']
    with pytest.raises(InvalidArgumentError, match='unknown toolCallId'):
        await _run(loaded, None, first['messages'], {'approvals': {call_id: True, 'nope': True}})
    both = await _run(loaded, 'both 1 2')
    ext_id = both['deferred']['calls'][0]['toolCallId']
    with pytest.raises(InvalidArgumentError, match=f'no answer for {ext_id}'):
        await _run(loaded, None, both['messages'], {'approvals': {both['deferred']['approvals'][0]['toolCallId']: True}})
    with pytest.raises(InvalidArgumentError, match='no pending tool calls'):
        check_answers([], tool_results({'approvals': {'x': True}}))


async def test_an_agent_without_deferred_output_type_fails_with_pydantic_ai_s_error() -> None:
    with pytest.raises(Exception, match='DeferredToolRequests` is not among output types'):
        await _run(_load(PLAIN), 'quote 3')


# ── end to end ───────────────────────────────────────────────────────────────


def test_runtime_deferred_turn_and_resume(spawn: Any) -> None:
    b: Bridge = spawn()
    assert b.handshake({'a': APPROVAL})['t'] == 'ready'
    b.send(run_frame('r1', 'a', 'quote 9'))
    first, _ = b.terminal('r1')
    [ext] = first['deferred']['calls']
    b.send({**run_frame('r2', 'a', '', history=first['messages']), 'prompt': None, 'toolResults': {'calls': {'bogus': 1}}})
    err, _ = b.terminal('r2')
    assert (err['t'], err['kind']) == ('error', 'invalid_argument')
    b.send({**run_frame('r3', 'a', '', history=first['messages']), 'prompt': None, 'toolResults': {'calls': {ext['toolCallId']: 12.5}}})
    done, _ = b.terminal('r3')
    assert done['output'] == 'courier_quote: 12.5'
