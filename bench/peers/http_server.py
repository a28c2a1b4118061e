"""Peer 1: the same pydantic-ai agent served over HTTP by FastAPI + uvicorn.

Configuration, on purpose the defaults a team would start with: ``uvicorn.run`` with one
worker process, ``loop='auto'`` / ``http='auto'`` (uvloop + httptools, installed by
``uvicorn[standard]``), no supervisor. ``POST /run {"prompt", "history"?}`` runs one agent turn
and answers ``{"output", "messages"}`` (new messages as ``ModelMessagesTypeAdapter`` JSON), like
a Synapse turn.

Usage: ``python bench/peers/http_server.py --agent examples/agents/support.py:agent --port 8123 [--workers N]``
(prints ``Application startup complete.`` on stderr when ready).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_core import to_jsonable_python

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import load_agent  # noqa: E402


class RunRequest(BaseModel):
    prompt: str
    history: list[Any] = []


def make_app(agent_ref: str) -> FastAPI:
    agent = load_agent(agent_ref)
    app = FastAPI()

    @app.post('/run')
    async def run(req: RunRequest) -> dict[str, Any]:
        history = ModelMessagesTypeAdapter.validate_python(req.history) if req.history else None
        result = await agent.run(req.prompt, message_history=history)
        return {'output': result.output, 'messages': to_jsonable_python(result.new_messages())}

    @app.get('/health')
    async def health() -> dict[str, bool]:
        return {'ok': True}

    return app


def app_from_env() -> FastAPI:
    """App factory for ``--workers N > 1`` (uvicorn then needs an import string)."""
    return make_app(os.environ['BENCH_AGENT_REF'])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--agent', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--workers', type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        uvicorn.run(make_app(args.agent), host='127.0.0.1', port=args.port, log_level='info', access_log=False)
        return
    os.environ['BENCH_AGENT_REF'] = args.agent
    uvicorn.run(
        'http_server:app_from_env', factory=True, workers=args.workers, app_dir=str(Path(__file__).resolve().parent),
        host='127.0.0.1', port=args.port, log_level='info', access_log=False,
    )


if __name__ == '__main__':
    main()
