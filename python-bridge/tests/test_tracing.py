"""Trace context across the process boundary (issue #15 §2): ``run.options.trace`` continued around
the run so pydantic-ai's own spans join the Node turn's trace; ignored without OpenTelemetry; the
same through a real runtime subprocess (spans exported by ``test/fixtures/agents/traced.py``)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.test import TestModel

from synapse_bridge import _tracing
from synapse_bridge._schema import FEATURES
from synapse_bridge._tracing import continue_trace

from conftest import Bridge, run_frame

TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
PARENT_ID = '00f067aa0ba902b7'
TRACEPARENT = f'00-{TRACE_ID}-{PARENT_ID}-01'


def _instrumented() -> tuple[Agent[None, str], InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agent: Agent[None, str] = Agent(TestModel(), capabilities=[Instrumentation(settings=InstrumentationSettings(tracer_provider=provider))])

    @agent.tool_plain
    def lookup(city: str) -> str:
        return f'sunny in {city}'

    return agent, exporter


async def _run_in_task(agent: Agent[None, str], frame: dict[str, Any]) -> bool:
    """Like the runtime: a task of its own, in a copied context, continuing the frame's trace."""

    async def task() -> bool:
        attached = continue_trace(frame)
        await agent.run('hi')
        return attached

    return await asyncio.get_running_loop().create_task(task(), context=contextvars.copy_context())


def _frame(trace_ctx: Any) -> dict[str, Any]:
    return {**run_frame('r1', 'a', 'hi'), 'options': {'trace': trace_ctx}}


def test_the_feature_is_announced() -> None:
    assert 'trace_context' in FEATURES


async def test_pydantic_ai_spans_join_the_remote_trace_under_the_node_span() -> None:
    agent, exporter = _instrumented()
    assert await _run_in_task(agent, _frame({'traceparent': TRACEPARENT, 'tracestate': 'vendor=opaque'}))
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert any(n.startswith('chat ') for n in names) and any('lookup' in n for n in names), names  # model request + tool spans
    assert {format(s.context.trace_id, '032x') for s in spans} == {TRACE_ID}
    roots = [s for s in spans if s.parent is not None and format(s.parent.span_id, '016x') == PARENT_ID]
    assert len(roots) == 1 and roots[0].parent is not None and roots[0].parent.is_remote  # the agent run span
    assert roots[0].parent.trace_state.to_header() == 'vendor=opaque'
    assert all(s.parent is not None for s in spans)  # nothing starts a trace of its own
    # The context stayed in the run's task: this one has no active span.
    assert not trace.get_current_span().get_span_context().is_valid


@pytest.mark.parametrize('options', [None, {}, {'deps': 1}])
async def test_a_run_without_trace_context_starts_its_own_trace(options: Any) -> None:
    agent, exporter = _instrumented()
    frame = run_frame('r1', 'a', 'hi') if options is None else {**run_frame('r1', 'a', 'hi'), 'options': options}
    assert not await _run_in_task(agent, frame)
    spans = exporter.get_finished_spans()
    assert spans and all(format(s.context.trace_id, '032x') != TRACE_ID for s in spans)
    assert [s for s in spans if s.parent is None]  # a root of its own


async def test_a_malformed_traceparent_is_ignored() -> None:
    agent, exporter = _instrumented()
    await _run_in_task(agent, _frame({'traceparent': '00-not-a-trace-01'}))
    spans = exporter.get_finished_spans()
    assert spans and [s for s in spans if s.parent is None]


async def test_without_opentelemetry_the_field_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tracing, '_propagator', None)  # forget the cached import
    for name in [m for m in sys.modules if m == 'opentelemetry' or m.startswith('opentelemetry.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'opentelemetry', None)  # `import opentelemetry` raises ImportError
    assert continue_trace(_frame({'traceparent': TRACEPARENT})) is False
    assert _tracing._propagator is False  # tried once, then remembered


def test_through_a_real_runtime_the_spans_are_children_of_the_sent_context(spawn: Any, tmp_path: Path) -> None:
    spans_file = tmp_path / 'spans.jsonl'
    b: Bridge = spawn(env={'SYNAPSE_TEST_SPANS': str(spans_file)})
    assert b.handshake({'traced': 'test/fixtures/agents/traced.py:agent'})['t'] == 'ready'
    b.send({**run_frame('r1', 'traced', 'ok'), 'options': {'trace': {'traceparent': TRACEPARENT}}})
    result, _ = b.terminal('r1')
    assert result['t'] == 'result' and result['output'] == 'done: sunny in Paris'
    b.send(run_frame('r2', 'traced', 'ok'))  # no trace context: a trace of its own
    assert b.terminal('r2')[0]['t'] == 'result'
    b.send({'t': 'shutdown'})
    b.rest()
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    continued = [s for s in spans if s['traceId'] == TRACE_ID]
    # the agent run (under the sent parent), its two model requests and the tool call
    assert sorted(s['name'] for s in continued) == ['chat function:_model:_stream'] * 2 + ['execute_tool lookup', 'invoke_agent traced'], spans
    (run,) = [s for s in continued if s['parentSpanId'] == PARENT_ID]
    assert run['name'] == 'invoke_agent traced' and run['parentIsRemote']
    assert all(s['parentSpanId'] == run['spanId'] for s in continued if s is not run)
    others = [s for s in spans if s['traceId'] != TRACE_ID]
    assert others and len({s['traceId'] for s in others}) == 1
