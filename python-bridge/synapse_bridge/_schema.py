"""Hand-written schema checks of protocol v1 frames, both directions.

Mirrors ``src/protocol/frames.ts`` exactly (same rules, same vectors in
``tests/vectors/frames.json``): unknown fields are ignored, an unknown ``t`` or a malformed
field is a :class:`~synapse_bridge.exceptions.ProtocolError` naming the frame type and field.
Integers are non-negative (``bool`` is not an integer here), optional fields may be absent
but not ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, get_args

from .exceptions import ErrorKind, ProtocolError

__all__ = ['ERROR_KINDS', 'FEATURES', 'LOG_LEVELS', 'PROTOCOL_VERSION', 'validate_from_node', 'validate_from_python']

PROTOCOL_VERSION = 1
FEATURES = ('history_chunks', 'run_options', 'deps_factory', 'deferred_tools', 'structured_output', 'multimodal_prompt', 'trace_context', 'model_slots', 'gc_notices')
"""Optional protocol features this runtime announces in ``hello.features`` (see ``docs/protocol.md``)."""
ERROR_KINDS: frozenset[str] = frozenset(get_args(ErrorKind))
LOG_LEVELS = frozenset({'debug', 'info', 'warning', 'error'})
_MAX_SAFE_INT = 2**53 - 1

Obj = dict[str, Any]


def _bad(t: str, field: str, expected: str, value: Any, missing: bool = False) -> ProtocolError:
    got = 'missing' if missing else 'null' if value is None else type(value).__name__
    return ProtocolError(f'invalid {t!r} frame: field {field!r} must be {expected} (got {got})')


def _get(o: Obj, t: str, f: str, expected: str, ok: Callable[[Any], bool], prefix: str = '') -> Any:
    if f not in o:
        raise _bad(t, prefix + f, expected, None, missing=True)
    if not ok(o[f]):
        raise _bad(t, prefix + f, expected, o[f])
    return o[f]


def _opt(o: Obj, t: str, f: str, expected: str, ok: Callable[[Any], bool]) -> None:
    if f in o and not ok(o[f]):
        raise _bad(t, f, expected + ' when present', o[f])


def _is_str(x: Any) -> bool:
    return isinstance(x, str)


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool)


def _is_int(x: Any) -> bool:
    # JSON 3.0 decodes to float in Python but is an integer for JavaScript's Number.isSafeInteger.
    if isinstance(x, bool):
        return False
    if isinstance(x, float):
        return x.is_integer() and 0 <= x <= _MAX_SAFE_INT
    return isinstance(x, int) and 0 <= x <= _MAX_SAFE_INT


def _is_pos_int(x: Any) -> bool:
    return _is_int(x) and x >= 1


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _is_list(x: Any) -> bool:
    return isinstance(x, list)


def _is_obj(x: Any) -> bool:
    return isinstance(x, dict)


_STR, _INT, _POS, _NUM, _BOOL, _LIST, _OBJ = (
    ('a string', _is_str),
    ('an integer >= 0', _is_int),
    ('an integer >= 1', _is_pos_int),
    ('a finite number >= 0', _is_num),
    ('a boolean', _is_bool),
    ('an array', _is_list),
    ('an object', _is_obj),
)
_PROMPT = (
    # feature multimodal_prompt: a list of content parts; each part's meaning is checked when used (_prompt)
    'a string or a non-empty array of strings and objects with a string "kind"',
    lambda x: _is_str(x) or (_is_list(x) and len(x) > 0 and all(_is_str(p) or (_is_obj(p) and _is_str(p.get('kind'))) for p in x)),
)
_VERSION = (f'{PROTOCOL_VERSION} (the protocol version)', lambda x: _is_int(x) and x == PROTOCOL_VERSION)


def _items(o: Obj, t: str, f: str, each: Callable[[Any, str], None]) -> None:
    for i, item in enumerate(_get(o, t, f, *_LIST)):
        each(item, f'{f}[{i}]')


def _check_init(o: Obj, t: str) -> None:
    def agent(a: Any, where: str) -> None:
        if not _is_obj(a):
            raise _bad(t, where, 'an object', a)
        _get(a, t, 'name', *_STR, prefix=where + '.')
        _get(a, t, 'ref', *_STR, prefix=where + '.')
        _run_options(a, t, where + '.', with_call_fields=False)
        for hook in ('deps', 'lifespan'):  # feature deps_factory: refs, resolved by _deps
            if hook in a and not _is_str(a[hook]):
                raise _bad(t, f'{where}.{hook}', 'a string when present', a[hook])
        if 'retry' in a and not (_is_obj(a['retry']) and 'attempts' in a['retry']):  # checked in full by _retry
            raise _bad(t, f'{where}.retry', 'an object with "attempts" when present', a['retry'])
        if 'modelSlots' in a and not isinstance(a['modelSlots'], bool):  # feature model_slots (_slots)
            raise _bad(t, f'{where}.modelSlots', 'a boolean when present', a['modelSlots'])

    def tool(x: Any, where: str) -> None:
        if not _is_obj(x):
            raise _bad(t, where, 'an object', x)
        _get(x, t, 'name', *_STR, prefix=where + '.')
        _get(x, t, 'description', *_STR, prefix=where + '.')
        _get(x, t, 'parameters', *_OBJ, prefix=where + '.')

    _items(o, t, 'agents', agent)
    _items(o, t, 'tools', tool)
    _get(o, t, 'concurrency', *_POS)
    _get(o, t, 'maxFrameBytes', *_POS)
    _opt(o, t, 'cwd', *_STR)
    _opt(o, t, 'memoryLimitMb', *_INT)
    _opt(o, t, 'maxHistoryBytes', *_POS)
    _opt(o, t, 'gcNotices', *_BOOL)  # feature gc_notices (_control)
    _opt(o, t, 'gcThresholds', 'three integers >= 1', lambda x: _is_list(x) and len(x) == 3 and all(_is_pos_int(n) for n in x))
    _opt(o, t, 'v', *_VERSION)


def _check_run(o: Obj, t: str) -> None:
    # Fast path for the hot frame: the exact shape Node sends passes with plain type tests.
    # Anything else (including a valid frame it does not recognise) takes the precise checks,
    # which decide and name the bad field: the accepted set is the same either way.
    get = o.get
    if (
        type(get('id')) is str
        and type(get('agent')) is str
        and type(get('prompt')) is str
        and type(get('history')) is list
        and type(get('stream')) is bool
        and 'timeoutMs' in o
        and ((tm := o['timeoutMs']) is None or _is_num(tm))
        and type(get('conversationId', '')) is str
        and type(get('turnId', '')) is str
        and 'historyChunks' not in o
        and 'options' not in o
        and 'toolResults' not in o
    ):
        return
    _check_run_precisely(o, t)


def _check_run_precisely(o: Obj, t: str) -> None:
    for f in ('id', 'agent'):
        _get(o, t, f, *_STR)
    if 'toolResults' in o:  # a resume of a deferred turn (feature deferred_tools): prompt may be null
        _check_tool_results(_get(o, t, 'toolResults', *_OBJ), t)
        if o.get('prompt', '') is not None:
            _get(o, t, 'prompt', *_PROMPT)
    else:
        _get(o, t, 'prompt', *_PROMPT)
    _get(o, t, 'history', *_LIST)
    _get(o, t, 'timeoutMs', 'a finite number >= 0 or null', lambda x: x is None or _is_num(x))
    _get(o, t, 'stream', *_BOOL)
    _opt(o, t, 'conversationId', *_STR)
    _opt(o, t, 'turnId', *_STR)
    if 'historyChunks' in o:
        _opt(o, t, 'historyChunks', *_POS)
        if o['history']:
            raise _bad(t, 'history', 'an empty array when historyChunks is present', o['history'])
    if 'options' in o:
        _run_options(_get(o, t, 'options', *_OBJ), t, 'options.', with_call_fields=True)


def _check_tool_results(o: Obj, t: str) -> None:
    """``run.toolResults``: ``approvals`` / ``calls`` objects keyed by tool call id. The answers'
    meaning is checked when used (``_deferred.tool_results``)."""
    for f in ('approvals', 'calls'):
        if f in o and not _is_obj(o[f]):
            raise _bad(t, 'toolResults.' + f, 'an object when present', o[f])


def _run_options(o: Obj, t: str, prefix: str, *, with_call_fields: bool) -> None:
    """The run options of ``run.options`` (all eight) or of an ``init`` agent (model, modelSettings,
    usageLimits). ``metadata`` and ``deps`` are any JSON value; their meaning is checked when used."""

    def opt(f: str, expected: str, ok: Callable[[Any], bool]) -> None:
        if f in o and not ok(o[f]):
            raise _bad(t, prefix + f, expected + ' when present', o[f])

    opt('model', *_STR)
    opt('modelSettings', *_OBJ)
    opt('usageLimits', *_OBJ)
    if with_call_fields:
        opt('instructions', *_STR)
        opt('metadata', 'not null', lambda x: x is not None)
        opt('output', 'an object with a "schema" object', lambda x: _is_obj(x) and _is_obj(x.get('schema')))
        # feature trace_context: a W3C text-map carrier; its content is the propagator's to judge (_tracing)
        opt('trace', 'an object with a string "traceparent" (and a string "tracestate" when present)', _is_trace)


def _is_trace(x: Any) -> bool:
    return _is_obj(x) and _is_str(x.get('traceparent')) and ('tracestate' not in x or _is_str(x['tracestate']))


def _check_history_chunk(o: Obj, t: str) -> None:
    _get(o, t, 'id', *_STR)
    _get(o, t, 'data', *_STR)


def _check_tool_result(o: Obj, t: str) -> None:
    for f in ('id', 'callId'):
        _get(o, t, f, *_STR)
    _get(o, t, 'ok', *_BOOL)
    _opt(o, t, 'error', *_STR)


def _check_ids(o: Obj, t: str) -> None:
    for f in ('id', 'callId'):
        _get(o, t, f, *_STR)


_FROM_NODE: dict[str, Callable[[Obj, str], None]] = {
    'init': _check_init,
    'run': _check_run,
    'history_chunk': _check_history_chunk,
    'cancel': lambda o, t: _get(o, t, 'id', *_STR),
    'tool_result': _check_tool_result,
    'model_slot_grant': _check_ids,
    'ping': lambda o, t: _get(o, t, 'seq', *_INT),
    'shutdown': lambda o, t: None,
}


def _check_event(o: Obj, t: str) -> None:
    _get(o, t, 'id', *_STR)
    e = _get(o, t, 'event', *_OBJ)
    kind = e.get('kind')
    if kind == 'text_delta':
        _get(e, t, 'delta', *_STR, prefix='event.')
    elif kind in ('tool_call', 'tool_result'):
        _get(e, t, 'tool', *_STR, prefix='event.')
        _get(e, t, 'toolCallId', *_STR, prefix='event.')
    elif kind == 'output':  # a partial structured output (feature structured_output)
        _get(e, t, 'output', 'present', lambda x: True, prefix='event.')
    else:
        raise _bad(t, 'event.kind', '"text_delta", "tool_call", "tool_result" or "output"', kind, missing='kind' not in e)


def _check_result(o: Obj, t: str) -> None:
    _get(o, t, 'id', *_STR)
    _get(o, t, 'output', 'present', lambda x: True)
    if 'outputType' in o:
        _get(o, t, 'outputType', *_STR)
    if 'deferred' in o:  # the run ended in DeferredToolRequests (feature deferred_tools)
        d = _get(o, t, 'deferred', *_OBJ)
        for f in ('approvals', 'calls'):
            for i, c in enumerate(_get(d, t, f, *_LIST, prefix='deferred.')):
                where = f'deferred.{f}[{i}].'
                if not _is_obj(c):
                    raise _bad(t, where[:-1], 'an object', c)
                _get(c, t, 'toolCallId', *_STR, prefix=where)
                _get(c, t, 'tool', *_STR, prefix=where)
    _get(o, t, 'messages', *_LIST)
    u = _get(o, t, 'usage', *_OBJ)
    for f in ('requests', 'inputTokens', 'outputTokens', 'totalTokens', 'toolCalls'):
        _get(u, t, f, *_INT, prefix='usage.')


def _check_error(o: Obj, t: str) -> None:
    _get(o, t, 'id', 'a string or null', lambda x: x is None or _is_str(x))
    _get(o, t, 'kind', 'one of ' + ', '.join(sorted(ERROR_KINDS)), lambda x: x in ERROR_KINDS)
    for f in ('type', 'message', 'traceback'):
        _get(o, t, f, *_STR)
    _get(o, t, 'retryable', *_BOOL)
    _opt(o, t, 'errors', *_LIST)
    _opt(o, t, 'option', *_STR)
    _opt(o, t, 'provider', 'an object with a string "category"', lambda x: _is_obj(x) and _is_str(x.get('category')))


def _check_hello(o: Obj, t: str) -> None:
    _get(o, t, 'v', *_VERSION)
    _get(o, t, 'pid', *_INT)
    _get(o, t, 'python', *_STR)
    _get(o, t, 'pydanticAi', *_STR)
    _opt(o, t, 'bridge', *_STR)
    _opt(o, t, 'features', 'an array of strings', lambda x: _is_list(x) and all(_is_str(f) for f in x))


def _check_ready(o: Obj, t: str) -> None:
    def name(x: Any, where: str) -> None:
        if not _is_str(x):
            raise _bad(t, where, 'a string', x)

    _items(o, t, 'agents', name)


def _check_pong(o: Obj, t: str) -> None:
    _get(o, t, 'seq', *_INT)
    _get(o, t, 'loopLagMs', *_NUM)
    _get(o, t, 'rssBytes', *_INT)
    _get(o, t, 'inFlight', *_INT)


_GC_PHASES = frozenset({'start', 'stop'})


def _check_gc(o: Obj, t: str) -> None:
    _get(o, t, 'phase', '"start" or "stop"', lambda x: x in _GC_PHASES)
    _opt(o, t, 'pauseMs', *_NUM)


def _check_log(o: Obj, t: str) -> None:
    _get(o, t, 'level', '"debug", "info", "warning" or "error"', lambda x: x in LOG_LEVELS)
    _get(o, t, 'logger', *_STR)
    _get(o, t, 'msg', *_STR)
    _opt(o, t, 'id', *_STR)


def _check_tool_call(o: Obj, t: str) -> None:
    for f in ('id', 'callId', 'tool'):
        _get(o, t, f, *_STR)


def _check_model_slot(o: Obj, t: str) -> None:
    for f in ('id', 'callId'):
        _get(o, t, f, *_STR)
    _opt(o, t, 'estTokens' if t == 'model_slot' else 'tokens', *_INT)


_FROM_PYTHON: dict[str, Callable[[Obj, str], None]] = {
    'hello': _check_hello,
    'ready': _check_ready,
    'event': _check_event,
    'result': _check_result,
    'error': _check_error,
    'tool_call': _check_tool_call,
    'model_slot': _check_model_slot,
    'model_slot_release': _check_model_slot,
    'pong': _check_pong,
    'gc': _check_gc,
    'log': _check_log,
    'bye': lambda o, t: None,
}


def _validate(value: Any, table: dict[str, Callable[[Obj, str], None]], direction: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError('frame is not a JSON object with a "t" field')
    t = value.get('t')
    check = table.get(t) if isinstance(t, str) else None
    if check is None:
        raise ProtocolError(f'unknown frame type {t!r} (not a known {direction} frame)')
    check(value, t)
    return value


def validate_from_node(value: Any) -> dict[str, Any]:
    """Checks a decoded Node → Python frame; returns it unchanged.

    Raises:
        ProtocolError: not an object, unknown ``t``, or a missing/malformed field.
    """
    return _validate(value, _FROM_NODE, 'Node → Python')


def validate_from_python(value: Any) -> dict[str, Any]:
    """Checks a decoded Python → Node frame; returns it unchanged.

    Raises:
        ProtocolError: not an object, unknown ``t``, or a missing/malformed field.
    """
    return _validate(value, _FROM_PYTHON, 'Python → Node')
