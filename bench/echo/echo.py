"""Minimal NDJSON echo over stdio: the baseline for the bridge benchmark (bench/bridge.ts).

Reads ``{"t":"run","id":…,"prompt":…}`` lines from stdin and answers each with
``{"t":"result","id":…,"output":…}`` on stdout: the same pipe and JSON cost as the bridge,
without the runtime (no asyncio, no validation, no pydantic-ai).
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        frame = json.loads(line)
        out.write(json.dumps({'t': 'result', 'id': frame['id'], 'output': frame['prompt']}, separators=(',', ':')).encode() + b'\n')
        out.flush()


if __name__ == '__main__':
    main()
