"""Where an agent turn's bridge overhead goes, in-process: ``agent.run`` vs the runtime's own
run driver (``_drive_agent``: node by node, tool events, new messages dumped to JSON) vs that
plus encoding the ``result`` frame, alternated on the loop the runtime uses.

Usage: ``.venv/bin/python bench/echo/turn_breakdown.py [turns]`` → one JSON line of medians (µs).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from noop_agent import agent  # noqa: E402

from synapse_bridge._framing import encode_frame  # noqa: E402
from synapse_bridge._runner import _drive_agent  # noqa: E402  (the runtime's private driver, on purpose)


async def main(turns: int) -> None:
    frame = {'id': 'x', 'stream': False, 'prompt': 'hi', 'history': [], 'timeoutMs': None}
    for _ in range(100):  # warm-up
        await agent.run('hi')
        await _drive_agent(agent, frame, lambda f: None, [])
    out: dict[str, list[float]] = {'agentRunUs': [], 'driverUs': [], 'driverAndEncodeUs': []}
    for _ in range(turns):
        t0 = time.perf_counter()
        await agent.run('hi')
        t1 = time.perf_counter()
        result = await _drive_agent(agent, frame, lambda f: None, [])
        t2 = time.perf_counter()
        encode_frame(result)
        t3 = time.perf_counter()
        out['agentRunUs'].append((t1 - t0) * 1e6)
        out['driverUs'].append((t2 - t1) * 1e6)
        out['driverAndEncodeUs'].append((t3 - t1) * 1e6)
    print(json.dumps({k: round(sorted(v)[len(v) // 2]) for k, v in out.items()}))


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(n))
    else:
        uvloop.run(main(n))
