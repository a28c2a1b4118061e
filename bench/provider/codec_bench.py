"""Micro-bench of the frame codec (``synapse_bridge._framing``): the stdlib ``json`` codec it
uses vs ``pydantic_core.from_json`` / ``to_json``, on real frames of a real turn.

The frames are built the way the bridge builds them: one turn of ``bench/provider/agent.py``
against an in-process LLMock server, its ``result`` frame made by ``_runner`` the same way
(``ModelMessagesTypeAdapter.dump_python(mode='json')``), and two ``run`` frames as Node sends
them — a first turn (no history) and a turn carrying the history of 10 earlier turns.

Usage: ``python codec_bench.py [repeats]``. Prints a markdown table: median µs per
encode/decode over 7 blocks of ``repeats`` calls, and the speed-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import pydantic_core
from llmock.simulation import MockResponseSettings
from llmock.testing import LLMockServer
from pydantic_ai import ModelMessagesTypeAdapter

from synapse_bridge import _framing


def real_frames() -> dict[str, dict[str, Any]]:
    with LLMockServer(responses=MockResponseSettings(response_style='static')) as server:
        os.environ['BENCH_OPENAI_BASE_URL'] = server.base_url('openai')
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from agent import agent  # noqa: PLC0415

        async def turns() -> list[Any]:
            history: list[Any] = []
            last = None
            for i in range(11):
                last = await agent.run(f'Where is order {i}? Say something about café ☃.', message_history=history)
                history = last.all_messages()
            return [last, history]

        last, history = asyncio.run(turns())
    messages = ModelMessagesTypeAdapter.dump_python(last.new_messages(), mode='json')
    usage = last.usage
    result = {
        't': 'result',
        'id': 'r-0123456789',
        'output': last.output,
        'outputType': 'str',
        'messages': messages,
        'usage': {'requests': usage.requests, 'inputTokens': usage.input_tokens, 'outputTokens': usage.output_tokens, 'totalTokens': usage.total_tokens, 'toolCalls': usage.tool_calls},
    }
    earlier = ModelMessagesTypeAdapter.dump_python(history[:-2], mode='json')
    run_first = {'t': 'run', 'id': 'r-0123456789', 'agent': 'bench', 'prompt': 'Where is order 42?', 'history': [], 'timeoutMs': 60000, 'stream': False}
    run_history = {**run_first, 'history': earlier}
    return {'run (first turn)': run_first, 'run (10 turns of history)': run_history, 'result (one turn)': result}


def timed(a: Any, b: Any, arg: Any, repeats: int) -> tuple[float, float]:
    """Median µs per call of ``a(arg)`` and ``b(arg)``, measured in 7 alternating blocks (a, b,
    a, b, …) so a slow phase of a shared machine hits both alike."""
    blocks: tuple[list[float], list[float]] = ([], [])
    for _ in range(7):
        for fn, out in ((a, blocks[0]), (b, blocks[1])):
            t0 = time.perf_counter()
            for _ in range(repeats):
                fn(arg)
            out.append((time.perf_counter() - t0) / repeats * 1e6)
    return statistics.median(blocks[0]), statistics.median(blocks[1])


def main(repeats: int) -> None:
    frames = real_frames()
    decoder = _framing._DECODER
    encoder = _framing._ENCODER
    rows = []
    for name, frame in frames.items():
        line = encoder.encode(frame).encode('utf-8')
        assert pydantic_core.from_json(line, allow_inf_nan=False) == decoder.decode(line.decode('utf-8'))
        same_bytes = pydantic_core.to_json(frame) == line
        dec_json, dec_pc = timed(lambda b: decoder.decode(b.decode('utf-8')), lambda b: pydantic_core.from_json(b, allow_inf_nan=False), line, repeats)
        enc_json, enc_pc = timed(lambda f: encoder.encode(f).encode('utf-8'), pydantic_core.to_json, frame, repeats)
        rows.append((name, len(line), dec_json, dec_pc, enc_json, enc_pc, same_bytes))
    print('| frame | bytes | decode json µs | decode pydantic_core µs | speed-up | encode json µs | encode pydantic_core µs | speed-up | same bytes |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for name, size, dj, dp, ej, ep, same in rows:
        print(f'| {name} | {size} | {dj:.1f} | {dp:.1f} | {dj / dp:.2f}× | {ej:.1f} | {ep:.1f} | {ej / ep:.2f}× | {"yes" if same else "no"} |')
    print(json.dumps({'pydantic_core': pydantic_core.__version__, 'python': sys.version.split()[0]}))


if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
