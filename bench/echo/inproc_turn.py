"""Times ``agent.run`` of ``noop_agent.agent`` inside Python (no bridge), on the loop the bridge
runtime uses (uvloop when installed, like ``python -m synapse_bridge``). Prints one JSON line
``{"samplesUs": [...], "withMessagesUs": [...]}``: per-turn wall times of ``agent.run`` alone,
and of ``agent.run`` plus dumping its new messages to JSON (what a host that owns the history
must do with every turn). Usage: python inproc_turn.py <turns>"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from pydantic_ai import ModelMessagesTypeAdapter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from noop_agent import agent  # noqa: E402


async def main(turns: int) -> None:
    for _ in range(50):  # warm-up
        await agent.run('hi')
    samples = []
    with_messages = []
    for _ in range(turns):
        t0 = time.perf_counter()
        result = await agent.run('hi')
        t1 = time.perf_counter()
        ModelMessagesTypeAdapter.dump_json(result.new_messages())
        t2 = time.perf_counter()
        samples.append((t1 - t0) * 1e6)
        with_messages.append((t2 - t0) * 1e6)
    print(json.dumps({'samplesUs': samples, 'withMessagesUs': with_messages}))


if __name__ == '__main__':
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
    else:
        uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
