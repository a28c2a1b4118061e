"""The agent of ``bench/provider.ts``: a pydantic-ai ``Agent`` on the real provider path
(``OpenAIChatModel`` → openai SDK → httpx → HTTP) pointed at the bench's loopback
OpenAI-compatible server (``BENCH_OPENAI_BASE_URL``). No tools, no instructions: one model
request per turn, so a turn's cost is pydantic-ai + the SDK + httpx + the hop to the server.

The same module is imported by the in-process floor (``bench/provider/inproc.py``) and by the
Synapse workers (``spawnAgent({ agent: 'bench/provider/agent.py:agent' })``).

Env ``BENCH_PROFILE_DIR``, ``BENCH_DIAG_DIR``: see below.
"""

from __future__ import annotations

import os

if os.environ.get('BENCH_PROFILE_DIR'):
    # Profiling knob of bench/provider.ts: cProfile this process (the thread importing this
    # module, which is the loop's) from import on, dumped to <dir>/<pid>.prof on SIGUSR1 (the
    # bench sends it before stopping a contender: workers leave through os._exit, without
    # atexit) or at a normal exit. Both sides import this module, so the floor and the workers
    # are profiled alike. Never on for reported figures.
    import atexit
    import cProfile
    import signal

    _profile = cProfile.Profile()
    _dumped = False

    def _dump(*_: object) -> None:
        global _dumped
        if not _dumped:
            _dumped = True
            _profile.dump_stats(os.path.join(os.environ['BENCH_PROFILE_DIR'], f'{os.getpid()}.prof'))

    signal.signal(signal.SIGUSR1, _dump)
    atexit.register(_dump)
    _profile.enable()

if os.environ.get('BENCH_DIAG_DIR'):
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import diag

    diag.install(os.environ['BENCH_DIAG_DIR'])

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

model = OpenAIChatModel(
    'gpt-4o-mini',
    provider=OpenAIProvider(base_url=os.environ['BENCH_OPENAI_BASE_URL'], api_key='sk-bench-loopback'),
)
agent = Agent(model, name='provider-bench')
