"""The loopback OpenAI-compatible server of ``bench/provider.ts``: LLMock (PyPI ``llmock``, the
test harness's provider server) with a fixed added latency per request.

Usage: ``python server.py [--latency-ms N]``. Binds an OS-chosen free port on 127.0.0.1, prints
one JSON line ``{"url": "http://127.0.0.1:PORT"}`` once it accepts connections, serves until
its stdin reaches EOF (the bench closes it, or dies), then stops and exits.

``static`` responses: the same short answer for every prompt, so every turn costs the same.
The latency is LLMock's own chaos setting (an ``asyncio.sleep`` before the answer), so N
requests in flight really wait concurrently on the server, as on a remote provider.
"""

from __future__ import annotations

import argparse
import json
import sys

from llmock.chaos import ChaosSettings
from llmock.simulation import MockResponseSettings
from llmock.testing import LLMockServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--latency-ms', type=int, default=0)
    args = parser.parse_args()
    server = LLMockServer(
        chaos=ChaosSettings(latency_ms=args.latency_ms).validated(),
        responses=MockResponseSettings(response_style='static'),
    )
    server.start()
    try:
        sys.stdout.write(json.dumps({'url': server.url}) + '\n')
        sys.stdout.flush()
        sys.stdin.buffer.read()
    finally:
        server.stop()


if __name__ == '__main__':
    main()
