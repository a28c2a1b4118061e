"""Peer 2: the same pydantic-ai agent behind python-shell (JSON mode, one call at a time).

Reads one JSON object per stdin line (``{"prompt", "history"?}``), runs the agent with
``run_sync`` and prints one JSON line ``{"output", "messages"}`` (or ``{"error"}``) — the
request/response loop python-shell users write. Prints ``{"ready": true}`` once loaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_core import to_jsonable_python

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import load_agent  # noqa: E402


def main() -> None:
    agent = load_agent(sys.argv[1])
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
            history = ModelMessagesTypeAdapter.validate_python(req['history']) if req.get('history') else None
            result = agent.run_sync(req['prompt'], message_history=history)
            reply = {'output': result.output, 'messages': to_jsonable_python(result.new_messages())}
        except Exception as exc:  # reported to the caller, like an HTTP 500
            reply = {'error': f'{type(exc).__name__}: {exc}'}
        print(json.dumps(reply), flush=True)


if __name__ == '__main__':
    main()
