"""Times ``agent.run`` of ``noop_agent.agent`` inside Python (no bridge): prints one JSON line
``{"samplesUs": [...]}`` with per-turn wall times. Usage: python inproc_turn.py <turns>"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from noop_agent import agent  # noqa: E402


async def main(turns: int) -> None:
    for _ in range(50):  # warm-up
        await agent.run('hi')
    samples = []
    for _ in range(turns):
        t0 = time.perf_counter()
        await agent.run('hi')
        samples.append((time.perf_counter() - t0) * 1e6)
    print(json.dumps({'samplesUs': samples}))


if __name__ == '__main__':
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
