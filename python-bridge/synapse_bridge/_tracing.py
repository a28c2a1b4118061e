"""Continues the Node turn span's W3C trace context around a run (feature ``trace_context``).

Node sends ``run.options.trace`` (``{traceparent, tracestate?}``, a W3C text-map carrier) when
the turn has a span (``@opentelemetry/api`` installed and a span recording or a parent to
continue). The run task attaches the extracted context in its own (copied) ``contextvars``
context, so every span opened during the run — pydantic-ai's agent run, model request and tool
spans when the agent is instrumented (``Agent(instrument=...)``, ``Agent.instrument_all()``) —
is a child of the Node span, in the same trace. Nothing is detached: the task's context ends
with the task.

Always the W3C ``tracecontext`` format (``TraceContextTextMapPropagator``), whatever global
propagator is configured: that is what Node writes. Without ``opentelemetry-api`` importable the
field is ignored; a malformed ``traceparent`` is ignored by the propagator (the run's spans then
start a trace of their own, as the W3C spec asks).
"""

from __future__ import annotations

from typing import Any

__all__ = ['continue_trace']

_propagator: Any = None
"""``(TraceContextTextMapPropagator(), opentelemetry.context)`` once imported; ``False`` if not importable."""


def _otel() -> Any:
    global _propagator
    if _propagator is None:
        try:
            from opentelemetry import context
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError:
            _propagator = False
        else:
            _propagator = (TraceContextTextMapPropagator(), context)
    return _propagator


def continue_trace(frame: dict[str, Any]) -> bool:
    """Attaches the trace context of ``frame['options']['trace']`` to the current context.

    Call it first thing in the run's own task. Returns whether a context was attached (False:
    no ``trace`` field, or OpenTelemetry is not installed).
    """
    options = frame.get('options')
    carrier = options.get('trace') if options else None
    if carrier is None:
        return False
    otel = _otel()
    if not otel:
        return False
    propagator, context = otel
    context.attach(propagator.extract(carrier))
    return True
