"""The floor of ``bench/provider.ts``: the same pydantic-ai agent (``agent.py``) run in-process
in this one Python process, ``n`` turns kept in flight with asyncio tasks (closed loop: each
task starts its next turn as soon as the previous one returns), on the loop the bridge's
workers use (uvloop when installed, as ``python -m synapse_bridge``).

Driven over stdin/stdout by the bench, one JSON line each way, so it is measured in the same
run, against the same server, interleaved with Synapse:

    in:  {"n": 32, "warmup": 1.0, "seconds": 5.0}
    out: {"n": 32, "ok": 1234, "errors": 0, "seconds": 5.01, "latenciesMs": [...], "maxRssBytes": ...}

The process exits at stdin EOF. A turn that raises counts as an error (its message goes to
stderr once per kind); the latency list holds successful turns of the measured window only.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from agent import agent  # noqa: E402


async def window(n: int, seconds: float, record: bool) -> dict[str, object]:
    end = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0
    kinds: set[str] = set()
    counter = 0

    async def lane() -> None:
        nonlocal errors, counter
        while time.perf_counter() < end:
            counter += 1
            t0 = time.perf_counter()
            try:
                await agent.run(f'Where is order {counter}?')
            except Exception as exc:  # noqa: BLE001 - counted and reported, like the Node side
                errors += 1
                kind = type(exc).__name__
                if kind not in kinds:
                    kinds.add(kind)
                    print(f'inproc: turn failed: {exc!r}', file=sys.stderr)
                await asyncio.sleep(0.05)
                continue
            if record:
                latencies.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(n)))
    return {'ok': len(latencies), 'errors': errors, 'seconds': time.perf_counter() - t0, 'latenciesMs': latencies}


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    sys.stdout.write(json.dumps({'ready': True}) + '\n')
    sys.stdout.flush()
    while line := await reader.readline():
        cmd = json.loads(line)
        n = int(cmd['n'])
        if cmd.get('warmup', 0) > 0:
            await window(n, float(cmd['warmup']), record=False)
        result = await window(n, float(cmd['seconds']), record=True)
        result['n'] = n
        result['cpuSeconds'] = time.process_time()
        result['maxRssBytes'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        sys.stdout.write(json.dumps(result) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
